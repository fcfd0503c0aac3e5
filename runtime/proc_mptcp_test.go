package runtime_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// MPTCP sockets (Go's listeners are MPTCP by default since Go 1.24, where
// the kernel has it) carry their packets on TCP subflows that the kernel
// creates: the socket a packet's lookup finds is a subflow, with no record
// of its own. The process fields come from the MPTCP connection it belongs
// to: the client's socket, and the accepted one (a copy of its listener's).
// With MPTCP off, the same. Test runs at tc ingress: a segment to each end
// of a connection on loopback is attributed to this process.
func TestProcFieldsMPTCP(t *testing.T) {
	tr := startTracker(t)
	c := loadWithProc(t, `rule r {
    hook tc ingress
    match tcp
    log tcp.srcport, tcp.dstport, proc.pid, proc.name
}`, tr)
	s := startStream(t, c, runtime.StreamOptions{})
	prog := c.Programs[rules.HookTCIngress]
	for _, mptcp := range []bool{true, false} {
		var lc net.ListenConfig
		lc.SetMultipathTCP(mptcp)
		l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var d net.Dialer
		d.SetMultipathTCP(mptcp)
		cli, err := d.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		srv, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if is, err := srv.(*net.TCPConn).MultipathTCP(); mptcp && (err != nil || !is) {
			// net.mptcp.enabled = 0, or a kernel without MPTCP.
			if kerneltest.InCI() {
				t.Fatalf("the connection is not MPTCP (%v, %v)", is, err)
			}
			t.Logf("the connection is not MPTCP (%v, %v): only plain TCP is tested", is, err)
		}
		lport, cport := uint16(l.Addr().(*net.TCPAddr).Port), uint16(cli.LocalAddr().(*net.TCPAddr).Port)
		for _, seg := range [][2]uint16{{cport, lport}, {lport, cport}} {
			frame := testpkt.New().IPv4("127.0.0.1", "127.0.0.1").TCP(seg[0], seg[1]).Seq(1).Flags(testpkt.ACK).Bytes()
			if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
				t.Fatal(err)
			}
			objs := s.waitFor(t, "the segment's event", 5*time.Second, func(o []map[string]any) bool {
				return len(matching(byRule(o, "r"), map[string]any{"tcp.srcport": seg[0], "tcp.dstport": seg[1]})) > 0
			})
			ev := matching(byRule(objs, "r"), map[string]any{"tcp.srcport": seg[0], "tcp.dstport": seg[1]})[0]
			t.Logf("mptcp %v: %v", mptcp, ev)
			assertFields(t, ev, map[string]any{"proc.pid": os.Getpid()})
		}
	}
}
