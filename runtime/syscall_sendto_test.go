package runtime_test

import (
	"fmt"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/runtime"
)

// acceptSyscall is accept(2)'s number (not accept4's) where the
// architecture has it: python's socket.accept calls accept4, so the test
// calls accept(2) through libc's syscall(2).
var acceptSyscall = map[string]int{"amd64": 43, "arm64": 202}

// sendtoAcceptClient names itself hl_sendto, accepts a connection of its
// own with accept(2), and sends a datagram with sendto(2) to 127.0.0.1 and
// one to ::1 on the port given (nothing listens there; a datagram is sent
// all the same). It prints the accepted client's port, the accepted
// descriptor and the bytes each sendto returned.
const sendtoAcceptClient = `
import ctypes, socket, sys
open("/proc/self/comm", "w").write("hl_sendto")
nr, port = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.socket(); cli.connect(srv.getsockname())
addr = ctypes.create_string_buffer(16); alen = ctypes.c_uint32(16)
fd = libc.syscall(nr, srv.fileno(), addr, ctypes.byref(alen))
assert fd >= 0, ctypes.get_errno()
n4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hello", ("127.0.0.1", port))
n6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"hello6", ("::1", port))
print(cli.getsockname()[1], fd, n4, n6)
`

// TestSyscallSendtoAcceptLive: hook syscall sendto and hook syscall accept
// (accept(2) itself, not accept4) on a real program's calls. Each sendto
// event carries the destination the program gave (IPv4 or IPv6), its port,
// and the byte count the call returned as evt.rawres; the accept event the
// client's address and port as the program's client saw them, and the
// descriptor accept returned.
func TestSyscallSendtoAcceptLive(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	nr, ok := acceptSyscall[goruntime.GOARCH]
	if !ok {
		t.Skipf("no accept(2) system call number known for %s", goruntime.GOARCH)
	}
	port := freePort(t)
	c := loadDSL(t, fmt.Sprintf(`rule sends {
    hook syscall sendto
    match proc.name == "hl_sendto" && fd.sport == %d
    log evt.type, proc.pid, proc.name, fd.sip, fd.sip6, fd.sport, evt.res, evt.rawres, evt.failed
}
rule accepts {
    hook syscall accept
    match proc.name == "hl_sendto"
    log evt.type, proc.pid, fd.cip, fd.cport, evt.res, evt.rawres
}`, port), 1<<20)
	attachSyscalls(t, c)
	s := startStream(t, c, runtime.StreamOptions{})
	cmd := exec.Command("/usr/bin/python3", "-c", sendtoAcceptClient, fmt.Sprint(nr), fmt.Sprint(port))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	pid := cmd.ProcessState.Pid()
	f := strings.Fields(string(out))
	if len(f) != 4 {
		t.Fatalf("python3 printed %q, want four numbers", out)
	}
	cport, fd, n4, n6 := f[0], f[1], f[2], f[3]
	objs := s.waitFor(t, "two sendto events and an accept event", 5*time.Second, func(o []map[string]any) bool {
		return len(matching(byRule(o, "sends"), map[string]any{"proc.pid": pid})) == 2 &&
			len(matching(byRule(o, "accepts"), map[string]any{"proc.pid": pid})) == 1
	})
	sends := matching(byRule(objs, "sends"), map[string]any{"proc.pid": pid})
	assertFields(t, sends[0], map[string]any{
		"evt.type": "sendto", "proc.name": "hl_sendto", "fd.sip": "127.0.0.1", "fd.sip6": nil, "fd.sport": port,
		"evt.res": "SUCCESS", "evt.rawres": n4, "evt.failed": false,
	})
	assertFields(t, sends[1], map[string]any{
		"evt.type": "sendto", "proc.name": "hl_sendto", "fd.sip": nil, "fd.sip6": "::1", "fd.sport": port,
		"evt.res": "SUCCESS", "evt.rawres": n6, "evt.failed": false,
	})
	assertFields(t, matching(byRule(objs, "accepts"), map[string]any{"proc.pid": pid})[0], map[string]any{
		"evt.type": "accept", "fd.cip": "127.0.0.1", "fd.cport": cport, "evt.res": "SUCCESS", "evt.rawres": fd,
	})
	if st := s.stop(t); st.TotalLost() != 0 {
		t.Errorf("lost %d events", st.TotalLost())
	}
}
