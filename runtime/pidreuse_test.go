package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/runtime"
)

// TestSyscallExitAndPidReuse: a process (hl_old, in a cgroup of its own)
// connects, then waits in accept4 and is killed there. Nothing of it stays
// in the map that pairs a call's entry with its exit. A new process
// (hl_new, in another cgroup) with the same pid, forced with clone3's
// set_tid, connects: its event has the old pid and its own name and
// cgroup.
func TestSyscallExitAndPidReuse(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	closed := freePort(t)
	oldCg, oldCgID := testCgroup(t, "")
	newCg, newCgID := testCgroup(t, "")
	c := loadDSL(t, fmt.Sprintf(`
rule con {
    hook syscall connect
    match fd.sport == %d
    log proc.pid, proc.tid, proc.name, cgroup.id, evt.res
}
rule acc {
    hook syscall accept4
    match proc.name == "hl_old" || proc.name == "hl_new"
    log proc.pid, proc.name, evt.rawres
}`, closed), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})

	start := func(pid int, cg *os.File, comm, script string) *exec.Cmd {
		argv := withPid(pid, "/usr/bin/python3", "-c", fmt.Sprintf("open('/proc/self/comm', 'w').write(%q)\n%s", comm, script))
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	old := start(0, oldCg, "hl_old", fmt.Sprintf(`import socket
socket.socket().connect_ex(("127.0.0.1", %d))
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(); l.accept()`, closed))
	pid := old.Process.Pid
	// Wait until it is in accept4 (288 on x86-64), then kill it there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if strings.HasPrefix(string(b), "288 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hl_old (pid %d) is not in accept4 after 10 s: %q", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	key := uint64(pid)<<32 | uint64(pid)
	var v []byte
	if err := c.SyscallArgs().Lookup(key, &v); err != nil {
		t.Errorf("the waiting accept4 of pid %d has no arguments in the map: %v", pid, err)
	}
	if err := old.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = old.Wait()
	// Its call ended with it: its entry is gone.
	if err := c.SyscallArgs().Lookup(key, &v); err == nil {
		t.Errorf("pid %d is dead, and its accept4's arguments are still in the map", pid)
	}

	next := start(pid, newCg, "hl_new", fmt.Sprintf(`import os, socket
assert os.getpid() == %d, os.getpid()
socket.socket().connect_ex(("127.0.0.1", %d))`, pid, closed))
	if err := next.Wait(); err != nil {
		t.Fatalf("hl_new with pid %d: %v", pid, err)
	}
	objs := s.waitFor(t, "both connects", 5*time.Second, func(o []map[string]any) bool { return len(byRule(o, "con")) >= 2 })
	con := byRule(objs, "con")
	if len(con) != 2 {
		t.Fatalf("%d connect events, want 2: %v", len(con), con)
	}
	assertFields(t, con[0], map[string]any{"proc.pid": pid, "proc.tid": pid, "proc.name": "hl_old", "cgroup.id": oldCgID, "evt.res": "ECONNREFUSED"})
	assertFields(t, con[1], map[string]any{"proc.pid": pid, "proc.tid": pid, "proc.name": "hl_new", "cgroup.id": newCgID, "evt.res": "ECONNREFUSED"})
	// The killed accept4 returned (to die): if logged, it is the old one's.
	for _, ev := range byRule(objs, "acc") {
		assertFields(t, ev, map[string]any{"proc.pid": pid, "proc.name": "hl_old"})
		t.Logf("the killed accept4: %v", ev)
	}
}
