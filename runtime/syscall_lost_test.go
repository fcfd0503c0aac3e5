package runtime_test

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/hdrlog/hdrlog/runtime"
)

// TestSyscallLostCountsExact: rules over system calls have the packet
// rules' loss accounting. A real program makes 500 connect(2) calls to a
// closed loopback port while a one-page ring has no reader: for the rule
// that logs them, events delivered + events lost = the calls, exactly,
// both non-zero; the other rule, which matches none, loses none.
func TestSyscallLostCountsExact(t *testing.T) {
	haveTool(t, "/usr/bin/python3")
	const calls = 500
	closed := freePort(t)
	c := loadDSL(t, fmt.Sprintf(`rule flood {
    hook syscall connect
    match proc.name == "hl_flood" && fd.sport == %d
    log proc.pid, proc.tid, proc.name, user.uid, fd.sip, fd.sport, evt.res
}
rule quiet {
    hook syscall connect
    match proc.name == "hl_flood" && fd.sport == %d
    log proc.pid
}`, closed, closed+1), 4096)
	attachSyscalls(t, c)
	cmd := exec.Command("/usr/bin/python3", "-c", fmt.Sprintf(`import socket
open("/proc/self/comm", "w").write("hl_flood")
for i in range(%d):
    s = socket.socket(); s.connect_ex(("127.0.0.1", %d)); s.close()`, calls, closed))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	pid := fmt.Sprint(cmd.ProcessState.Pid())
	delivered := 0
	if err := c.Drain(func(ev *runtime.Event) error {
		if ev.Rule != 0 {
			return fmt.Errorf("an event of rule %d", ev.Rule)
		}
		if got := string(runtime.AppendValue(nil, &ev.Values[0])); got != pid {
			return fmt.Errorf("an event of pid %s, the client is %s", got, pid)
		}
		delivered++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lost, err := c.LostCounts()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered %d, lost %v", delivered, lost)
	if lost[0] == 0 || delivered == 0 || uint64(delivered)+lost[0] != calls || lost[1] != 0 {
		t.Errorf("delivered %d, lost %v: want delivered + lost[0] = %d, both non-zero, lost[1] = 0", delivered, lost, calls)
	}
}
