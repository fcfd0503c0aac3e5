// Package scale generates large rule sets of realistic shape for hdrlog's
// scaling benchmark, with a packet that matches the first rule and one that
// matches none.
package scale

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// Mix of rule kinds, in percent of the rules (the rest are per-host rules).
const (
	PortListPercent = 20 // ip.dst == host && tcp.dstport in {8 ports}
	CIDRListPercent = 20 // ip.dst in {4 prefixes} && udp.dstport == port
)

// Rules returns n rules in hdrlog's DSL. Rule 0 is the per-host rule
// `ip.src == 10.0.0.1 && tcp.dstport == 22`; every other rule's addresses
// lie in 10.0.0.0/8 away from 10.0.0.1 and 10.0.0.2, so FirstMatch
// matches rule 0 only and Miss matches nothing. The same n gives the same
// rules.
func Rules(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 0x6864726c6f67))
	var sb strings.Builder
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
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "rule r%d {\n", i)
		k := rng.IntN(100)
		switch {
		case i == 0:
			sb.WriteString("    match ip.src == 10.0.0.1 && tcp.dstport == 22\n    log   ip.src, ip.dst, tcp.srcport, tcp.dstport\n")
		case k < PortListPercent:
			ports := make([]string, 8)
			for j := range ports {
				ports[j] = fmt.Sprint(port())
			}
			fmt.Fprintf(&sb, "    match ip.dst == %s && tcp.dstport in {%s}\n    log   ip.src, ip.dst, tcp.dstport\n", host(i), strings.Join(ports, ", "))
		case k < PortListPercent+CIDRListPercent:
			cidrs := make([]string, 4)
			for j := range cidrs {
				v := 1<<16 + rng.IntN(1<<23)
				cidrs[j] = fmt.Sprintf("10.%d.%d.0/24", v>>16&0xff, v>>8&0xff)
				if v>>8&0xffff == 0 {
					cidrs[j] = "10.200.200.0/24"
				}
			}
			fmt.Fprintf(&sb, "    match ip.dst in {%s} && udp.dstport == %d\n    log   ip.src, ip.dst, udp.dstport\n", strings.Join(cidrs, ", "), port())
		default:
			fmt.Fprintf(&sb, "    match ip.src == %s && tcp.dstport == %d\n    log   ip.src, ip.dst, tcp.srcport, tcp.dstport\n", host(i), port())
		}
		sb.WriteString("}\n")
	}
	return sb.String()
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
