package runtime_test

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/runtime"
)

// TestSyscallExecveOpenatLive: a shell the test starts (with a password
// among its arguments) writes a file and a cat fails to open another; the
// execve event carries the file name, the arguments with the password
// redacted and the shell's pid; the openat events the file names, the
// flags (O_WRONLY|O_CREAT|O_TRUNC) and the results (ENOENT for the
// missing file).
func TestSyscallExecveOpenatLive(t *testing.T) {
	haveTool(t, "/bin/sh")
	haveTool(t, "cat")
	// Relative names (the shell runs in the test's directory): fd.name is
	// the name as the call was given it.
	dir := t.TempDir()
	out, missing := "hl_out", "hl_missing"
	c := loadDSL(t, fmt.Sprintf(`rule shells {
    hook syscall execve
    match evt.arg.filename == "/bin/sh" && proc.name == "sh"
    log proc.pid, proc.name, evt.arg.filename, proc.args, evt.res
}
rule opens {
    hook syscall openat
    match fd.name == %q || fd.name == %q
    log proc.pid, proc.name, fd.name, evt.arg.flags, evt.res, evt.failed
}
rule writes {
    hook syscall openat
    match evt.arg.flags & 0x1 && fd.name == %q
    log proc.pid
}`, out, missing, out), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	script := fmt.Sprintf("echo x > %s; cat %s 2>/dev/null; true", out, missing)
	cmd := exec.Command("/bin/sh", "-c", script, "sh0", "--password=hunter2", "--port", "5432")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s", err, b)
	}
	pid := cmd.ProcessState.Pid()
	// More arguments than an event keeps: cut short, and said so.
	long := exec.Command("/bin/sh", "-c", "true", "a", "b", "c", "d", "e", "f", "g", "h", "i")
	if b, err := long.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s", err, b)
	}
	objs := s.waitFor(t, "the execve and openat events", 5*time.Second, func(o []map[string]any) bool {
		return len(matching(byRule(o, "shells"), map[string]any{"proc.pid": long.ProcessState.Pid()})) == 1 &&
			len(byRule(o, "opens")) >= 2 && len(byRule(o, "writes")) >= 1
	})
	sh := matching(byRule(objs, "shells"), map[string]any{"proc.pid": pid})
	if len(sh) != 1 {
		t.Fatalf("execve events of pid %d: %v", pid, byRule(objs, "shells"))
	}
	assertFields(t, sh[0], map[string]any{"proc.name": "sh", "evt.arg.filename": "/bin/sh", "evt.res": "SUCCESS",
		"proc.args": "-c " + script + " sh0 --password=[redacted] --port 5432"})
	if _, cut := sh[0]["proc.args.truncated"]; cut {
		t.Errorf("proc.args cut short: %v", sh[0])
	}
	cut := matching(byRule(objs, "shells"), map[string]any{"proc.pid": long.ProcessState.Pid()})[0]
	assertFields(t, cut, map[string]any{"proc.args": "-c true a b c d e f", "proc.args.truncated": true})
	wrote := matching(byRule(objs, "opens"), map[string]any{"fd.name": out})
	if len(wrote) != 1 {
		t.Fatalf("openat events of %s: %v", out, byRule(objs, "opens"))
	}
	// O_WRONLY|O_CREAT|O_TRUNC, by the shell itself.
	assertFields(t, wrote[0], map[string]any{"proc.pid": pid, "proc.name": "sh", "evt.arg.flags": "0x00000241", "evt.res": "SUCCESS", "evt.failed": false})
	failed := matching(byRule(objs, "opens"), map[string]any{"fd.name": missing})
	if len(failed) != 1 {
		t.Fatalf("openat events of %s: %v", missing, byRule(objs, "opens"))
	}
	assertFields(t, failed[0], map[string]any{"proc.name": "cat", "evt.res": "ENOENT", "evt.failed": true})
	assertFields(t, byRule(objs, "writes")[0], map[string]any{"proc.pid": pid})
}
