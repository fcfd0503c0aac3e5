package runtime_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

const syscallRules = `
rule sys_connect {
    hook syscall connect
    match fd.sport == %d || fd.sport == %d
    log evt.type, proc.pid, proc.tid, proc.name, user.uid, fd.sip, fd.sip6, fd.sport, evt.res, evt.rawres, evt.failed
}
rule sys_connect_nc {
    hook syscall connect
    match proc.name == "nc" && fd.sport == %d
    log proc.pid, proc.name, fd.sip, fd.sport, evt.res
}
rule sys_connect_ok {
    hook syscall connect
    match evt.failed == 0 && fd.sport == %d
    log proc.pid
}
rule sys_bind {
    hook syscall bind
    match fd.sport == %d
    log evt.type, proc.pid, proc.name, fd.sip, fd.sport, evt.res
}
`

// acceptingPort returns a loopback port whose listener accepts and closes
// every connection until the test ends.
func acceptingPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// attachSyscalls attaches c's system-call programs for the test.
func attachSyscalls(t *testing.T, c *runtime.Collection) {
	t.Helper()
	as, err := c.AttachSyscalls()
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if len(as) == 0 {
		t.Fatal("no system-call program attached")
	}
	t.Cleanup(func() {
		if err := as.Close(); err != nil {
			t.Errorf("detach: %v", err)
		}
	})
}

// TestSyscallConnectLive runs real programs that connect (to a listener on
// loopback, to a closed port, over IPv6) and bind, and checks each event
// against what the test knows: the child's pid, its name, the address, the
// port and the result.
func TestSyscallConnectLive(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	haveTool(t, "nc")
	open := acceptingPort(t)
	closed := freePort(t)
	bindPort := freePort(t)
	c := loadDSL(t, fmt.Sprintf(syscallRules, open, closed, open, open, bindPort), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})

	run := func(name string, args ...string) int {
		cmd := exec.Command(name, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return cmd.ProcessState.Pid()
	}
	py := func(code string) int { return run("/usr/bin/python3", "-c", code) }
	pyOK := py(fmt.Sprintf(`import socket; s=socket.socket(); s.connect(("127.0.0.1", %d))`, open))
	pyRefused := py(fmt.Sprintf(`import socket, errno
s = socket.socket()
assert s.connect_ex(("127.0.0.1", %d)) == errno.ECONNREFUSED`, closed))
	py6 := py(fmt.Sprintf(`import socket, errno
s = socket.socket(socket.AF_INET6)
assert s.connect_ex(("::1", %d)) in (errno.ECONNREFUSED, errno.EADDRNOTAVAIL, errno.ENETUNREACH)`, closed))
	pyBind := py(fmt.Sprintf(`import socket; s=socket.socket(); s.bind(("127.0.0.1", %d))`, bindPort))
	ncPid := run("nc", "-z", "127.0.0.1", strconv.Itoa(open))

	objs := s.waitFor(t, "five system-call events", 5*time.Second, func(o []map[string]any) bool {
		return len(byRule(o, "sys_connect")) >= 4 && len(byRule(o, "sys_connect_ok")) >= 1 && len(byRule(o, "sys_bind")) >= 1 && len(byRule(o, "sys_connect_nc")) >= 1
	})
	one := func(rule string, pid int) map[string]any {
		evs := matching(byRule(objs, rule), map[string]any{"proc.pid": pid})
		if len(evs) != 1 {
			t.Fatalf("rule %s: %d events of pid %d, want 1; all:\n%s", rule, len(evs), pid, s.sink.String())
		}
		return evs[0]
	}
	uid := os.Getuid()
	assertFields(t, one("sys_connect", pyOK), map[string]any{
		"evt.type": "connect", "proc.tid": pyOK, "proc.name": "python3", "user.uid": uid,
		"fd.sip": "127.0.0.1", "fd.sip6": nil, "fd.sport": open, "evt.res": "SUCCESS", "evt.rawres": 0, "evt.failed": false,
	})
	assertFields(t, one("sys_connect", pyRefused), map[string]any{
		"proc.name": "python3", "fd.sip": "127.0.0.1", "fd.sport": closed,
		"evt.res": "ECONNREFUSED", "evt.rawres": -111, "evt.failed": true,
	})
	ev6 := one("sys_connect", py6)
	assertFields(t, ev6, map[string]any{"fd.sip": nil, "fd.sip6": "::1", "fd.sport": closed, "evt.failed": true})
	assertFields(t, one("sys_bind", pyBind), map[string]any{
		"evt.type": "bind", "proc.name": "python3", "fd.sip": "127.0.0.1", "fd.sport": bindPort, "evt.res": "SUCCESS",
	})
	// The name filter: nc's connect only (non-blocking: EINPROGRESS).
	nc := byRule(objs, "sys_connect_nc")
	if len(nc) != 1 {
		t.Fatalf("sys_connect_nc: %d events, want nc's one:\n%s", len(nc), s.sink.String())
	}
	assertFields(t, nc[0], map[string]any{"proc.pid": ncPid, "proc.name": "nc", "fd.sip": "127.0.0.1", "fd.sport": open, "evt.res": "EINPROGRESS"})
	// evt.failed: python's connect to the listener succeeded, nc's did not.
	if ok := byRule(objs, "sys_connect_ok"); len(ok) != 1 || fmt.Sprint(ok[0]["proc.pid"]) != strconv.Itoa(pyOK) {
		t.Errorf("sys_connect_ok: %v, want python's connect (pid %d) only", ok, pyOK)
	}
	for _, ev := range objs {
		if ev["iface"] != nil {
			t.Errorf("system-call event with an interface: %v", ev)
		}
	}
	for _, ev := range byRule(objs, "sys_connect") {
		if p := fmt.Sprint(ev["proc.pid"]); p != strconv.Itoa(pyOK) && p != strconv.Itoa(pyRefused) && p != strconv.Itoa(py6) && p != strconv.Itoa(ncPid) {
			t.Errorf("sys_connect event of a process the test did not start: %v", ev)
		}
	}
	if st := s.stop(t); st.TotalLost() != 0 {
		t.Errorf("lost %d events", st.TotalLost())
	}
}

// TestSyscallConnectStrace compares the connect events of a python child
// with what strace, an independent tracer, saw it do.
func TestSyscallConnectStrace(t *testing.T) {
	haveTool(t, "strace")
	haveTool(t, "/usr/bin/python3")
	closed := freePort(t)
	c := loadDSL(t, fmt.Sprintf(`rule c {
    hook syscall connect
    match fd.sport == %d
    log proc.pid, fd.sip, fd.sport, evt.rawres
}`, closed), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	trace := t.TempDir() + "/trace"
	code := fmt.Sprintf(`import socket
for i in range(3):
    socket.socket().connect_ex(("127.0.0.1", %d))`, closed)
	if out, err := exec.Command("strace", "-f", "-qq", "-e", "trace=connect", "-o", trace, "/usr/bin/python3", "-c", code).CombinedOutput(); err != nil {
		t.Fatalf("strace: %v\n%s", err, out)
	}
	text, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// 1234  connect(3, {sa_family=AF_INET, sin_port=htons(5), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)
	re := regexp.MustCompile(`(?m)^(\d+) +connect\(\d+, \{sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([0-9.]+)"\)\}, 16\) = (-?\d+)`)
	var want []string
	for _, m := range re.FindAllStringSubmatch(string(text), -1) {
		ret, _ := strconv.Atoi(m[4])
		if ret == -1 {
			ret = -111 // strace shows -1 and the errno's name: ECONNREFUSED here
			if !strings.Contains(string(text), "ECONNREFUSED") {
				t.Fatalf("strace saw another error:\n%s", text)
			}
		}
		want = append(want, fmt.Sprintf("%s %s %s %d", m[1], m[3], m[2], ret))
	}
	if len(want) != 3 {
		t.Fatalf("strace saw %d connects, want 3:\n%s", len(want), text)
	}
	objs := s.waitFor(t, "three connect events", 5*time.Second, func(o []map[string]any) bool { return len(o) >= 3 })
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%v %v %v %v", o["proc.pid"], o["fd.sip"], o["fd.sport"], o["evt.rawres"]))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nstrace:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// cgroupRoot is where the cgroup v2 hierarchy is mounted here (a hybrid
// layout), or on a v2-only system.
func cgroupRoot(t *testing.T) string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(p + "/cgroup.procs"); err == nil {
			return p
		}
	}
	if kerneltest.InCI() {
		t.Fatal("no cgroup v2 hierarchy (cgroup.procs under /sys/fs/cgroup or /sys/fs/cgroup/unified)")
	}
	t.Skip("no cgroup v2 hierarchy")
	return ""
}

// TestSyscallCgroupID starts a child in a cgroup of its own (clone into
// the cgroup, so it is never anywhere else) and checks that its connect
// event carries that cgroup's id: the inode number of its directory.
func TestSyscallCgroupID(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	dir, err := os.MkdirTemp(cgroupRoot(t), "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	closed := freePort(t)
	c := loadDSL(t, fmt.Sprintf(`rule c {
    hook syscall connect
    match fd.sport == %d
    log proc.pid, cgroup.id
}`, closed), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	pids := map[string]bool{}
	for _, own := range []bool{true, false} {
		cmd := exec.Command("/usr/bin/python3", "-c", fmt.Sprintf(`import socket; socket.socket().connect_ex(("127.0.0.1", %d))`, closed))
		if own {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		pids[strconv.Itoa(cmd.ProcessState.Pid())] = own
	}
	objs := s.waitFor(t, "two connect events", 5*time.Second, func(o []map[string]any) bool { return len(o) >= 2 })
	for _, o := range objs {
		pid := fmt.Sprint(o["proc.pid"])
		own, ok := pids[pid]
		if !ok {
			t.Errorf("event of a process the test did not start: %v", o)
			continue
		}
		// JSON numbers decode as float64: compare the text of the line.
		got := fmt.Sprintf("%.0f", o["cgroup.id"])
		if want := strconv.FormatUint(st.Ino, 10); (got == want) != own {
			t.Errorf("pid %s (own cgroup: %v): cgroup.id %s, the test's cgroup is %s", pid, own, got, want)
		}
	}
}

// TestSyscallListenAcceptLive: a python server listens and accepts a
// client of its own; the accept4 event carries the client's address and
// port as the client saw them (getsockname), the listen event the pid.
func TestSyscallListenAcceptLive(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	c := loadDSL(t, `rule listens {
    hook syscall listen
    match proc.name == "python3"
    log proc.pid, evt.res
}
rule accepts {
    hook syscall accept4
    match proc.name == "python3" && fd.cip == 127.0.0.1
    log proc.pid, fd.cip, fd.cport, evt.res, evt.failed
}`, 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	cmd := exec.Command("/usr/bin/python3", "-c", `import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.socket(); cli.connect(srv.getsockname())
conn, peer = srv.accept()
assert peer == cli.getsockname()
print(cli.getsockname()[1])`)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	pid := cmd.ProcessState.Pid()
	cport := strings.TrimSpace(string(out))
	objs := s.waitFor(t, "listen and accept4 events", 5*time.Second, func(o []map[string]any) bool {
		return len(matching(byRule(o, "listens"), map[string]any{"proc.pid": pid})) == 1 &&
			len(matching(byRule(o, "accepts"), map[string]any{"proc.pid": pid})) == 1
	})
	assertFields(t, matching(byRule(objs, "accepts"), map[string]any{"proc.pid": pid})[0], map[string]any{
		"fd.cip": "127.0.0.1", "fd.cport": cport, "evt.res": "SUCCESS", "evt.failed": false,
	})
	assertFields(t, matching(byRule(objs, "listens"), map[string]any{"proc.pid": pid})[0], map[string]any{"evt.res": "SUCCESS"})
}

// TestSyscallCommSetLive: a set of command names (proc.name in {…} of 40
// names, a hash map keyed by the kernel's zero-padded name) holds for the
// programs named in it and not for the others, live.
func TestSyscallCommSetLive(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	haveTool(t, "nc")
	open := acceptingPort(t)
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("%q", fmt.Sprintf("tool-%d", i)))
	}
	names = append(names, `"nc"`, `"python"`, `"python33"`)
	src := fmt.Sprintf(`
rule listed {
    hook syscall connect
    match proc.name in {%s} && fd.sport == %d
    log proc.pid, proc.name
}
rule unlisted {
    hook syscall connect
    match !(proc.name in {%[1]s}) && fd.sport == %d
    log proc.pid, proc.name
}
`, strings.Join(names, ", "), open, open)
	c := loadDSL(t, src, 1<<20)
	if n := len(c.Output.Sets); n != 1 || c.Output.Sets[0].KeySize != 16 {
		t.Fatalf("want one set map of 16-byte keys, got %d maps", n)
	}
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	run := func(name string, args ...string) int {
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return cmd.ProcessState.Pid()
	}
	ncPid := run("nc", "-z", "127.0.0.1", strconv.Itoa(open))
	pyPid := run("/usr/bin/python3", "-c", fmt.Sprintf(`import socket; s=socket.socket(); s.connect(("127.0.0.1", %d))`, open))
	s.waitFor(t, "both connects", 5*time.Second, func(o []map[string]any) bool {
		return len(byRule(o, "listed")) >= 1 && len(byRule(o, "unlisted")) >= 1
	})
	time.Sleep(100 * time.Millisecond)
	objs := s.sink.objects(t)
	if got := byRule(objs, "listed"); len(got) != 1 || got[0]["proc.pid"] != float64(ncPid) || got[0]["proc.name"] != "nc" {
		t.Errorf("listed: %v, want one event of nc (pid %d)", got, ncPid)
	}
	if got := byRule(objs, "unlisted"); len(got) != 1 || got[0]["proc.pid"] != float64(pyPid) || got[0]["proc.name"] != "python3" {
		t.Errorf("unlisted: %v, want one event of python3 (pid %d)", got, pyPid)
	}
}
