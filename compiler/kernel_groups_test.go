package compiler_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestKernelRuleGroups checks many rules of one shape, which the compiler
// turns into a decision tree over their key values and one shared
// subprogram (compiler/group.go): points, ranges, overlapping sets and
// prefixes on a port and on an address, with a shared residual test. Each
// frame must fire exactly the rules whose keys contain its values.
func TestKernelRuleGroups(t *testing.T) {
	kerneltest.Require(t)
	type span struct{ lo, hi uint32 }
	ports := [][]span{
		{{22, 22}}, {{80, 80}}, {{443, 443}}, {{8000, 8080}}, {{1, 1023}}, {{8080, 8080}},
		{{0, 0}}, {{65535, 65535}}, {{21, 23}}, {{443, 444}}, {{5000, 6000}, {7000, 7000}},
		{{1024, 65535}}, {{8443, 8443}}, {{3000, 3000}}, {{9999, 9999}}, {{100, 199}},
	}
	prefixes := []string{
		"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "192.168.0.0/16", "10.1.2.128/25",
		"0.0.0.0/0", "255.255.255.255/32", "172.16.0.0/12", "10.1.2.4/30",
	}
	var rs []ktRule
	for i, set := range ports {
		var items []string
		for _, s := range set {
			if s.lo == s.hi {
				items = append(items, fmt.Sprint(s.lo))
			} else {
				items = append(items, fmt.Sprintf("%d..%d", s.lo, s.hi))
			}
		}
		rs = append(rs, ktRule{Name: fmt.Sprintf("port%d", i),
			Match: fmt.Sprintf("tcp.dstport in {%s} && tcp.flags.syn == 1", strings.Join(items, ", ")),
			Log:   []string{"tcp.dstport"}})
	}
	for i, p := range prefixes {
		rs = append(rs, ktRule{Name: fmt.Sprintf("net%d", i), Match: "ip.dst == " + p, Log: []string{"ip.dst"}})
	}
	k := ktLoad(t, "groups", rs, ktHooks, 1<<20)
	for _, h := range ktHooks {
		calls := 0
		for _, ins := range k.coll.Program(h.Hook).Insns {
			if ins.IsFunctionCall() {
				calls++
			}
		}
		if calls == 0 {
			t.Errorf("%s: no call to a shared subprogram: the rules were not grouped, and this test no longer tests the decision tree", h.Hook)
		}
	}

	dports := []uint16{0, 1, 21, 22, 23, 24, 80, 99, 100, 199, 200, 443, 444, 445, 1023, 1024, 2999, 3000, 3001,
		4999, 5000, 6000, 6001, 6999, 7000, 7001, 7999, 8000, 8080, 8081, 8443, 9999, 65534, 65535}
	dsts := []string{"10.1.2.3", "10.1.2.4", "10.1.2.7", "10.1.2.8", "10.1.2.127", "10.1.2.128", "10.1.2.255", "10.1.3.1",
		"10.200.0.1", "9.255.255.255", "11.0.0.1", "172.16.5.5", "172.32.0.0", "192.168.1.1", "255.255.255.255", "0.0.0.0"}
	type probe struct {
		frame []byte
		want  []string
	}
	var probes []probe
	for i, dport := range dports {
		dst := dsts[i%len(dsts)]
		syn := i%5 != 4 // every fifth frame is not a SYN: no port rule
		flags := testpkt.SYN
		if !syn {
			flags = testpkt.ACK
		}
		f := testpkt.New().IPv4("192.0.2.1", dst).TCP(40000, dport).Flags(flags).Bytes()
		var want []string
		for r, set := range ports {
			for _, s := range set {
				if syn && uint32(dport) >= s.lo && uint32(dport) <= s.hi {
					want = append(want, fmt.Sprintf("port%d", r))
					break
				}
			}
		}
		addr := netip.MustParseAddr(dst)
		for r, p := range prefixes {
			if netip.MustParsePrefix(p).Contains(addr) {
				want = append(want, fmt.Sprintf("net%d", r))
			}
		}
		probes = append(probes, probe{f, want})
	}
	// Without the key fields: a UDP datagram fires no port rule.
	udp := testpkt.New().IPv4("192.0.2.1", "10.1.2.3").UDP(1, 22).Bytes()
	probes = append(probes, probe{udp, []string{"net0", "net1", "net2", "net3", "net6"}})
	// Over IPv6: the port rules only (22 is in sets 0, 4 and 8).
	probes = append(probes, probe{testpkt.New().IPv6("2001:db8::1", "2001:db8::2").TCP(1, 22).Flags(testpkt.SYN).Bytes(),
		[]string{"port0", "port4", "port8"}})

	for _, p := range probes {
		ktExpectRules(t, k, p.frame, p.want)
	}
}

// TestKernelRuleGroupsOutsideSpan checks the two comparisons that send keys
// below the smallest or above the largest constant of a group straight to
// its end: keys at, just inside and just outside both ends of the span, on
// a port and on an address dimension.
func TestKernelRuleGroupsOutsideSpan(t *testing.T) {
	kerneltest.Require(t)
	var rs []ktRule
	var ports []uint16
	for i := range 8 {
		p := uint16(1000 + 10*i)
		ports = append(ports, p)
		rs = append(rs, ktRule{Name: fmt.Sprintf("port%d", p), Match: fmt.Sprintf("udp.dstport == %d", p), Log: []string{"udp.dstport"}})
	}
	nets := []string{"10.1.0.0/16", "10.3.0.0/16", "10.5.7.0/24", "10.9.0.0/16"}
	for i, n := range nets {
		rs = append(rs, ktRule{Name: fmt.Sprintf("net%d", i), Match: "tcp.dstport == 80 && ip.src == " + n, Log: []string{"ip.src"}})
	}
	k := ktLoad(t, "span", rs, ktHooks, 1<<20)
	for _, dport := range []uint16{0, 1, 999, 1000, 1001, 1035, 1040, 1069, 1070, 1071, 1080, 65535} {
		var want []string
		for _, p := range ports {
			if p == dport {
				want = append(want, fmt.Sprintf("port%d", p))
			}
		}
		f := testpkt.New().IPv4("192.0.2.1", "192.0.2.2").UDP(5, dport).Bytes()
		ktExpectRules(t, k, f, want)
	}
	for _, src := range []string{"0.0.0.0", "10.0.255.255", "10.1.0.0", "10.1.255.255", "10.2.0.0", "10.5.7.255",
		"10.8.255.255", "10.9.0.0", "10.9.255.255", "10.10.0.0", "255.255.255.255"} {
		var want []string
		for i, n := range nets {
			if netip.MustParsePrefix(n).Contains(netip.MustParseAddr(src)) {
				want = append(want, fmt.Sprintf("net%d", i))
			}
		}
		f := testpkt.New().IPv4(src, "192.0.2.2").TCP(5, 80).Flags(testpkt.SYN).Bytes()
		ktExpectRules(t, k, f, want)
	}
}

// ktExpectRules runs frame through every hook of k and compares the names
// of the rules that fired with want.
func ktExpectRules(t *testing.T, k *ktLoaded, frame []byte, want []string) {
	t.Helper()
	for _, h := range ktHooks {
		evs, err := k.run(h, frame)
		if err != nil {
			t.Fatalf("%s: run: %v", h.Hook, err)
		}
		var got []string
		for name, list := range evs {
			for range list {
				got = append(got, name)
			}
		}
		sort.Strings(got)
		w := append([]string(nil), want...)
		sort.Strings(w)
		if strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("%s: frame %s: rules fired %v, want %v", h.Hook, ktHex(frame), got, w)
		}
	}
}
