//go:build linux

package netns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// requireRoot fails (never skips) when the harness cannot run.
func requireRoot(t *testing.T) {
	t.Helper()
	if _, err := Check(); err != nil {
		t.Fatalf("kernel test cannot run: %v", err)
	}
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(RunDir, name))
	return err == nil
}

func TestNewPair(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)

	for _, n := range []string{p.HostIf, p.PeerIf} {
		if len(n) > 15 {
			t.Errorf("interface name %q is %d bytes, longer than 15", n, len(n))
		}
		if !strings.HasPrefix(n, Prefix) {
			t.Errorf("interface name %q lacks prefix %q", n, Prefix)
		}
	}
	for _, ns := range []string{p.NSA, p.NSB} {
		if !strings.HasPrefix(ns, p.Name) || !nsExists(ns) {
			t.Errorf("namespace %q missing or misnamed", ns)
		}
	}
	if p.IfindexA != HostIfindex || p.IfindexB != PeerIfindex {
		t.Errorf("ifindexes %d, %d", p.IfindexA, p.IfindexB)
	}
	if len(p.MACA) != 6 || len(p.MACB) != 6 || bytes.Equal(p.MACA, p.MACB) {
		t.Errorf("MACs %v, %v", p.MACA, p.MACB)
	}
	if !p.AddrA.Is4() || !p.Prefix4().Contains(p.AddrB) || p.AddrA.As4()[0] != 10 || p.AddrA.As4()[3] != 1 || p.AddrB.As4()[3] != 2 {
		t.Errorf("IPv4 addresses %v, %v", p.AddrA, p.AddrB)
	}
	if !p.Addr6A.Is6() || !p.Prefix6().Contains(p.Addr6B) || p.Addr6A.As16()[0] != 0xfd || p.Addr6A.As16()[15] != 1 || p.Addr6B.As16()[15] != 2 {
		t.Errorf("IPv6 addresses %v, %v", p.Addr6A, p.Addr6B)
	}

	// Nothing the harness created is visible in our own namespace.
	if _, err := net.InterfaceByName(p.HostIf); err == nil {
		t.Errorf("%s exists in the test's own namespace", p.HostIf)
	}

	// Run sees the configured addresses; v6 is not tentative (nodad).
	out, err := p.Run(p.NSA, p.ip, "addr", "show", "dev", p.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{p.AddrA.String() + "/24", p.Addr6A.String() + "/64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ip addr in %s lacks %s:\n%s", p.NSA, want, out)
		}
	}
	if strings.Contains(string(out), "global tentative") {
		t.Errorf("address still tentative:\n%s", out)
	}
	out, err = p.Run("B", p.ip, "-o", "link", "show", "lo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "UP") {
		t.Errorf("lo not up in B: %s", out)
	}

	// A failing command reports the command line and its output.
	_, err = p.Run("A", p.ip, "link", "show", "dev", "nosuchdev0")
	var ce *CmdError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "nosuchdev0") || len(ce.Output) == 0 {
		t.Errorf("Run error = %v, want a *CmdError naming the command with output", err)
	}
	// Only the pair's own namespaces are accepted.
	if _, err := p.Run("other", "true"); err == nil {
		t.Error("Run in a foreign namespace succeeded")
	}
	if err := p.Do("other", func() error { return nil }); err == nil {
		t.Error("Do in a foreign namespace succeeded")
	}
}

func TestDoRestoresNamespace(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)
	self := func() string {
		l, err := os.Readlink("/proc/thread-self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	var inA, inB string
	if err := p.Do(p.NSA, func() error { inA = self(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.Do("B", func() error { inB = self(); return nil }); err != nil {
		t.Fatal(err)
	}
	// Our own namespace is the process's (the main thread's).
	orig, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if inA == inB || inA == orig || inB == orig {
		t.Errorf("namespaces: orig %s, A %s, B %s", orig, inA, inB)
	}
	// Many calls must all come back to the original namespace.
	for i := 0; i < 50; i++ {
		if err := p.Do("A", func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := self(); got != orig {
			t.Fatalf("after Do: thread in %s, want %s", got, orig)
		}
	}
	wantErr := errors.New("boom")
	if err := p.Do("A", func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

// udpEcho sends a datagram from A to B and expects it echoed back, using Go
// sockets opened inside the namespaces (no dependency on ping).
func udpEcho(t *testing.T, p *Pair, network string, a, b netip.Addr) {
	t.Helper()
	var srv, cli *net.UDPConn
	if err := p.Do(p.NSB, func() (err error) {
		srv, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	dst := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := p.Do(p.NSA, func() (err error) {
		cli, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)), net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	msg := fmt.Sprintf("hello %s %d", network, time.Now().UnixNano())
	buf := make([]byte, 1500)
	var lastErr error
	for try := 0; try < 5; try++ { // neighbour resolution may drop the first datagram
		if _, err := cli.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		cli.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := cli.ReadFromUDPAddrPort(buf)
		if err != nil {
			lastErr = err
			continue
		}
		if got := string(buf[:n]); got != "echo:"+msg {
			t.Fatalf("got %q, want %q", got, "echo:"+msg)
		}
		if from.Addr() != b {
			t.Fatalf("reply from %v, want %v", from, b)
		}
		return
	}
	t.Fatalf("%s %v -> %v: no echo: %v", network, a, b, lastErr)
}

func TestUDPv4(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)
	udpEcho(t, p, "udp4", p.AddrA, p.AddrB)
}

func TestUDPv6(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)
	udpEcho(t, p, "udp6", p.Addr6A, p.Addr6B)
}

// TestPing uses ping when it is installed; the UDP tests cover connectivity
// when it is not.
func TestPing(t *testing.T) {
	requireRoot(t)
	ping, err := exec.LookPath("ping")
	if err != nil {
		t.Log("ping not installed; connectivity is covered by TestUDPv4/TestUDPv6")
		return
	}
	p := NewPair(t)
	for _, dst := range []netip.Addr{p.AddrB, p.Addr6B} {
		if out, err := p.Run("A", ping, "-c", "1", "-W", "2", dst.String()); err != nil {
			t.Errorf("ping %v: %v\n%s", dst, err, out)
		}
	}
}

const testEtherType = 0x88b5 // IEEE 802 local experimental

func vlanFrame(dst, src net.HardwareAddr, vid uint16, etherType uint16, payload []byte) []byte {
	f := make([]byte, 0, 18+len(payload))
	f = append(f, dst...)
	f = append(f, src...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_8021Q)
	f = binary.BigEndian.AppendUint16(f, vid&0x0fff)
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, payload...)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestInjectRawVLAN(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)

	// Receiver in B: AF_PACKET bound to the peer, with PACKET_AUXDATA, since
	// the kernel usually strips the tag into metadata on receive.
	var fd int = -1
	if err := p.Do(p.NSB, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.IfindexB})
	}); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Fatal(err)
	}
	defer unix.Close(fd)

	payload := []byte(fmt.Sprintf("hdrlog-vlan-test-%s", p.Name))
	frame := vlanFrame(p.MACB, p.MACA, 42, testEtherType, payload)
	if err := p.InjectRaw(p.NSA, p.HostIf, frame); err != nil {
		t.Fatal(err)
	}

	buf := make([]byte, 2048)
	oob := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Ifindex != p.IfindexB {
			continue
		}
		f := buf[:n]
		if n < 14 || !bytes.HasSuffix(f, payload) {
			continue // ND, MLD, etc.
		}
		if !bytes.Equal(f[0:6], p.MACB) || !bytes.Equal(f[6:12], p.MACA) {
			t.Errorf("MACs: dst %x src %x, want %v %v", f[0:6], f[6:12], p.MACB, p.MACA)
		}

		var vid, tpid uint16
		var inner uint16
		var where string
		if et := binary.BigEndian.Uint16(f[12:14]); et == unix.ETH_P_8021Q {
			where = "inline"
			tpid = et
			vid = binary.BigEndian.Uint16(f[14:16]) & 0x0fff
			inner = binary.BigEndian.Uint16(f[16:18])
		} else {
			where = "auxdata"
			inner = et
			aux, ok := auxdata(t, oob[:oobn])
			if !ok {
				t.Fatalf("tag neither inline (ethertype %#04x) nor in PACKET_AUXDATA", et)
			}
			if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 {
				t.Fatalf("auxdata without TP_STATUS_VLAN_VALID: %+v", aux)
			}
			vid = aux.Vlan_tci & 0x0fff
			tpid = unix.ETH_P_8021Q // older kernels do not report the TPID
			if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = aux.Vlan_tpid
			}
		}
		t.Logf("received %d-byte frame, tag %s: tpid %#04x vid %d inner ethertype %#04x", n, where, tpid, vid, inner)
		if vid != 42 || tpid != unix.ETH_P_8021Q || inner != testEtherType {
			t.Fatalf("tag: tpid %#04x vid %d inner %#04x, want 0x8100, 42, %#04x", tpid, vid, inner, testEtherType)
		}
		return
	}
	t.Fatal("injected VLAN frame not received in B within 5s")
}

func auxdata(t *testing.T, oob []byte) (unix.TpacketAuxdata, bool) {
	t.Helper()
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			return *(*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0])), true
		}
	}
	return unix.TpacketAuxdata{}, false
}

func TestInjectRawRejectsRunt(t *testing.T) {
	requireRoot(t)
	p := NewPair(t)
	if err := p.InjectRaw("A", p.HostIf, []byte{1, 2, 3}); err == nil {
		t.Error("InjectRaw of a 3-byte frame succeeded")
	}
	if err := p.InjectRaw("A", "nosuchdev0", make([]byte, 60)); err == nil {
		t.Error("InjectRaw on a missing interface succeeded")
	}
}

func TestCleanup(t *testing.T) {
	requireRoot(t)

	// Via NewPair: namespaces are gone once the subtest has finished.
	var nsa, nsb string
	t.Run("pair", func(t *testing.T) {
		p := NewPair(t)
		nsa, nsb = p.NSA, p.NSB
		if !nsExists(nsa) || !nsExists(nsb) {
			t.Fatal("namespaces not created")
		}
	})
	if nsExists(nsa) || nsExists(nsb) {
		t.Errorf("namespaces %s, %s survive t.Cleanup", nsa, nsb)
	}

	// Via Setup: background commands are killed, cleanup is idempotent.
	p, cleanup, err := Setup()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	cmd, err := p.Start("A", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	// A grandchild in its own process group is caught by the namespace sweep.
	bg, err := p.Start("B", "sh", "-c", "setsid sleep 600 & wait")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{cmd, bg} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Errorf("%v: wait = %v, want killed by SIGKILL", c.Args, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%v still running after cleanup", c.Args)
		}
	}
	if nsExists(p.NSA) || nsExists(p.NSB) {
		t.Errorf("namespaces %s, %s survive cleanup", p.NSA, p.NSB)
	}
	out, err := runCmd(p.ip, "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), p.Name) {
		t.Errorf("ip netns list still shows %s:\n%s", p.Name, out)
	}
	if err := cleanup(); err != nil {
		t.Errorf("second cleanup: %v", err)
	}
	if _, err := p.Start("A", "true"); err == nil {
		t.Error("Start after cleanup succeeded")
	}
}

func TestSweep(t *testing.T) {
	requireRoot(t)
	live := NewPair(t)

	// A namespace named as if by a run that has exited: our PID with a
	// start time that is not ours.
	stale := fmt.Sprintf("%s%s-%d-1-a", Prefix, "0badc0de", os.Getpid())
	if _, err := runCmd(live.ip, "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNS(live.ip, stale) })
	// Not ours: does not match the harness naming scheme.
	foreign := fmt.Sprintf("%sforeign-%s", Prefix, live.Name)
	if _, err := runCmd(live.ip, "netns", "add", foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNS(live.ip, foreign) })

	removed, err := SweepStale(Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept %v", removed)
	if nsExists(stale) {
		t.Errorf("stale namespace %s survives Sweep", stale)
	}
	for _, ns := range []string{live.NSA, live.NSB, foreign} {
		if !nsExists(ns) {
			t.Errorf("Sweep removed %s", ns)
		}
	}
	if _, err := SweepStale(""); err == nil {
		t.Error("SweepStale(\"\") succeeded")
	}
	Sweep(Prefix) // no-op now
	udpEcho(t, live, "udp4", live.AddrA, live.AddrB)
}

func TestParallelPairs(t *testing.T) {
	requireRoot(t)
	for i := 0; i < 4; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			p := NewPair(t)
			udpEcho(t, p, "udp4", p.AddrA, p.AddrB)
			udpEcho(t, p, "udp6", p.Addr6A, p.Addr6B)
		})
	}
}
