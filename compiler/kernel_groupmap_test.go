package compiler_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestKernelGroupMaps checks groups of rules compiled into hash maps
// (compiler/groupmap.go; the size from which a group does is lowered for
// the test): exact keys, port sets, /24 and /23 prefixes (a key with the
// host bits cleared), keys shared by two rules (a value listing both, in
// rule order), a shared residual test, and a group whose port ranges stay
// a decision tree. Each frame must fire exactly the rules whose tests hold.
func TestKernelGroupMaps(t *testing.T) {
	kerneltest.Require(t)
	saved := compiler.GroupMapMin
	compiler.GroupMapMin = 8
	t.Cleanup(func() { compiler.GroupMapMin = saved })

	type pkt struct {
		src, dst     netip.Addr
		udp, syn     bool
		sport, dport uint16
	}
	type rule struct {
		ktRule
		holds func(p pkt) bool
	}
	var rs []rule
	in := func(p netip.Addr, prefix string) bool { return netip.MustParsePrefix(prefix).Contains(p) }
	addr := netip.MustParseAddr
	// a: exact address and port; a_dup has a3's key.
	for i := range 10 {
		src, port := fmt.Sprintf("10.9.0.%d", i), uint16(1000+i)
		rs = append(rs, rule{ktRule{fmt.Sprintf("a%d", i), fmt.Sprintf("ip.src == %s && tcp.dstport == %d", src, port), []string{"ip.src", "tcp.dstport"}},
			func(p pkt) bool { return !p.udp && p.src == addr(src) && p.dport == port }})
	}
	rs = append(rs, rule{ktRule{"a_dup", "ip.src == 10.9.0.3 && tcp.dstport == 1003", []string{"ip.src", "tcp.dstport"}},
		func(p pkt) bool { return !p.udp && p.src == addr("10.9.0.3") && p.dport == 1003 }})
	// b: an address and a port set, SYN only (the residual); b9 shares
	// 10.8.0.1 port 80 with b1.
	for i := range 9 {
		dst, own := fmt.Sprintf("10.8.0.%d", i), uint16(8000+i)
		rs = append(rs, rule{ktRule{fmt.Sprintf("b%d", i), fmt.Sprintf("ip.dst == %s && tcp.dstport in {80, 443, %d} && tcp.flags.syn == 1", dst, own), []string{"ip.dst", "tcp.dstport"}},
			func(p pkt) bool {
				return !p.udp && p.syn && p.dst == addr(dst) && (p.dport == 80 || p.dport == 443 || p.dport == own)
			}})
	}
	rs = append(rs, rule{ktRule{"b9", "ip.dst == 10.8.0.1 && tcp.dstport in {80, 81} && tcp.flags.syn == 1", []string{"ip.dst", "tcp.dstport"}},
		func(p pkt) bool {
			return !p.udp && p.syn && p.dst == addr("10.8.0.1") && (p.dport == 80 || p.dport == 81)
		}})
	// c: prefixes; neighbours share a /24; c9 a /23 and two ports.
	for i := range 9 {
		p1, p2 := fmt.Sprintf("10.7.%d.0/24", i), fmt.Sprintf("10.7.%d.0/24", i+1)
		rs = append(rs, rule{ktRule{fmt.Sprintf("c%d", i), fmt.Sprintf("ip.dst in {%s, %s} && udp.dstport == 53", p1, p2), []string{"ip.dst", "udp.dstport"}},
			func(p pkt) bool { return p.udp && (in(p.dst, p1) || in(p.dst, p2)) && p.dport == 53 }})
	}
	rs = append(rs, rule{ktRule{"c9", "ip.dst in {10.6.0.0/23} && udp.dstport in {53, 5353}", []string{"ip.dst", "udp.dstport"}},
		func(p pkt) bool { return p.udp && in(p.dst, "10.6.0.0/23") && (p.dport == 53 || p.dport == 5353) }})
	// d: port ranges of 2,001 values: too many blocks, a tree.
	for i := range 9 {
		src := fmt.Sprintf("192.168.%d.1", i)
		rs = append(rs, rule{ktRule{fmt.Sprintf("d%d", i), fmt.Sprintf("ip.src == %s && udp.srcport in {1000..3000}", src), []string{"ip.src"}},
			func(p pkt) bool { return p.udp && p.src == addr(src) && p.sport >= 1000 && p.sport <= 3000 }})
	}
	var kr []ktRule
	for _, r := range rs {
		kr = append(kr, r.ktRule)
	}
	k := ktLoad(t, "groupmaps", kr, ktHooks, 1<<20)
	for _, h := range ktHooks {
		p := k.coll.Program(h.Hook)
		var shapes []string
		for _, m := range p.GroupMaps {
			shapes = append(shapes, fmt.Sprintf("%v%v/%d", m.Fields, m.Shift, m.ValueSize/4))
		}
		want := []string{"[ip.src tcp.dstport][0 0]/2", "[ip.dst tcp.dstport][0 0]/2", "[ip.dst udp.dstport][8 0]/2"}
		if !slices.Equal(shapes, want) {
			t.Errorf("%s: group maps %v, want %v", h.Hook, shapes, want)
		}
	}

	var probes []pkt
	for _, src := range []string{"10.9.0.0", "10.9.0.3", "10.9.0.9", "10.9.0.10", "10.8.255.255", "192.168.0.1", "192.168.8.1", "192.168.9.1"} {
		for _, port := range []uint16{999, 1000, 1003, 1004, 1009, 1010} {
			probes = append(probes, pkt{src: addr(src), dst: addr("192.0.2.1"), sport: 40000, dport: port, syn: true})
		}
		for _, sport := range []uint16{999, 1000, 3000, 3001} {
			probes = append(probes, pkt{src: addr(src), dst: addr("192.0.2.1"), udp: true, sport: sport, dport: 1003})
		}
	}
	for _, dst := range []string{"10.8.0.0", "10.8.0.1", "10.8.0.2", "10.8.0.8", "10.8.0.9", "10.7.255.255"} {
		for _, port := range []uint16{79, 80, 81, 443, 8000, 8001, 8002, 8008} {
			for _, syn := range []bool{true, false} {
				probes = append(probes, pkt{src: addr("192.0.2.1"), dst: addr(dst), sport: 1, dport: port, syn: syn})
			}
		}
	}
	for _, dst := range []string{"10.7.0.0", "10.7.0.255", "10.7.3.200", "10.7.9.1", "10.7.10.1", "10.6.0.1", "10.6.1.255", "10.6.2.0", "10.5.255.255", "10.6.255.255"} {
		for _, port := range []uint16{52, 53, 54, 5353} {
			probes = append(probes, pkt{src: addr("192.0.2.1"), dst: addr(dst), udp: true, sport: 1, dport: port})
		}
		probes = append(probes, pkt{src: addr("192.0.2.1"), dst: addr(dst), sport: 1, dport: 53, syn: true})
	}
	fired := map[string]bool{}
	for _, p := range probes {
		b := testpkt.New().IPv4(p.src.String(), p.dst.String())
		var frame []byte
		if p.udp {
			frame = b.UDP(p.sport, p.dport).Bytes()
		} else {
			flags := testpkt.ACK
			if p.syn {
				flags = testpkt.SYN
			}
			frame = b.TCP(p.sport, p.dport).Flags(flags).Bytes()
		}
		var want []string
		for _, r := range rs {
			if r.holds(p) {
				want = append(want, r.Name)
				fired[r.Name] = true
			}
		}
		ktExpectRules(t, k, frame, want)
	}
	for _, name := range []string{"a0", "a3", "a_dup", "a9", "b1", "b9", "b8", "c0", "c2", "c3", "c8", "c9", "d0", "d8"} {
		if !fired[name] {
			t.Errorf("no probe fires rule %s", name)
		}
	}
	// A frame outside the key fields' headers (IPv6) fires none.
	ktExpectRules(t, k, testpkt.New().IPv6("2001:db8::1", "2001:db8::2").TCP(1, 1003).Flags(testpkt.SYN).Bytes(), nil)
}

// TestKernelGroupMapLost fills a 4096-byte ring that no one reads through
// rules of a group compiled into a hash map (two of them on one key): the
// events that did not fit are counted per rule, as for any rule.
func TestKernelGroupMapLost(t *testing.T) {
	kerneltest.Require(t)
	saved := compiler.GroupMapMin
	compiler.GroupMapMin = 8
	t.Cleanup(func() { compiler.GroupMapMin = saved })
	var rs []ktRule
	for i := range 10 {
		rs = append(rs, ktRule{fmt.Sprintf("g%d", i), fmt.Sprintf("ip.src == 10.9.0.%d && tcp.dstport == %d", i, 1000+i), []string{"ip.src", "tcp.dstport"}})
	}
	rs = append(rs, ktRule{"twin", "ip.src == 10.9.0.3 && tcp.dstport == 1003", []string{"ip.src", "tcp.dstport"}})
	k := ktLoad(t, "groupmaplost", rs, ktHooks, 4096)
	for _, h := range ktHooks {
		if n := len(k.coll.Program(h.Hook).GroupMaps); n != 1 {
			t.Fatalf("%s: %d group maps, want 1", h.Hook, n)
		}
	}
	matched, drained := map[string]int{}, map[string]int{}
	for round := 0; round < 2; round++ {
		for i := range 300 {
			r := i % 12 // 10 and 11: no rule
			f := testpkt.New().IPv4(fmt.Sprintf("10.9.0.%d", r), "192.0.2.1").TCP(40000, uint16(1000+r)).Flags(testpkt.SYN).Bytes()
			for _, h := range ktHooks {
				if err := k.coll.Run(h.Hook, f); err != nil {
					t.Fatal(err)
				}
				if r < 10 {
					matched[fmt.Sprintf("g%d_%s", r, h.Suffix)]++
				}
				if r == 3 {
					matched["twin_"+h.Suffix]++
				}
			}
		}
		evs, err := k.drain()
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range evs {
			for _, ev := range list {
				drained[ev.Name]++
			}
		}
	}
	lost, err := k.coll.LostCounts()
	if err != nil {
		t.Fatal(err)
	}
	var totalLost uint64
	for i, r := range k.coll.Output.Schema.Rules {
		if want := uint64(matched[r.Name] - drained[r.Name]); lost[i] != want {
			t.Errorf("rule %s: lost %d, want %d (%d matched, %d drained)", r.Name, lost[i], want, matched[r.Name], drained[r.Name])
		}
		totalLost += lost[i]
	}
	if totalLost == 0 {
		t.Errorf("nothing lost: the ring did not overflow as intended")
	}
}
