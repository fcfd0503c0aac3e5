package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// TestRunCgroupFlag: rules with `hook cgroup egress` and no path, in HCL,
// attach to the cgroup given with --cgroup, here relative to the cgroup v2
// root. A process in that cgroup and one outside it send the same datagram
// to loopback: only the first's is an event, with its pid, name and cgroup
// id. When hdrlog stops, nothing is left attached to the cgroup.
func TestRunCgroupFlag(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("no /usr/bin/python3 (make test-deps installs it)")
		}
		t.Skip("no /usr/bin/python3")
	}
	root, err := runtime.CgroupRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	const port = 7231
	rules := writeFile(t, t.TempDir(), "cg.hcl", fmt.Sprintf(`rule "cg_flag" {
  hook  = "cgroup egress"
  match = "udp.dstport == %d"
  log   = ["proc.pid", "proc.name", "cgroup.id", "ip.dst", "udp.dstport"]
}
`, port))
	r := startRunHere(t, "--poll-interval", "5ms", "--cgroup", filepath.Base(dir), rules)
	if in, eg := cgroupAttached(t, dir); in != 0 || eg != 1 {
		t.Fatalf("attached at --cgroup %s: %d ingress, %d egress programs; want 0 and 1", filepath.Base(dir), in, eg)
	}
	send := func(inCgroup bool, name string) int {
		cmd := exec.Command("/usr/bin/python3", "-c", fmt.Sprintf(`import socket
open('/proc/self/comm', 'w').write(%q)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hello", ("127.0.0.1", %d))`, name, port))
		if inCgroup {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return cmd.ProcessState.Pid()
	}
	outside := send(false, "hl_outside")
	inside := send(true, "hl_inside")
	deadline := time.Now().Add(10 * time.Second)
	for len(find(r.lines(t), "cg_flag")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Stop first: every event is written by then.
	r.cmd.Process.Signal(os.Interrupt)
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Errorf("hdrlog run: %v\n%s", st, r.errOut)
	}
	evs := find(r.lines(t), "cg_flag")
	if len(evs) != 1 {
		t.Fatalf("%d events, want hl_inside's one (pid %d; hl_outside is pid %d):\n%s\n%s", len(evs), inside, outside, r.out, r.errOut)
	}
	want := map[string]any{"proc.pid": inside, "proc.name": "hl_inside", "cgroup.id": st.Ino, "ip.dst": "127.0.0.1", "udp.dstport": port, "hook": "cgroup egress"}
	for k, v := range want {
		if fmt.Sprint(evs[0][k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v (event %v)", k, evs[0][k], v, evs[0])
		}
	}
	if in, eg := cgroupAttached(t, dir); in != 0 || eg != 0 {
		t.Errorf("after hdrlog stopped: %d ingress, %d egress programs still attached to the cgroup", in, eg)
	}
}
