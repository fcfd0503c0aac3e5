package runtime_test

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// Real traffic between two namespaces, through programs attached to the
// veth end in B at all three hooks, read back as JSON lines.

const liveRules = `
rule tcp_syn_in {
    hook tc ingress
    match tcp.dstport == 8080 && tcp.flags.syn == 1 && tcp.flags.ack == 0
    log ip.src, ip.dst, tcp.srcport, tcp.dstport, tcp.flags, tcp.flags.syn, tcp.flags.ack, ip.len, ip.proto, frame.len
}
rule tcp_synack_out {
    hook tc egress
    match tcp.srcport == 8080 && tcp.flags == 0x012
    log ip.src, ip.dst, tcp.srcport, tcp.dstport, tcp.flags, tcp.flags.syn, tcp.flags.ack, frame.len
}
rule udp_in {
    hook tc ingress
    match ip && udp.dstport == 9999
    log eth.src, eth.dst, ip.src, ip.dst, udp.srcport, udp.dstport, udp.length, ip.ttl, frame.len
}
rule udp6_in {
    hook tc ingress
    match ipv6 && udp.dstport == 9998
    log ipv6.src, ipv6.dst, udp.srcport, udp.dstport, udp.length, ipv6.nxt, frame.len
}
rule udp_xdp {
    hook xdp
    match udp.dstport == 9999
    log ip.src, ip.dst, udp.srcport, udp.dstport, udp.length, frame.len
}
`

func TestStreamLiveHooks(t *testing.T) {
	kerneltest.RequireRoot(t)
	c := loadDSL(t, liveRules, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	if len(as) != 3 {
		t.Fatalf("attached %d programs, want 3 (tc ingress, tc egress, xdp): %v", len(as), as)
	}
	for _, a := range as {
		t.Logf("attached: %s", a)
		if a.Iface != p.PeerIf || a.Ifindex != p.IfindexB {
			t.Errorf("attachment %s: iface %s #%d, want %s #%d", a, a.Iface, a.Ifindex, p.PeerIf, p.IfindexB)
		}
	}
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	start := time.Now()

	// A listener in B; a TCP connection, a UDP datagram over IPv4 and one
	// over IPv6 from A.
	var ln net.Listener
	if err := p.Do("B", func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var tcpPort, udpPort, udp6Port int
	payload := make([]byte, 100)
	err := p.Do("A", func() error {
		conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String(), 5*time.Second)
		if err != nil {
			return err
		}
		tcpPort = conn.LocalAddr().(*net.TCPAddr).Port
		conn.Close()
		u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, 9999)))
		if err != nil {
			return err
		}
		defer u.Close()
		udpPort = u.LocalAddr().(*net.UDPAddr).Port
		if _, err := u.Write(payload); err != nil {
			return err
		}
		u6, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Addr6B, 9998)))
		if err != nil {
			return err
		}
		defer u6.Close()
		udp6Port = u6.LocalAddr().(*net.UDPAddr).Port
		_, err = u6.Write(payload[:50])
		return err
	})
	if err != nil {
		t.Fatalf("traffic from A: %v", err)
	}

	// The events arrive while the stream runs, within a few poll intervals.
	objs := s.waitFor(t, "one event of every rule", 5*time.Second, func(objs []map[string]any) bool {
		for _, r := range []string{"tcp_syn_in", "tcp_synack_out", "udp_in", "udp6_in", "udp_xdp"} {
			if len(byRule(objs, r)) == 0 {
				return false
			}
		}
		return true
	})
	stats := s.stop(t)
	objs = s.sink.objects(t)

	for _, o := range objs {
		if _, lost := o["lost"]; lost {
			t.Errorf("unexpected lost-event line: %v", o)
			continue
		}
		if o["iface"] != p.PeerIf {
			t.Errorf("iface = %v, want %s", o["iface"], p.PeerIf)
		}
		ts, err := time.Parse(time.RFC3339Nano, o["time"].(string))
		if err != nil || ts.Before(start.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
			t.Errorf("time %v is not the time of the event (test started %v): %v", o["time"], start, err)
		}
	}

	syn := matching(byRule(objs, "tcp_syn_in"), map[string]any{"tcp.srcport": tcpPort})
	if len(syn) != 1 {
		t.Fatalf("want one SYN event from port %d, got %v", tcpPort, byRule(objs, "tcp_syn_in"))
	}
	assertFields(t, syn[0], map[string]any{
		"hook": "tc ingress", "ip.src": p.AddrA, "ip.dst": p.AddrB, "tcp.dstport": 8080,
		"tcp.flags": "0x0002", "tcp.flags.syn": true, "tcp.flags.ack": false, "ip.proto": 6,
	})
	if iplen, flen := syn[0]["ip.len"].(float64), syn[0]["frame.len"].(float64); flen != iplen+14 || iplen < 40 {
		t.Errorf("SYN: ip.len %v, frame.len %v: want frame.len = ip.len + 14", iplen, flen)
	}

	synack := matching(byRule(objs, "tcp_synack_out"), map[string]any{"tcp.dstport": tcpPort})
	if len(synack) != 1 {
		t.Fatalf("want one SYN-ACK event to port %d, got %v", tcpPort, byRule(objs, "tcp_synack_out"))
	}
	assertFields(t, synack[0], map[string]any{
		"hook": "tc egress", "ip.src": p.AddrB, "ip.dst": p.AddrA, "tcp.srcport": 8080,
		"tcp.flags": "0x0012", "tcp.flags.syn": true, "tcp.flags.ack": true,
	})

	udp := byRule(objs, "udp_in")
	if len(udp) != 1 {
		t.Fatalf("want one udp_in event, got %v", udp)
	}
	assertFields(t, udp[0], map[string]any{
		"hook": "tc ingress", "eth.src": p.MACA, "eth.dst": p.MACB, "ip.src": p.AddrA, "ip.dst": p.AddrB,
		"udp.srcport": udpPort, "udp.dstport": 9999, "udp.length": 108, "ip.ttl": 64, "frame.len": 142,
	})

	udp6 := byRule(objs, "udp6_in")
	if len(udp6) != 1 {
		t.Fatalf("want one udp6_in event, got %v", udp6)
	}
	assertFields(t, udp6[0], map[string]any{
		"hook": "tc ingress", "ipv6.src": p.Addr6A, "ipv6.dst": p.Addr6B, "udp.srcport": udp6Port,
		"udp.dstport": 9998, "udp.length": 58, "ipv6.nxt": 17, "frame.len": 14 + 40 + 58,
	})

	xdp := byRule(objs, "udp_xdp")
	if len(xdp) != 1 {
		t.Fatalf("want one udp_xdp event, got %v", xdp)
	}
	assertFields(t, xdp[0], map[string]any{
		"hook": "xdp", "ip.src": p.AddrA, "ip.dst": p.AddrB, "udp.srcport": udpPort,
		"udp.dstport": 9999, "udp.length": 108, "frame.len": 142,
	})

	// The stats count what was written, rule by rule.
	for _, r := range stats.Rules {
		if got := uint64(len(byRule(objs, r.Name))); r.Events != got || r.Lost != 0 {
			t.Errorf("stats of %s: %d events, %d lost; the stream has %d events", r.Name, r.Events, r.Lost, got)
		}
	}
	if stats.DecodeErrors != 0 {
		t.Errorf("%d decode errors", stats.DecodeErrors)
	}
}

// An 802.1Q tag (VID 42, PCP 3) reaches tc ingress in skb metadata and XDP
// inline; both rules must read it.
func TestStreamLiveVLAN(t *testing.T) {
	kerneltest.RequireRoot(t)
	const fields = "vlan.id, vlan.priority, vlan.dei, eth.type, vlan.etype, ip.src, ip.dst, udp.dstport, frame.len"
	c := loadDSL(t, `
rule vlan_tc {
    hook tc ingress
    match vlan.id == 42
    log `+fields+`
}
rule vlan_xdp {
    hook xdp
    match vlan.id == 42
    log `+fields+`
}
rule untagged_tc {
    hook tc ingress
    match !vlan && udp.dstport == 7777
    log udp.dstport
}
`, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})

	frame := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).
		VLAN(testpkt.TPID8021Q, 3, false, 42).
		IPv4(p.AddrA.String(), p.AddrB.String()).UDP(5000, 7777).Payload(make([]byte, 32)).Bytes()
	if err := p.InjectRaw("A", p.HostIf, frame); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the tagged frame at both hooks", 5*time.Second, func(objs []map[string]any) bool {
		return len(byRule(objs, "vlan_tc")) > 0 && len(byRule(objs, "vlan_xdp")) > 0
	})
	s.stop(t)
	objs := s.sink.objects(t)
	for _, rule := range []string{"vlan_tc", "vlan_xdp"} {
		evs := byRule(objs, rule)
		if len(evs) != 1 {
			t.Errorf("%s: want 1 event, got %v", rule, evs)
			continue
		}
		assertFields(t, evs[0], map[string]any{
			"vlan.id": 42, "vlan.priority": 3, "vlan.dei": false, "eth.type": "0x8100", "vlan.etype": "0x0800",
			"ip.src": p.AddrA, "ip.dst": p.AddrB, "udp.dstport": 7777, "frame.len": len(frame),
		})
	}
	if evs := byRule(objs, "untagged_tc"); len(evs) != 0 {
		t.Errorf("the tagged frame matched !vlan at tc ingress: %v", evs)
	}
}

// A tiny ring and no reader: every event is either in the ring or counted
// lost, exactly; the stream then reports the loss in the stream itself.
func TestLostCountsLive(t *testing.T) {
	kerneltest.RequireRoot(t)
	c := loadDSL(t, `
rule flood {
    hook tc ingress
    match udp.dstport == 7000
    log ip.src, ip.dst, udp.srcport, udp.dstport
}
rule other {
    hook tc ingress
    match udp.dstport == 7001
    log udp.dstport
}
`, 4096)
	p := netns.NewPair(t)
	attachIn(t, p, "B", p.PeerIf, c)

	const sent = 400
	var frames [][]byte
	for i := 0; i < sent; i++ {
		frames = append(frames, testpkt.New().Eth(p.MACA.String(), p.MACB.String()).
			IPv4(p.AddrA.String(), p.AddrB.String()).UDP(uint16(10000+i), 7000).Bytes())
	}
	if err := p.InjectRaw("A", p.HostIf, frames...); err != nil {
		t.Fatal(err)
	}
	// The frames reach tc ingress in the softirq that follows each send;
	// wait until the counters stop moving.
	lost := waitLostSettled(t, c)
	if lost[0] == 0 {
		t.Fatalf("a 4 KiB ring took all %d events; the test needs an overflow", sent)
	}

	// Read what is in the ring through Stream (cancelled at once: it only
	// drains) and check it accounts for every frame.
	s := startStream(t, c, runtime.StreamOptions{})
	stats := s.stop(t)
	objs := s.sink.objects(t)
	delivered := uint64(len(byRule(objs, "flood")))
	if delivered == 0 || delivered+lost[0] != sent {
		t.Errorf("delivered %d + lost %d = %d, want the %d frames sent", delivered, lost[0], delivered+lost[0], sent)
	}
	if stats.Rules[0].Events != delivered || stats.Rules[0].Lost != lost[0] || stats.Rules[1].Lost != 0 {
		t.Errorf("stats %+v; want %d events and %d lost for flood", stats.Rules, delivered, lost[0])
	}
	last := objs[len(objs)-1]
	if last["total_lost"] != float64(lost[0]) {
		t.Errorf("last line %v: want the lost report with total_lost %d", last, lost[0])
	}
	if l, ok := last["lost"].(map[string]any); !ok || l["flood"] != float64(lost[0]) || len(l) != 1 {
		t.Errorf("lost report %v, want {\"flood\":%d}", last["lost"], lost[0])
	}
	if n := s.notices.String(); !strings.Contains(n, strconv.FormatUint(lost[0], 10)+" events lost") || !strings.Contains(n, "flood") {
		t.Errorf("notice on stderr: %q", n)
	}
}

// waitLostSettled reads the lost counters until two readings 100 ms apart agree.
func waitLostSettled(t *testing.T, c *runtime.Collection) []uint64 {
	t.Helper()
	prev, err := c.LostCounts()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		cur, err := c.LostCounts()
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for j := range cur {
			same = same && cur[j] == prev[j]
		}
		if same {
			return cur
		}
		prev = cur
	}
	t.Fatal("lost counters still moving after 5 s")
	return nil
}
