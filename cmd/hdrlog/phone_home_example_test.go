package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// phoneHomeClient names itself hl_phone and calls home: connect(2) to
// 192.0.2.1 and 2001:db8::1, sendto(2) to 192.0.2.1, and connect(2) to
// 10.1.2.3 (a private address, which the example leaves out), all on the
// port given; it prints each call's result as the errno's name (SUCCESS
// for none). It runs in a network namespace of its own where nothing is
// up: the calls fail at once and no packet leaves.
const phoneHomeClient = `
import errno, socket, sys
open("/proc/self/comm", "w").write("hl_phone")
port = int(sys.argv[1])
def name(n): return errno.errorcode[n] if n else "SUCCESS"
out = []
for fam, addr in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"), (socket.AF_INET, "10.1.2.3")):
    out.append(name(socket.socket(fam).connect_ex((addr, port))))
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", port))
    out.append("SUCCESS")
except OSError as e:
    out.append(name(e.errno))
print(" ".join(out))
`

// TestRunPhoneHomeExample runs examples/rules/phone_home.rules as it is:
// a process in a cgroup named as docker names a container's calls home
// over IPv4 and IPv6, with connect and sendto; each call is an event
// naming the process (pid, name, uid), its cgroup and its container, the
// address and port it called and the result the process itself saw. Its
// connect to a private address is no event.
func TestRunPhoneHomeExample(t *testing.T) {
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
	parent, err := os.MkdirTemp(root, "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	const container = "4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	dir := filepath.Join(parent, "docker-"+container+".scope")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The client has exited: the cgroups are empty and can go.
		for _, d := range []string{dir, parent} {
			for i := 0; i < 50 && os.Remove(d) != nil; i++ {
				time.Sleep(20 * time.Millisecond)
			}
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

	r := startRunHere(t, "--poll-interval", "5ms", filepath.Join(repoRoot, "examples", "rules", "phone_home.rules"))

	const port = 4443
	cmd := exec.Command("/usr/bin/python3", "-c", phoneHomeClient, fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	pid := fmt.Sprint(cmd.ProcessState.Pid())
	res := strings.Fields(string(out))
	if len(res) != 4 || res[0] == "SUCCESS" || res[1] == "SUCCESS" {
		t.Fatalf("client printed %q, want four results, the calls home failing in an empty namespace", out)
	}

	mine := func(rule string) []map[string]any {
		var evs []map[string]any
		for _, ev := range find(r.lines(t), rule) {
			if fmt.Sprint(ev["proc.pid"]) == pid {
				evs = append(evs, ev)
			}
		}
		return evs
	}
	deadline := time.Now().Add(10 * time.Second)
	for (len(mine("phone_home")) == 0 || len(mine("phone_home6")) == 0 || len(mine("phone_home_udp")) == 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	common := map[string]any{"proc.name": "hl_phone", "user.uid": 0, "cgroup.id": st.Ino, "container.id": container[:12], "fd.sport": port, "iface": nil}
	for _, c := range []struct {
		rule string
		want map[string]any
	}{
		{"phone_home", map[string]any{"hook": "syscall connect", "fd.sip": "192.0.2.1", "evt.res": res[0]}},
		{"phone_home6", map[string]any{"hook": "syscall connect", "fd.sip6": "2001:db8::1", "evt.res": res[1]}},
		{"phone_home_udp", map[string]any{"hook": "syscall sendto", "fd.sip": "192.0.2.1", "evt.res": res[3]}},
	} {
		evs := mine(c.rule)
		if len(evs) != 1 {
			t.Errorf("%s: %d events of the client (pid %s), want 1:\n%s\n%s", c.rule, len(evs), pid, r.out, r.errOut)
			continue
		}
		for k, v := range common {
			c.want[k] = v
		}
		for k, v := range c.want {
			if fmt.Sprint(evs[0][k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v (event %v)", c.rule, k, evs[0][k], v, evs[0])
			}
		}
	}
	// The private address (the third call) is no event: phone_home's one
	// event of the client is the public address's.
	for _, ev := range mine("phone_home") {
		if ev["fd.sip"] == "10.1.2.3" {
			t.Errorf("a connect to a private address logged: %v", ev)
		}
	}
}
