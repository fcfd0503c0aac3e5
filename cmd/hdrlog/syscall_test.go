package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// hdrlog run takes rules over system calls without -i, streams their
// events, and detaches on SIGINT; a packet rule still needs -i.
func TestRunSyscallRules(t *testing.T) {
	kerneltest.Require(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("no /usr/bin/python3 (make test-deps installs it)")
		}
		t.Skip("no /usr/bin/python3")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // a closed port: the connect is refused
	dir := t.TempDir()
	rules := writeFile(t, dir, "sys.rules", fmt.Sprintf(`rule refused {
    hook syscall connect
    match fd.sport == %d && evt.failed == 1
    log proc.pid, proc.name, fd.sip, fd.sport, evt.res
}
`, port))
	r := startRunHere(t, rules)
	if !strings.Contains(r.errOut.String(), "sys_exit syscall connect") {
		t.Errorf("stderr does not say what is attached:\n%s", r.errOut)
	}
	// lines returns the lines that have member key, once there are n.
	lines := func(key string, n int) []map[string]any {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var out []map[string]any
			for _, l := range r.lines(t) {
				if _, ok := l[key]; ok {
					out = append(out, l)
				}
			}
			if len(out) >= n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	connect := func(n int) {
		cmd := exec.Command("/usr/bin/python3", "-c", fmt.Sprintf(`import socket; socket.socket().connect_ex(("127.0.0.1", %d))`, port))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		evs := lines("rule", n)
		if len(evs) != n {
			t.Fatalf("%d events, want %d:\n%s\n%s", len(evs), n, r.out, r.errOut)
		}
		want := map[string]any{"proc.pid": cmd.ProcessState.Pid(), "proc.name": "python3", "fd.sip": "127.0.0.1", "fd.sport": port, "evt.res": "ECONNREFUSED", "iface": nil, "hook": "syscall connect"}
		for k, v := range want {
			if fmt.Sprint(evs[n-1][k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v (event %v)", k, evs[n-1][k], v, evs[n-1])
			}
		}
	}
	connect(1)
	// A reload of the same rules: the next call meets them again.
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	if recs := lines("reload", 1); len(recs) != 1 || recs[0]["reload"] != "done" {
		t.Errorf("reload records %v, want one done:\n%s", recs, r.errOut)
	}
	connect(2)
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	if st := r.wait(t); !st.Success() {
		t.Errorf("hdrlog run: %v\n%s", st, r.errOut)
	}

	mixed := writeFile(t, dir, "mixed.rules", `rule pk {
    match tcp
    log tcp.srcport
}
`)
	if code, _, errOut := hdrlog(t, dir, "run", rules, mixed); code != 2 || !strings.Contains(errOut, "-i IFACE") {
		t.Errorf("run with a packet rule and no -i: exit %d, stderr:\n%s", code, errOut)
	}
}

// hdrlog test refuses rules over system calls, naming them.
func TestTestRefusesSyscallRules(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "sys.rules", `rule phone_home {
    hook syscall connect
    log proc.pid, fd.sip
}
`)
	capture := writeFile(t, dir, "empty.pcap", "")
	code, _, errOut := hdrlog(t, dir, "test", "--no-kernel", rules, "--pcap", capture)
	if code == 0 || !strings.Contains(errOut, "phone_home (") || !strings.Contains(errOut, "rules over system calls cannot be replayed") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
