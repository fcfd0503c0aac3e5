// Package scale generates large rule sets of realistic shape for hdrlog's
// scaling benchmark, with a packet that matches the first rule and one that
// matches none.
package scale

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// Mix of rule kinds, in percent of the rules (the rest are per-host rules).
const (
	PortListPercent = 20 // ip.dst == host && tcp.dstport in {8 ports}
	CIDRListPercent = 20 // ip.dst in {4 prefixes} && udp.dstport == port
)

// Kind is the shape of a generated rule.
type Kind int

const (
	// PerHost is `ip.src == Host && tcp.dstport == Port`.
	PerHost Kind = iota
	// PortList is `ip.dst == Host && tcp.dstport in {Ports}`.
	PortList
	// CIDRList is `ip.dst in {CIDRs} && udp.dstport == Port`.
	CIDRList
)

func (k Kind) String() string {
	return [...]string{"per host", "port list", "CIDR list"}[k]
}

// Rule is one generated rule's parameters.
type Rule struct {
	Name  string
	Kind  Kind
	Host  string   // PerHost, PortList
	Port  int      // PerHost, CIDRList
	Ports []int    // PortList
	CIDRs []string // CIDRList: /24 prefixes
}

// Rules returns n rules in hdrlog's DSL. Rule 0 is the per-host rule
// `ip.src == 10.0.0.1 && tcp.dstport == 22`; every other rule's addresses
// lie in 10.0.0.0/8 away from 10.0.0.1 and 10.0.0.2, so FirstMatch
// matches rule 0 only and Miss matches nothing. The same n gives the same
// rules.
func Rules(n int) string {
	var sb strings.Builder
	for _, r := range Specs(n) {
		fmt.Fprintf(&sb, "rule %s {\n", r.Name)
		switch r.Kind {
		case PortList:
			ports := make([]string, len(r.Ports))
			for j, p := range r.Ports {
				ports[j] = fmt.Sprint(p)
			}
			fmt.Fprintf(&sb, "    match ip.dst == %s && tcp.dstport in {%s}\n    log   ip.src, ip.dst, tcp.dstport\n", r.Host, strings.Join(ports, ", "))
		case CIDRList:
			fmt.Fprintf(&sb, "    match ip.dst in {%s} && udp.dstport == %d\n    log   ip.src, ip.dst, udp.dstport\n", strings.Join(r.CIDRs, ", "), r.Port)
		default:
			fmt.Fprintf(&sb, "    match ip.src == %s && tcp.dstport == %d\n    log   ip.src, ip.dst, tcp.srcport, tcp.dstport\n", r.Host, r.Port)
		}
		sb.WriteString("}\n")
	}
	return sb.String()
}

// Specs returns the parameters of the n rules Rules writes, in order.
func Specs(n int) []Rule {
	rng := rand.New(rand.NewPCG(uint64(n), 0x6864726c6f67))
	port := func() int {
		for {
			// Never the ports of FirstMatch and Miss.
			if p := 1 + rng.IntN(65000); p != 22 && p != 9999 && p != 40000 && p != 12345 {
				return p
			}
		}
	}
	host := func(i int) string {
		// 10.1.0.0 upwards: distinct per rule, never 10.0.0.x.
		v := 1<<16 + i
		return fmt.Sprintf("10.%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
	}
	out := make([]Rule, 0, n)
	for i := 0; i < n; i++ {
		r := Rule{Name: fmt.Sprintf("r%d", i)}
		k := rng.IntN(100)
		switch {
		case i == 0:
			r.Kind, r.Host, r.Port = PerHost, "10.0.0.1", 22
		case k < PortListPercent:
			r.Kind, r.Host = PortList, host(i)
			r.Ports = make([]int, 8)
			for j := range r.Ports {
				r.Ports[j] = port()
			}
		case k < PortListPercent+CIDRListPercent:
			r.Kind = CIDRList
			r.CIDRs = make([]string, 4)
			for j := range r.CIDRs {
				v := 1<<16 + rng.IntN(1<<23)
				r.CIDRs[j] = fmt.Sprintf("10.%d.%d.0/24", v>>16&0xff, v>>8&0xff)
				if v>>8&0xffff == 0 {
					r.CIDRs[j] = "10.200.200.0/24"
				}
			}
			r.Port = port()
		default:
			r.Kind, r.Host, r.Port = PerHost, host(i), port()
		}
		out = append(out, r)
	}
	return out
}

// Hit returns a frame that matches rule r (and perhaps others); variant
// picks which of its ports or prefixes, and the host inside a prefix.
func Hit(r Rule, variant int) []byte {
	p := testpkt.New()
	switch r.Kind {
	case PortList:
		return p.IPv4("192.0.2.1", r.Host).TTL(64).TCP(40000, uint16(r.Ports[variant%len(r.Ports)])).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
	case CIDRList:
		pfx := netip.MustParsePrefix(r.CIDRs[variant%len(r.CIDRs)])
		a := pfx.Addr().As4()
		a[3] = byte(variant * 37)
		return p.IPv4("192.0.2.1", netip.AddrFrom4(a).String()).TTL(64).UDP(40000, uint16(r.Port)).PadTo(testpkt.EthMinLen).Bytes()
	}
	return p.IPv4(r.Host, "192.0.2.1").TTL(64).TCP(40000, uint16(r.Port)).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
}

// NearHit returns a frame beside rule r: its addresses with a port one
// off, or a TCP segment where the rule wants UDP (it may match other
// rules).
func NearHit(r Rule, variant int) []byte {
	p := testpkt.New()
	switch r.Kind {
	case PortList:
		return p.IPv4("192.0.2.1", r.Host).TTL(64).TCP(40000, uint16(r.Ports[variant%len(r.Ports)]+1)).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
	case CIDRList:
		pfx := netip.MustParsePrefix(r.CIDRs[variant%len(r.CIDRs)])
		if variant%2 == 0 {
			return p.IPv4("192.0.2.1", pfx.Addr().String()).TTL(64).TCP(40000, uint16(r.Port)).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
		}
		a := pfx.Addr().As4()
		a[2]++
		return p.IPv4("192.0.2.1", netip.AddrFrom4(a).String()).TTL(64).UDP(40000, uint16(r.Port)).PadTo(testpkt.EthMinLen).Bytes()
	}
	return p.IPv4(r.Host, "192.0.2.1").TTL(64).TCP(40000, uint16(r.Port-1)).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
}

// FirstMatch is a TCP SYN from 10.0.0.1 to port 22: it matches rule 0.
func FirstMatch() []byte {
	return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TTL(64).
		TCP(40000, 22).Flags(testpkt.SYN).PadTo(testpkt.EthMinLen).Bytes()
}

// Miss is a TCP segment that matches no generated rule.
func Miss() []byte {
	return testpkt.New().IPv4("172.16.0.1", "172.16.0.2").TTL(64).
		TCP(12345, 9999).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()
}

// NearMiss is a TCP segment from 10.1.0.1 to 10.1.0.2, port 9999: its
// addresses lie among the rules' constants (the per-host and port-list rules
// of hosts 1 and 2 may exist, never with port 9999), so the decision trees
// search it to the bottom before finding no rule.
func NearMiss() []byte {
	return testpkt.New().IPv4("10.1.0.1", "10.1.0.2").TTL(64).
		TCP(12345, 9999).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()
}
