// Package suite is the benchmark suite: the rule sets, each written three
// ways (hdrlog rules, hand-written C, a pcap-filter expression), and the
// packet classes they are measured on.
package suite

import (
	"fmt"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// RuleSet is one rule set of the suite, in the three forms compared.
type RuleSet struct {
	Name  string // S1 ... S5
	Title string
	Rules string // hdrlog DSL
	// C is the base name of the hand-written C program in bench/c (without .c).
	C string
	// Pcap is the same match as a pcap-filter expression (match only, no
	// fields); PcapNote says where its meaning differs from the rules'.
	Pcap     string
	PcapNote string
	// Miss is the rule set with every match made one that never holds for
	// the suite's packets (same tests, same parse): the no-event twin used
	// to price one logged event.
	Miss string
}

// Class is a packet class: one frame the rule sets are measured on.
type Class struct {
	Name  string
	Title string
	Frame []byte
}

// Suite lists the rule sets.
var Suite = []RuleSet{
	{
		Name: "S1", Title: "one rule: SSH SYN", C: "s1",
		Rules: `rule ssh_syn {
    match tcp.dstport == 22 && tcp.flags.syn == 1
    log   ip.src, ip.dst, tcp.srcport, tcp.dstport
}
`,
		Miss: `rule ssh_syn {
    match tcp.dstport == 23 && tcp.flags.syn == 1
    log   ip.src, ip.dst, tcp.srcport, tcp.dstport
}
`,
		Pcap: `(tcp dst port 22 and tcp[tcpflags] & tcp-syn != 0) or (vlan and tcp dst port 22 and tcp[tcpflags] & tcp-syn != 0)`,
	},
	{
		Name: "S2", Title: "5-tuple-ish: CIDR set + port set", C: "s2",
		Rules: `rule tuple {
    match ip.src in {10.0.0.0/8, 172.20.0.0/14} && ip.dst == 192.168.1.0/24
          && tcp.dstport in {22, 80, 443, 8080} && tcp.srcport >= 1024
    log   ip.src, ip.dst, ip.proto, tcp.srcport, tcp.dstport
}
`,
		Miss: `rule tuple {
    match ip.src in {10.0.0.0/8, 172.20.0.0/14} && ip.dst == 192.168.1.0/24
          && tcp.dstport in {21, 81, 444, 8081} && tcp.srcport >= 1024
    log   ip.src, ip.dst, ip.proto, tcp.srcport, tcp.dstport
}
`,
		Pcap: `(src net (10.0.0.0/8 or 172.20.0.0/14) and dst net 192.168.1.0/24 and tcp dst port (22 or 80 or 443 or 8080) and tcp src portrange 1024-65535)` +
			` or (vlan and src net (10.0.0.0/8 or 172.20.0.0/14) and dst net 192.168.1.0/24 and tcp dst port (22 or 80 or 443 or 8080) and tcp src portrange 1024-65535)`,
	},
	{
		Name: "S3", Title: "UDP DNS port", C: "s3",
		Rules: `rule dns {
    match udp.port == 53
    log   ip.src, ip.dst, udp.srcport, udp.dstport, udp.length
}
`,
		Miss: `rule dns {
    match udp.port == 54
    log   ip.src, ip.dst, udp.srcport, udp.dstport, udp.length
}
`,
		Pcap: `udp port 53 or (vlan and udp port 53)`,
	},
	{
		Name: "S4", Title: "VLAN rule + IPv6 rule", C: "s4",
		Rules: `rule vlan42_https {
    match vlan.id == 42 && tcp.dstport == 443
    log   vlan.id, ip.src, ip.dst, tcp.srcport
}
rule v6_https {
    match ipv6.dst == 2001:db8::/32 && tcp.dstport == 443
    log   ipv6.src, ipv6.dst, tcp.srcport
}
`,
		Miss: `rule vlan42_https {
    match vlan.id == 43 && tcp.dstport == 443
    log   vlan.id, ip.src, ip.dst, tcp.srcport
}
rule v6_https {
    match ipv6.dst == 2001:db9::/32 && tcp.dstport == 443
    log   ipv6.src, ipv6.dst, tcp.srcport
}
`,
		Pcap:     `(ip6 dst net 2001:db8::/32 and tcp dst port 443) or (vlan 42 and tcp dst port 443)`,
		PcapNote: "libpcap's `tcp` on IPv6 does not walk extension headers: the IPv6 class (hop-by-hop header) does not match",
	},
	{
		Name: "S5", Title: "10 mixed rules", C: "s5",
		Rules: mixed(false),
		Miss:  mixed(true),
		Pcap: `(tcp dst port 22 and tcp[tcpflags] & tcp-syn != 0)` +
			` or (src net (10.0.0.0/8 or 172.20.0.0/14) and dst net 192.168.1.0/24 and tcp dst port (22 or 80 or 443 or 8080) and tcp src portrange 1024-65535)` +
			` or udp port 53 or (ip6 dst net 2001:db8::/32 and tcp dst port 443)` +
			` or (tcp[tcpflags] & tcp-rst != 0) or (ip and ip[8] < 2) or icmp[icmptype] == icmp-echo or (ip6 src net fe80::/10 and icmp6)` +
			` or tcp dst port (3389 or 5900) or udp dst port 123` +
			` or (vlan 42 and (tcp dst port 443 or (src net (10.0.0.0/8 or 172.20.0.0/14) and dst net 192.168.1.0/24 and tcp dst port (22 or 80 or 443 or 8080) and tcp src portrange 1024-65535)))`,
		PcapNote: "as S4 for IPv6 extension headers; VLAN-tagged frames are tested against the VLAN rule and the 5-tuple rule only",
	},
}

// mixed is S5: the rules of S1-S4 and six more of common kinds. With miss,
// every match is changed into one that never holds on the suite's packets.
func mixed(miss bool) string {
	p := func(hit, no string) string {
		if miss {
			return no
		}
		return hit
	}
	return fmt.Sprintf(`rule ssh_syn {
    match tcp.dstport == %s && tcp.flags.syn == 1
    log   ip.src, ip.dst, tcp.srcport, tcp.dstport
}
rule tuple {
    match ip.src in {10.0.0.0/8, 172.20.0.0/14} && ip.dst == 192.168.1.0/24
          && tcp.dstport in {%s} && tcp.srcport >= 1024
    log   ip.src, ip.dst, ip.proto, tcp.srcport, tcp.dstport
}
rule dns {
    match udp.port == %s
    log   ip.src, ip.dst, udp.srcport, udp.dstport, udp.length
}
rule vlan42_https {
    match vlan.id == %s && tcp.dstport == 443
    log   vlan.id, ip.src, ip.dst, tcp.srcport
}
rule v6_https {
    match ipv6.dst == %s && tcp.dstport == 443
    log   ipv6.src, ipv6.dst, tcp.srcport
}
rule tcp_reset {
    match tcp.flags.reset == 1
    log   ip.src, ip.dst, tcp.srcport, tcp.dstport
}
rule low_ttl {
    match ip.ttl < 2
    log   ip.src, ip.dst, ip.ttl
}
rule ping {
    match icmp.type == 8
    log   ip.src, ip.dst, icmp.code
}
rule v6_link_local_icmp {
    match ipv6.src == fe80::/10 && icmpv6
    log   ipv6.src, icmpv6.type
}
rule remote_desktop {
    match tcp.dstport in {3389, 5900} || udp.dstport == 123
    log   ip.src, ip.dst, tcp.dstport, udp.dstport
}
`, p("22", "23"), p("22, 80, 443, 8080", "21, 81, 444, 8081"), p("53", "54"), p("42", "43"), p("2001:db8::/32", "2001:db9::/32"))
}

// Classes are the packet classes, every frame padded as on a wire.
var Classes = []Class{
	{Name: "syn4", Title: "TCP SYN, IPv4",
		Frame: testpkt.New().IPv4("10.1.2.3", "192.168.1.10").TTL(64).DF().
			TCP(40000, 22).Flags(testpkt.SYN).Seq(1000).PadTo(testpkt.EthMinLen).Bytes()},
	{Name: "udp4", Title: "UDP (DNS query), IPv4",
		Frame: testpkt.New().IPv4("10.1.2.3", "192.168.1.1").TTL(64).
			UDP(5353, 53).Payload(make([]byte, 32)).PadTo(testpkt.EthMinLen).Bytes()},
	{Name: "tcp6ext", Title: "TCP, IPv6 + hop-by-hop header",
		Frame: testpkt.New().IPv6("2001:db8:1::1", "2001:db8::10").HopLimit(64).HopByHop(nil).
			TCP(40000, 443).Flags(testpkt.ACK | testpkt.PSH).Payload(make([]byte, 64)).Bytes()},
	{Name: "vlan4", Title: "TCP, IPv4, 802.1Q tag 42",
		Frame: testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 42).IPv4("10.1.2.3", "192.168.1.10").TTL(64).
			TCP(40000, 443).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()},
	{Name: "miss", Title: "TCP, IPv4, matching no rule",
		Frame: testpkt.New().IPv4("172.16.0.1", "172.16.0.2").TTL(64).
			TCP(12345, 9999).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()},
}

// Check parses and type-checks rules written in hdrlog's DSL.
func Check(name, src string) (*rules.RuleSet, error) {
	f, diags := lang.ParseDSL(name, []byte(src))
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %v", name, diags.Errors())
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %v", name, diags.Errors())
	}
	return rs, nil
}

// Compile parses, checks and compiles rules written in hdrlog's DSL.
func Compile(name, src string) (*compiler.Output, error) {
	rs, err := Check(name, src)
	if err != nil {
		return nil, err
	}
	return compiler.Compile(rs, compiler.Options{})
}
