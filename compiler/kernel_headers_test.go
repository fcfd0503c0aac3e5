package compiler_test

import (
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestKernelHeaders runs frames of the headers added as rows of the header
// table (ARP, SCTP, GRE, VXLAN, the ICMPv6 echo and neighbour discovery
// bodies) through every hook with the full operator matrix: each field's
// value, and absence where a guard, a length or a port says so.
func TestKernelHeaders(t *testing.T) {
	kerneltest.Require(t)
	ktRunFrames(t, ktHeaderFrames())
}

// Members shared by the expectations below.
const (
	ktIPv4Plain = `"ip.version":4,"ip.hdr_len":20,"ip.dsfield":"0x00","ip.dsfield.dscp":0,"ip.dsfield.ecn":0,` +
		`"ip.id":"0x0000","ip.flags":"0x00","ip.flags.rb":false,"ip.flags.df":false,"ip.flags.mf":false,` +
		`"ip.frag_offset":0,"ip.ttl":64,"ip.src":"10.0.0.1","ip.dst":"10.0.0.2"`
	ktIPv6Plain = `"ipv6.version":6,"ipv6.tclass":"0x00000000","ipv6.tclass.dscp":0,"ipv6.tclass.ecn":0,"ipv6.flow":"0x000000",` +
		`"ipv6.hlim":255,"ipv6.src":"fe80::1","ipv6.dst":"ff02::1:ff00:2"`
	ktARPReq = `"arp.hw.type":1,"arp.proto.type":"0x0800","arp.hw.size":6,"arp.proto.size":4,"arp.opcode":1,` +
		`"arp.src.hw_mac":"02:00:00:00:00:01","arp.src.proto_ipv4":"10.0.0.1","arp.dst.hw_mac":"00:00:00:00:00:00","arp.dst.proto_ipv4":"10.0.0.2"`
)

func ktHeaderFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, want...)})
	}
	// Frames where a header is absent get the lite matrix (their values).
	lite := func(name string, f []byte, want ...string) {
		add(name, f, want...)
		out[len(out)-1].Lite = true
	}
	arp := testpkt.ARP(1, "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")

	f := testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(arp).PadTo(testpkt.EthMinLen).Bytes()
	add("arp_request", f, ktMACsDflt, `"eth.type":"0x0806"`, ktARPReq)

	f = testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 5).EtherType(testpkt.EtherTypeARP).
		Payload(testpkt.ARP(2, "02:00:00:00:00:02", "10.0.0.2", "02:00:00:00:00:01", "10.0.0.1")).Bytes()
	lite("vlan_arp_reply", f, ktMACsDflt, `"eth.type":"0x8100"`,
		`"vlan.priority#1":0,"vlan.dei#1":false,"vlan.id#1":5,"vlan.etype#1":"0x0806"`,
		`"arp.hw.type":1,"arp.proto.type":"0x0800","arp.hw.size":6,"arp.proto.size":4,"arp.opcode":2,`+
			`"arp.src.hw_mac":"02:00:00:00:00:02","arp.src.proto_ipv4":"10.0.0.2","arp.dst.hw_mac":"02:00:00:00:00:01","arp.dst.proto_ipv4":"10.0.0.1"`)

	// Not IPv4 over Ethernet (a guard fails), and cut one byte short.
	odd := append([]byte(nil), arp...)
	odd[4] = 8
	f = testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(odd).Bytes()
	lite("arp_hw_size_8", f, ktMACsDflt, `"eth.type":"0x0806"`)
	f = testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(arp[:27]).Bytes()
	lite("arp_short", f, ktMACsDflt, `"eth.type":"0x0806"`)

	f = testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Proto(testpkt.ProtoSCTP).
		Payload(testpkt.SCTP(2905, 36412, 0xdeadbeef, make([]byte, 16))).Bytes()
	add("ipv4_sctp", f, ktMACsDflt, ktEthIPv4, ktIPv4Plain, `"ip.len":48,"ip.proto":132`,
		`"sctp.srcport":2905,"sctp.dstport":36412,"sctp.verification_tag":"0xdeadbeef"`)

	// 11 bytes of SCTP in the IP payload: absent, although the frame has more.
	f = testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Proto(testpkt.ProtoSCTP).TotalLength(31).
		Payload(testpkt.SCTP(1, 2, 3, nil)).Bytes()
	lite("ipv4_sctp_past_ip_len", f, ktMACsDflt, ktEthIPv4, ktIPv4Plain, `"ip.len":31,"ip.proto":132`)

	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).Proto(testpkt.ProtoGRE).
		Payload(testpkt.GRE(0x6558, make([]byte, 20))).Bytes()
	add("ipv6_gre", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":24,"ipv6.nxt":47`, `"gre.proto":"0x6558"`)

	inner := testpkt.New().IPv4("192.168.0.1", "192.168.0.2").ICMP(8, 0).Bytes()
	f = testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(51000, testpkt.PortVXLAN).
		Payload(testpkt.VXLAN(0xabcdef, inner)).Bytes()
	add("ipv4_udp_vxlan", f, ktMACsDflt, ktEthIPv4, ktIPv4Plain, `"ip.len":78,"ip.proto":17`,
		`"udp.srcport":51000,"udp.dstport":4789,"udp.length":58`, `"vxlan.flags":"0x0800","vxlan.vni":11259375`)

	// VXLAN's port as the source port, with the header cut by the frame's end.
	f = testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(testpkt.PortVXLAN, 8472).
		Payload(testpkt.VXLAN(7, nil)[:7]).Bytes()
	lite("ipv4_udp_vxlan_short", f, ktMACsDflt, ktEthIPv4, ktIPv4Plain, `"ip.len":35,"ip.proto":17`,
		`"udp.srcport":4789,"udp.dstport":8472,"udp.length":15`)

	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(129, 0).Echo(0xbeef, 65535).Bytes()
	add("icmpv6_echo_reply", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":8,"ipv6.nxt":58`,
		`"icmpv6.type":129,"icmpv6.code":0,"icmpv6.echo.identifier":"0xbeef","icmpv6.echo.sequence_number":65535`)

	target := []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(135, 0).Rest(0).
		Payload(target).Payload([]byte{1, 1, 2, 0, 0, 0, 0, 1}).Bytes()
	add("icmpv6_ns", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":32,"ipv6.nxt":58`,
		`"icmpv6.type":135,"icmpv6.code":0,"icmpv6.nd.ns.target_address":"fe80::2"`)

	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(136, 0).Rest(0xa0000000).
		Payload(target).Bytes()
	add("icmpv6_na", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":24,"ipv6.nxt":58`,
		`"icmpv6.type":136,"icmpv6.code":0,"icmpv6.nd.na.flag.r":true,"icmpv6.nd.na.flag.s":false,"icmpv6.nd.na.flag.o":true,`+
			`"icmpv6.nd.na.target_address":"fe80::2"`)

	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(136, 0).Rest(0x40000000).
		Payload(target).Bytes()
	lite("icmpv6_na_solicited", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":24,"ipv6.nxt":58`,
		`"icmpv6.type":136,"icmpv6.code":0,"icmpv6.nd.na.flag.r":false,"icmpv6.nd.na.flag.s":true,"icmpv6.nd.na.flag.o":false,`+
			`"icmpv6.nd.na.target_address":"fe80::2"`)

	// A solicitation one byte short of its target: ICMPv6 only.
	f = testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(135, 0).Rest(0).
		Payload(target[:15]).Bytes()
	lite("icmpv6_ns_short", f, ktMACsDflt, ktEthIPv6, ktIPv6Plain, `"ipv6.plen":23,"ipv6.nxt":58`,
		`"icmpv6.type":135,"icmpv6.code":0`)
	return out
}
