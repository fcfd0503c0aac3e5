package runtime_test

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// testCgroup makes a cgroup v2 of its own for the test's processes and
// returns an open descriptor of it (for clone into it) and its id.
func testCgroup(t *testing.T, child string) (*os.File, uint64) {
	t.Helper()
	dir, err := os.MkdirTemp(cgroupRoot(t), "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	if child != "" {
		// A cgroup named as a container runtime names them.
		parent := dir
		dir = filepath.Join(parent, child)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for i := 0; i < 50 && os.Remove(parent) != nil; i++ {
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		// The processes are gone when the test's cleanups run; a cgroup
		// with none left can be removed.
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return f, st.Ino
}

// startTracker starts the socket hooks of the process fields for the test.
func startTracker(t *testing.T) *runtime.ProcTracker {
	t.Helper()
	kerneltest.Require(t)
	tr, err := runtime.StartProcTracker()
	if err != nil {
		t.Fatalf("socket hooks: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("detach the socket hooks: %v", err)
		}
	})
	return tr
}

// loadWithProc compiles and loads rules that read the tracker's map.
func loadWithProc(t *testing.T, src string, tr *runtime.ProcTracker) *runtime.Collection {
	t.Helper()
	c, err := runtime.Load(compileDSL(t, src, compiler.Options{}), runtime.LoadOptions{RingBytes: 1 << 20, Proc: tr.Map})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// python is a python3 child in namespace ns of p, in cgroup cg (nil: the
// test's), named comm (its /proc/self/comm, which proc.name shows). It
// prints "ready" once its sockets are set up; startPython waits for it.
type python struct {
	cmd *exec.Cmd
	out *bufio.Reader
	pid int
}

func startPython(t *testing.T, p *netns.Pair, ns string, cg *os.File, comm, script string) *python {
	t.Helper()
	return startPythonPid(t, p, ns, cg, comm, script, 0)
}

// pidLauncher runs a program (argv[2:]) as a process with the pid argv[1]:
// clone3 with set_tid (root may ask for a pid that is free), then execv;
// it waits for it and exits with its status. A test forces pid reuse so,
// without racing the rest of the machine for the next pid.
const pidLauncher = `import ctypes, os, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
tid = (ctypes.c_int * 1)(pid)
# struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal (SIGCHLD),
# stack, stack_size, tls, set_tid, set_tid_size, cgroup
args = (ctypes.c_uint64 * 11)(0, 0, 0, 0, 17, 0, 0, 0, ctypes.addressof(tid), 1, 0)
r = libc.syscall(ctypes.c_long(435), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
if r == 0:
    os.execv(sys.argv[2], sys.argv[2:])
if r < 0:
    sys.stderr.write("clone3 with pid %d: %s\n" % (pid, os.strerror(ctypes.get_errno())))
    sys.exit(111)
_, status = os.waitpid(r, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`

// withPid is the command line that runs argv as a process with the given
// pid (pidLauncher); argv unchanged for pid 0.
func withPid(pid int, argv ...string) []string {
	if pid == 0 {
		return argv
	}
	return append([]string{"/usr/bin/python3", "-c", pidLauncher, strconv.Itoa(pid)}, argv...)
}

// startPythonPid is startPython with the child's pid chosen (0: any).
func startPythonPid(t *testing.T, p *netns.Pair, ns string, cg *os.File, comm, script string, pid int) *python {
	t.Helper()
	code := fmt.Sprintf("open('/proc/self/comm', 'w').write(%q)\n%s", comm, script)
	argv := withPid(pid, "/usr/bin/python3", "-u", "-c", code)
	cmd, err := p.Command(ns, argv[0], argv[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	if cg != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	py := &python{cmd: cmd, out: bufio.NewReader(stdout), pid: cmd.Process.Pid}
	if pid != 0 {
		py.pid = pid
	}
	py.expect(t, "ready")
	return py
}

// expect reads the child's next line and checks it.
func (py *python) expect(t *testing.T, want string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		line, _ := py.out.ReadString('\n')
		done <- strings.TrimSpace(line)
	}()
	select {
	case got := <-done:
		if got != want {
			t.Fatalf("python (pid %d) said %q, want %q", py.pid, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("python (pid %d) did not say %q within 10 s", py.pid, want)
	}
}

// wait waits for the child's exit.
func (py *python) wait(t *testing.T) {
	t.Helper()
	io.Copy(io.Discard, py.out)
	if err := py.cmd.Wait(); err != nil {
		t.Fatalf("python (pid %d): %v", py.pid, err)
	}
}

// TestProcFieldsLive: processes with known pids, names and cgroups talk TCP
// and UDP across a veth pair; the programs at tc ingress and egress of B's
// end attribute each packet to the process of B that owns its socket. A
// server (hl_srv, in a cgroup of its own) accepts a connection and answers
// a datagram; curl (in another cgroup) fetches a page from A. Then the
// server exits: a datagram to its old port has no process; a new process
// (hl_new, in curl's cgroup) binds the port with the old pid (the test
// asks the kernel for it: clone3's set_tid), and the next datagram is its
// own: the same pid, the new name and cgroup, nothing of the old record.
func TestProcFieldsLive(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	haveTool(t, "curl")
	tr := startTracker(t)
	srvCg, srvCgID := testCgroup(t, "")
	const container = "9d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e"
	cliCg, cliCgID := testCgroup(t, "docker-"+container+".scope")
	const tcpPort, udpPort, httpPort = 7101, 7102, 7103
	c := loadWithProc(t, fmt.Sprintf(`
rule srv_in {
    hook tc ingress
    match tcp.dstport == %[1]d || udp.dstport == %[2]d
    log proc.pid, proc.tid, proc.name, user.uid, cgroup.id, container.id, tcp.flags, tcp.len, udp.dstport
}
rule srv_out {
    hook tc egress
    match tcp.srcport == %[1]d || udp.srcport == %[2]d
    log proc.pid, proc.name, cgroup.id, tcp.flags, tcp.len, udp.srcport
}
rule cli_out {
    hook tc egress
    match tcp.dstport == %[3]d
    log proc.pid, proc.name, cgroup.id, container.id
}
rule cli_in {
    hook tc ingress
    match tcp.srcport == %[3]d && proc.name == "curl"
    log proc.pid, proc.name, cgroup.id
}
rule cg_match {
    hook tc ingress
    match cgroup.id in {%[5]d, %[4]d} && cgroup.id != %[5]d && cgroup.id < 4294967296
    log proc.pid, cgroup.id
}
rule cg_never {
    hook tc ingress
    match cgroup.id == %[5]d || cgroup.id >= 4294967296
    log proc.pid, cgroup.id
}`, tcpPort, udpPort, httpPort, srvCgID, srvCgID|1<<32), tr)
	p := netns.NewPair(t)
	attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{})

	addrB := p.AddrB.String()
	srv := startPython(t, p, "B", srvCg, "hl_srv", fmt.Sprintf(`import socket
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((%[1]q, %[2]d)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((%[1]q, %[3]d))
print("ready")
conn, _ = t.accept(); conn.sendall(conn.recv(100).upper()); conn.close()
data, peer = u.recvfrom(100); u.sendto(data.upper(), peer)
print("done")`, addrB, tcpPort, udpPort))
	cli, err := p.Command("A", "/usr/bin/python3", "-c", fmt.Sprintf(`import socket
t = socket.create_connection((%[1]q, %[2]d), timeout=10); t.sendall(b"ping"); assert t.recv(100) == b"PING"; t.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(10); u.sendto(b"ping", (%[1]q, %[3]d)); assert u.recv(100) == b"PING"`, addrB, tcpPort, udpPort))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("client in A: %v\n%s", err, out)
	}
	srv.expect(t, "done")
	srv.wait(t)

	web, err := p.Start("A", "/usr/bin/python3", "-m", "http.server", "--bind", p.AddrA.String(), strconv.Itoa(httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer web.Process.Kill()
	curl, err := p.Command("B", "curl", "-sS", "-o", "/dev/null", "--retry", "20", "--retry-connrefused", "--retry-delay", "1",
		"http://"+netip.AddrPortFrom(p.AddrA, httpPort).String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	curl.SysProcAttr.UseCgroupFD, curl.SysProcAttr.CgroupFD = true, int(cliCg.Fd())
	if out, err := curl.CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	curlPid := curl.ProcessState.Pid()

	objs := s.waitFor(t, "the server's and curl's packets", 10*time.Second, func(o []map[string]any) bool {
		return len(byRule(o, "cli_in")) > 0 && len(byRule(o, "cli_out")) > 0 &&
			len(matching(byRule(o, "srv_out"), map[string]any{"udp.srcport": udpPort})) > 0
	})
	srvFields := map[string]any{"proc.pid": srv.pid, "proc.name": "hl_srv", "cgroup.id": srvCgID}
	for _, want := range []struct {
		rule string
		what string
		sel  map[string]any
	}{
		{"srv_in", "the SYN (found: the listener)", map[string]any{"tcp.flags": "0x0002"}},
		{"srv_in", "the request (the accepted socket: a copy of the listener's)", map[string]any{"tcp.len": 4}},
		{"srv_in", "the datagram", map[string]any{"udp.dstport": udpPort}},
		{"srv_out", "the SYN-ACK (a request socket: its listener)", map[string]any{"tcp.flags": "0x0012"}},
		{"srv_out", "the answer", map[string]any{"tcp.len": 4}},
		{"srv_out", "the datagram's answer", map[string]any{"udp.srcport": udpPort}},
	} {
		evs := matching(byRule(objs, want.rule), want.sel)
		if len(evs) == 0 {
			t.Errorf("%s: no event of %s; its events: %v", want.rule, want.what, byRule(objs, want.rule))
			continue
		}
		for _, ev := range evs {
			assertFields(t, ev, srvFields)
		}
	}
	for _, ev := range byRule(objs, "srv_in") {
		if ev["proc.pid"] != nil {
			assertFields(t, ev, map[string]any{"proc.pid": srv.pid, "proc.tid": srv.pid, "user.uid": 0, "container.id": "host"})
		}
	}
	for _, ev := range byRule(objs, "cli_out") {
		// container.id: from the cgroup's path, named as docker names it.
		assertFields(t, ev, map[string]any{"container.id": container[:12]})
	}
	// 64-bit compares: the id matches, the id plus 2^32 never does.
	if len(byRule(objs, "cg_match")) == 0 {
		t.Errorf("cg_match: no event for cgroup.id %d", srvCgID)
	}
	for _, ev := range byRule(objs, "cg_match") {
		assertFields(t, ev, map[string]any{"proc.pid": srv.pid, "cgroup.id": srvCgID})
	}
	if evs := byRule(objs, "cg_never"); len(evs) > 0 {
		t.Errorf("cg_never matched cgroup ids %d and above 2^32: %v", srvCgID|1<<32, evs)
	}
	for _, ev := range append(byRule(objs, "cli_out"), byRule(objs, "cli_in")...) {
		assertFields(t, ev, map[string]any{"proc.pid": curlPid, "proc.name": "curl", "cgroup.id": cliCgID})
	}

	// The server is gone: a datagram to its port has no socket, no process.
	sendUDP := func() {
		t.Helper()
		if out, err := p.Run("A", "/usr/bin/python3", "-c", fmt.Sprintf(`import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"late", (%q, %d))`, addrB, udpPort)); err != nil {
			t.Fatalf("datagram from A: %v\n%s", err, out)
		}
	}
	n := len(matching(byRule(objs, "srv_in"), map[string]any{"udp.dstport": udpPort}))
	sendUDP()
	objs = s.waitFor(t, "the datagram to the closed port", 5*time.Second, func(o []map[string]any) bool {
		return len(matching(byRule(o, "srv_in"), map[string]any{"udp.dstport": udpPort})) > n
	})
	late := matching(byRule(objs, "srv_in"), map[string]any{"udp.dstport": udpPort})
	assertFields(t, late[len(late)-1], map[string]any{"proc.pid": nil, "proc.name": nil, "cgroup.id": nil})

	// A new process on the old port, with the old pid (forced: clone3's
	// set_tid), in another cgroup, under another name.
	next := startPythonPid(t, p, "B", cliCg, "hl_new", fmt.Sprintf(`import socket, os, sys
assert os.getpid() == %d, os.getpid()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((%q, %d))
print("ready"); u.recv(100); print("done")`, srv.pid, addrB, udpPort), srv.pid)
	n = len(late)
	sendUDP()
	next.expect(t, "done")
	next.wait(t)
	objs = s.waitFor(t, "the datagram to the new process", 5*time.Second, func(o []map[string]any) bool {
		return len(matching(byRule(o, "srv_in"), map[string]any{"udp.dstport": udpPort})) > n
	})
	late = matching(byRule(objs, "srv_in"), map[string]any{"udp.dstport": udpPort})
	// The same pid, the new process's name and cgroup: nothing of the
	// old one's record.
	assertFields(t, late[len(late)-1], map[string]any{"proc.pid": srv.pid, "proc.name": "hl_new", "cgroup.id": cliCgID})
}
