package compiler_test

import (
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// earlyExits counts the parser's jumps straight to the epilogue (compiler/
// reach.go): jumps to it placed before the end of the parser.
func earlyExits(p *compiler.Program) int {
	n := 0
	for _, ins := range p.Insns {
		if ins.Symbol() == ".parse.done" {
			return n
		}
		if ins.Reference() == ".epilogue" {
			n++
		}
	}
	return n
}

// TestKernelEarlyExit checks the parser's early exit: when no rule of a hook
// can hold on the headers found so far, the parser leaves for the epilogue.
// Frames of every shape must still fire exactly the rules they match, with
// the exit taken (each rule needs a transport header) and without it (a
// rule that holds on any frame turns it off).
func TestKernelEarlyExit(t *testing.T) {
	kerneltest.Require(t)
	needy := []ktRule{
		{Name: "dns", Match: "udp.port == 53", Log: []string{"ip.src", "udp.dstport"}},
		{Name: "ssh_or_ping", Match: "tcp.dstport == 22 || icmp.type == 8", Log: []string{"ip.dst"}},
		{Name: "v6web", Match: "ipv6.dst == 2001:db8::/32 && tcp", Log: []string{"ipv6.dst", "tcp.dstport"}},
	}
	anyFrame := append(append([]ktRule(nil), needy...), ktRule{Name: "not_udp", Match: "!udp", Log: []string{"frame.len"}})

	udp53 := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(5353, 53).Bytes()
	frames := []struct {
		name  string
		frame []byte
		want  []string // rules of the needy set that fire
		udp   bool
	}{
		{"udp4 dns", udp53, []string{"dns"}, true},
		{"udp6 dns", testpkt.New().IPv6("2001:db8::1", "2001:db8::2").UDP(53, 999).Bytes(), []string{"dns"}, true},
		{"udp4 other port", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(5353, 54).Bytes(), nil, true},
		{"vlan udp4 dns", testpkt.New().VLAN(0x8100, 0, false, 7).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 53).Bytes(), []string{"dns"}, true},
		{"tcp4 ssh", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(999, 22).Flags(testpkt.SYN).Bytes(), []string{"ssh_or_ping"}, false},
		{"tcp4 other", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(999, 80).Bytes(), nil, false},
		{"icmp4 echo", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").ICMP(8, 0).Echo(1, 1).Bytes(), []string{"ssh_or_ping"}, false},
		{"icmp4 reply", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").ICMP(0, 0).Echo(1, 1).Bytes(), nil, false},
		{"tcp6 doc net", testpkt.New().IPv6("fe80::1", "2001:db8::9").TCP(1, 80).Bytes(), []string{"v6web"}, false},
		{"tcp6 doc net ssh", testpkt.New().IPv6("fe80::1", "2001:db8::9").HopByHop(nil).TCP(1, 22).Bytes(), []string{"ssh_or_ping", "v6web"}, false},
		{"tcp6 elsewhere", testpkt.New().IPv6("fe80::1", "2001:db9::9").TCP(1, 80).Bytes(), nil, false},
		{"icmpv6 echo", testpkt.New().IPv6("fe80::1", "2001:db8::9").ICMPv6(128, 0).Echo(1, 1).Bytes(), nil, false},
		{"non-IP", testpkt.New().EtherType(0x0806).Payload(make([]byte, 28)).Bytes(), nil, false},
		{"ipv4 fragment", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").FragOffset(8).UDP(1, 53).Bytes(), nil, false},
		{"udp4 cut short", testpkt.Truncate(udp53, 14+20+4), nil, false},
		{"ipv6 extension header cut short", testpkt.Truncate(testpkt.New().IPv6("2001:db8::1", "2001:db8::2").HopByHop(nil).UDP(1, 53).Bytes(), 14+40+4), nil, false},
	}

	kn := ktLoad(t, "needy", needy, ktHooks, 1<<20)
	ka := ktLoad(t, "anyframe", anyFrame, ktHooks, 1<<20)
	for _, h := range ktHooks {
		if n := earlyExits(kn.coll.Program(h.Hook)); n == 0 {
			t.Errorf("%s: every rule needs a transport header, but the parser never leaves early", h.Hook)
		}
		if n := earlyExits(ka.coll.Program(h.Hook)); n != 0 {
			t.Errorf("%s: rule not_udp holds on any frame, but the parser leaves early %d times", h.Hook, n)
		}
	}
	for _, f := range frames {
		t.Run(f.name, func(t *testing.T) {
			ktExpectRules(t, kn, f.frame, f.want)
			want := append([]string(nil), f.want...)
			if !f.udp {
				want = append(want, "not_udp")
			}
			ktExpectRules(t, ka, f.frame, want)
		})
	}
}
