package compiler_test

// Crafted frames and the value every catalogue field must take on each, as
// the JSON the runtime prints. A field an expectation does not name must be
// null. The values are worked out from how each frame is built, by hand.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// ktFrame is a frame and what hdrlog must see in it.
type ktFrame struct {
	Name  string
	Bytes []byte
	// Want is the JSON object of the non-null values of the all-fields rule.
	Want string
	// Hold and Fail are match expressions that must and must not hold, on
	// top of those generated from Want.
	Hold, Fail []string
	// Lite generates fewer expressions from Want: presence, == and !=.
	Lite bool
}

// ktObj joins JSON members (or runs of them) into an object; "frame.len" is
// added from the frame.
func ktObj(frame []byte, members ...string) string {
	var parts []string
	for _, m := range members {
		if m != "" {
			parts = append(parts, m)
		}
	}
	return fmt.Sprintf(`{"frame.len":%d,%s}`, len(frame), strings.Join(parts, ","))
}

// Members shared by many expectations.
const (
	ktMACs     = `"eth.dst":"0a:bb:cc:dd:ee:ff","eth.src":"02:11:22:33:44:55"`
	ktMACsDflt = `"eth.dst":"02:00:00:00:00:02","eth.src":"02:00:00:00:00:01"`
	ktEthIPv4  = `"eth.type":"0x0800"`
	ktEthIPv6  = `"eth.type":"0x86dd"`
)

func ktPayload(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

// Frames shared by several tests.

// ktFrameIPv4TCP: Ethernet, IPv4 without options, TCP with every kind of
// value: 32-bit numbers above 2^31, a mix of flags.
func ktFrameIPv4TCP() []byte {
	return testpkt.New().Eth("02:11:22:33:44:55", "0a:bb:cc:dd:ee:ff").
		IPv4("10.1.2.3", "192.168.100.200").TOS(0xb9).ID(0x1234).DF().TTL(63).
		TCP(40000, 22).Seq(1000000007).Ack(3000000001).
		Flags(testpkt.AE | testpkt.CWR | testpkt.URG | testpkt.PSH | testpkt.SYN).Window(1024).Urgent(7).
		Payload([]byte("hello")).Bytes()
}

const ktWantIPv4TCP = `"ip.version":4,"ip.hdr_len":20,"ip.dsfield":"0xb9","ip.dsfield.dscp":46,"ip.dsfield.ecn":1,` +
	`"ip.len":45,"ip.id":"0x1234","ip.flags":"0x02","ip.flags.rb":false,"ip.flags.df":true,"ip.flags.mf":false,` +
	`"ip.frag_offset":0,"ip.ttl":63,"ip.proto":6,"ip.src":"10.1.2.3","ip.dst":"192.168.100.200",` +
	`"tcp.srcport":40000,"tcp.dstport":22,"tcp.seq_raw":1000000007,"tcp.ack_raw":3000000001,"tcp.hdr_len":20,` +
	`"tcp.flags":"0x01aa","tcp.flags.res":false,"tcp.flags.ae":true,"tcp.flags.cwr":true,"tcp.flags.ece":false,` +
	`"tcp.flags.urg":true,"tcp.flags.ack":false,"tcp.flags.push":true,"tcp.flags.reset":false,"tcp.flags.syn":true,` +
	`"tcp.flags.fin":false,"tcp.window_size_value":1024,"tcp.urgent_pointer":7,"tcp.len":5`

// ktFrameVLANIPv4OptsTCP: one 802.1Q tag, IPv4 with 8 bytes of options
// (IHL 7), TCP with options.
func ktFrameVLANIPv4OptsTCP() []byte {
	return testpkt.New().Eth("02:11:22:33:44:55", "0a:bb:cc:dd:ee:ff").
		VLAN(testpkt.TPID8021Q, 6, false, 7).
		IPv4("10.9.8.7", "10.0.0.1").TTL(64).ID(0xabcd).Options([]byte{1, 1, 1, 1, 0x94, 4, 0, 0}).
		TCP(1234, 80).Seq(77).Ack(88).Flags(testpkt.ACK | testpkt.PSH).Window(501).
		Options([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}).
		Payload([]byte("GET / HTTP/1.1\r\n\r\n")).Bytes()
}

// ktFrameIPv6ExtUDP: IPv6 with hop-by-hop, routing, destination options,
// fragment (first) and AH headers, then UDP.
func ktFrameIPv6ExtUDP() []byte {
	return testpkt.New().IPv6("2001:db8::1", "2001:db8::2").
		HopByHop([]byte{5, 2, 0, 0}).Routing(4, 0, make([]byte, 20)).DestOpts(nil).
		Fragment(0, true, 7).AH(1, 2, make([]byte, 12)).
		UDP(5000, 53).Payload(ktPayload(30)).Bytes()
}

// ktFrameQinQICMP: 802.1ad outer and 802.1Q inner tags, IPv4, ICMP echo.
func ktFrameQinQICMP() []byte {
	return testpkt.New().Eth("02:00:00:00:00:0a", "02:00:00:00:00:0b").
		VLAN(testpkt.TPID8021AD, 5, false, 100).VLAN(testpkt.TPID8021Q, 0, true, 4095).
		IPv4("198.51.100.7", "203.0.113.9").ReservedFlag().DF().ID(1).TTL(255).
		ICMP(8, 0).Echo(0x4242, 1).Payload(ktPayload(16)).Bytes()
}

// ktFrameIPv6ICMPv6: IPv6, ICMPv6 echo request.
func ktFrameIPv6ICMPv6() []byte {
	return testpkt.New().IPv6("fe80::1", "ff02::1").HopLimit(255).
		ICMPv6(128, 0).Echo(1, 2).Payload(ktPayload(8)).Bytes()
}

// ktBasicFrames has one frame of each kind with every header's fields set
// to distinctive values.
func ktBasicFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, want...)})
	}

	f := ktFrameIPv4TCP()
	add("ipv4_tcp", f, ktMACs, ktEthIPv4, ktWantIPv4TCP)

	f = ktFrameVLANIPv4OptsTCP()
	add("vlan_ipv4opts_tcp", f, ktMACs, `"eth.type":"0x8100"`,
		`"vlan.priority#1":6,"vlan.dei#1":false,"vlan.id#1":7,"vlan.etype#1":"0x0800"`,
		`"ip.version":4,"ip.hdr_len":28,"ip.dsfield":"0x00","ip.dsfield.dscp":0,"ip.dsfield.ecn":0,"ip.len":78,`+
			`"ip.id":"0xabcd","ip.flags":"0x00","ip.flags.rb":false,"ip.flags.df":false,"ip.flags.mf":false,`+
			`"ip.frag_offset":0,"ip.ttl":64,"ip.proto":6,"ip.src":"10.9.8.7","ip.dst":"10.0.0.1"`,
		`"tcp.srcport":1234,"tcp.dstport":80,"tcp.seq_raw":77,"tcp.ack_raw":88,"tcp.hdr_len":32,"tcp.flags":"0x0018",`+
			`"tcp.flags.res":false,"tcp.flags.ae":false,"tcp.flags.cwr":false,"tcp.flags.ece":false,"tcp.flags.urg":false,`+
			`"tcp.flags.ack":true,"tcp.flags.push":true,"tcp.flags.reset":false,"tcp.flags.syn":false,"tcp.flags.fin":false,`+
			`"tcp.window_size_value":501,"tcp.urgent_pointer":0,"tcp.len":18`)

	f = testpkt.New().Eth("02:11:22:33:44:55", "01:00:5e:00:00:fb").VLAN(testpkt.TPID8021Q, 3, true, 42).
		IPv4("172.16.0.1", "224.0.0.251").TOS(0x02).ID(0xbeef).TTL(1).Options([]byte{1, 1, 1, 1, 0x94, 4, 0, 0}).
		UDP(5353, 5353).Payload(ktPayload(12)).Bytes()
	add("vlan_ipv4opts_udp", f, `"eth.dst":"01:00:5e:00:00:fb","eth.src":"02:11:22:33:44:55","eth.type":"0x8100"`,
		`"vlan.priority#1":3,"vlan.dei#1":true,"vlan.id#1":42,"vlan.etype#1":"0x0800"`,
		`"ip.version":4,"ip.hdr_len":28,"ip.dsfield":"0x02","ip.dsfield.dscp":0,"ip.dsfield.ecn":2,"ip.len":48,`+
			`"ip.id":"0xbeef","ip.flags":"0x00","ip.flags.rb":false,"ip.flags.df":false,"ip.flags.mf":false,`+
			`"ip.frag_offset":0,"ip.ttl":1,"ip.proto":17,"ip.src":"172.16.0.1","ip.dst":"224.0.0.251"`,
		`"udp.srcport":5353,"udp.dstport":5353,"udp.length":20`)

	f = ktFrameQinQICMP()
	add("qinq_icmp", f, `"eth.dst":"02:00:00:00:00:0b","eth.src":"02:00:00:00:00:0a","eth.type":"0x88a8"`,
		`"vlan.priority#1":5,"vlan.dei#1":false,"vlan.id#1":100,"vlan.etype#1":"0x8100"`,
		`"vlan.priority#2":0,"vlan.dei#2":true,"vlan.id#2":4095,"vlan.etype#2":"0x0800"`,
		`"ip.version":4,"ip.hdr_len":20,"ip.dsfield":"0x00","ip.dsfield.dscp":0,"ip.dsfield.ecn":0,"ip.len":44,`+
			`"ip.id":"0x0001","ip.flags":"0x06","ip.flags.rb":true,"ip.flags.df":true,"ip.flags.mf":false,`+
			`"ip.frag_offset":0,"ip.ttl":255,"ip.proto":1,"ip.src":"198.51.100.7","ip.dst":"203.0.113.9"`,
		`"icmp.type":8,"icmp.code":0`)

	f = testpkt.New().Eth("02:11:22:33:44:55", "0a:bb:cc:dd:ee:ff").
		IPv6("2001:db8::1", "2001:db8:0:1::2").TrafficClass(0xb9).FlowLabel(0x12345).HopLimit(7).
		HopByHop([]byte{5, 2, 0, 0}).       // router alert, padded to 8 bytes
		Routing(4, 0, make([]byte, 20)).    // 24 bytes
		DestOpts([]byte{1, 4, 0, 0, 0, 0}). // PadN: 8 bytes
		Fragment(0, true, 0xdeadbeef).      // first fragment: 8 bytes
		AH(0x100, 7, make([]byte, 12)).     // 24 bytes
		TCP(443, 51000).Seq(1).Ack(2).Flags(0xe00 | testpkt.ACK | testpkt.ECE | testpkt.RST | testpkt.FIN).Window(0).
		Options([]byte{2, 4, 0x05, 0xb4, 1, 1, 1, 1, 1, 1, 1, 0}). // 12 bytes: header of 32
		Payload(ktPayload(100)).Bytes()
	add("ipv6_ext_tcp", f, ktMACs, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x000000b9","ipv6.tclass.dscp":46,"ipv6.tclass.ecn":1,"ipv6.flow":"0x012345",`+
			`"ipv6.plen":204,"ipv6.nxt":0,"ipv6.hlim":7,"ipv6.src":"2001:db8::1","ipv6.dst":"2001:db8:0:1::2"`,
		`"tcp.srcport":443,"tcp.dstport":51000,"tcp.seq_raw":1,"tcp.ack_raw":2,"tcp.hdr_len":32,"tcp.flags":"0x0e55",`+
			`"tcp.flags.res":true,"tcp.flags.ae":false,"tcp.flags.cwr":false,"tcp.flags.ece":true,"tcp.flags.urg":false,`+
			`"tcp.flags.ack":true,"tcp.flags.push":false,"tcp.flags.reset":true,"tcp.flags.syn":false,"tcp.flags.fin":true,`+
			`"tcp.window_size_value":0,"tcp.urgent_pointer":0,"tcp.len":100`)

	f = ktFrameIPv6ExtUDP()
	add("ipv6_ext_udp", f, ktMACsDflt, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x00000000","ipv6.tclass.dscp":0,"ipv6.tclass.ecn":0,"ipv6.flow":"0x000000",`+
			`"ipv6.plen":110,"ipv6.nxt":0,"ipv6.hlim":64,"ipv6.src":"2001:db8::1","ipv6.dst":"2001:db8::2"`,
		`"udp.srcport":5000,"udp.dstport":53,"udp.length":38`)

	f = testpkt.New().IPv6("2001:db8::a", "2001:db8::b").TrafficClass(0x03).FlowLabel(0xfffff).
		DestOpts(nil).UDP(53, 33333).Payload(ktPayload(10)).Bytes()
	add("ipv6_dstopts_udp", f, ktMACsDflt, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x00000003","ipv6.tclass.dscp":0,"ipv6.tclass.ecn":3,"ipv6.flow":"0x0fffff",`+
			`"ipv6.plen":26,"ipv6.nxt":60,"ipv6.hlim":64,"ipv6.src":"2001:db8::a","ipv6.dst":"2001:db8::b"`,
		`"udp.srcport":53,"udp.dstport":33333,"udp.length":18`)

	f = ktFrameIPv6ICMPv6()
	add("ipv6_icmpv6", f, ktMACsDflt, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x00000000","ipv6.tclass.dscp":0,"ipv6.tclass.ecn":0,"ipv6.flow":"0x000000",`+
			`"ipv6.plen":16,"ipv6.nxt":58,"ipv6.hlim":255,"ipv6.src":"fe80::1","ipv6.dst":"ff02::1"`,
		`"icmpv6.type":128,"icmpv6.code":0,"icmpv6.echo.identifier":"0x0001","icmpv6.echo.sequence_number":2`)

	f = testpkt.New().IPv6("2001:db8::1", "2001:db8::2").TrafficClass(0xff).HopByHop(nil).
		ICMPv6(1, 4).Payload(ktPayload(48)).Bytes()
	add("ipv6_hbh_icmpv6_unreach", f, ktMACsDflt, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x000000ff","ipv6.tclass.dscp":63,"ipv6.tclass.ecn":3,"ipv6.flow":"0x000000",`+
			`"ipv6.plen":64,"ipv6.nxt":0,"ipv6.hlim":64,"ipv6.src":"2001:db8::1","ipv6.dst":"2001:db8::2"`,
		`"icmpv6.type":1,"icmpv6.code":4`)

	f = testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TOS(0xff).TTL(0).ICMP(11, 1).Payload(ktPayload(28)).Bytes()
	add("ipv4_icmp_time_exceeded", f, ktMACsDflt, ktEthIPv4,
		`"ip.version":4,"ip.hdr_len":20,"ip.dsfield":"0xff","ip.dsfield.dscp":63,"ip.dsfield.ecn":3,"ip.len":56,`+
			`"ip.id":"0x0000","ip.flags":"0x00","ip.flags.rb":false,"ip.flags.df":false,"ip.flags.mf":false,`+
			`"ip.frag_offset":0,"ip.ttl":0,"ip.proto":1,"ip.src":"10.0.0.1","ip.dst":"10.0.0.2"`,
		`"icmp.type":11,"icmp.code":1`)

	// Maximal values: every bit of every field set.
	f = testpkt.New().Eth("ff:ff:ff:ff:ff:ff", "ff:ff:ff:ff:ff:ff").
		VLAN(0x88a8, 7, true, 4095).VLAN(0x8100, 7, true, 4095).
		IPv4("255.255.255.255", "255.255.255.255").TOS(0xff).ID(0xffff).ReservedFlag().DF().TTL(255).
		TCP(65535, 65535).Seq(0xffffffff).Ack(0xffffffff).Flags(0xfff).Window(0xffff).Urgent(0xffff).Bytes()
	add("all_ones_tcp", f, `"eth.dst":"ff:ff:ff:ff:ff:ff","eth.src":"ff:ff:ff:ff:ff:ff","eth.type":"0x88a8"`,
		`"vlan.priority#1":7,"vlan.dei#1":true,"vlan.id#1":4095,"vlan.etype#1":"0x8100"`,
		`"vlan.priority#2":7,"vlan.dei#2":true,"vlan.id#2":4095,"vlan.etype#2":"0x0800"`,
		`"ip.version":4,"ip.hdr_len":20,"ip.dsfield":"0xff","ip.dsfield.dscp":63,"ip.dsfield.ecn":3,"ip.len":40,`+
			`"ip.id":"0xffff","ip.flags":"0x06","ip.flags.rb":true,"ip.flags.df":true,"ip.flags.mf":false,`+
			`"ip.frag_offset":0,"ip.ttl":255,"ip.proto":6,"ip.src":"255.255.255.255","ip.dst":"255.255.255.255"`,
		`"tcp.srcport":65535,"tcp.dstport":65535,"tcp.seq_raw":4294967295,"tcp.ack_raw":4294967295,"tcp.hdr_len":20,`+
			`"tcp.flags":"0x0fff","tcp.flags.res":true,"tcp.flags.ae":true,"tcp.flags.cwr":true,"tcp.flags.ece":true,`+
			`"tcp.flags.urg":true,"tcp.flags.ack":true,"tcp.flags.push":true,"tcp.flags.reset":true,"tcp.flags.syn":true,`+
			`"tcp.flags.fin":true,"tcp.window_size_value":65535,"tcp.urgent_pointer":65535,"tcp.len":0`)

	f = testpkt.New().IPv6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::").TrafficClass(0xff).FlowLabel(0xfffff).HopLimit(255).
		UDP(65535, 0).Bytes()
	add("ipv6_extremes_udp", f, ktMACsDflt, ktEthIPv6,
		`"ipv6.version":6,"ipv6.tclass":"0x000000ff","ipv6.tclass.dscp":63,"ipv6.tclass.ecn":3,"ipv6.flow":"0x0fffff",`+
			`"ipv6.plen":8,"ipv6.nxt":17,"ipv6.hlim":255,"ipv6.src":"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff","ipv6.dst":"::"`,
		`"udp.srcport":65535,"udp.dstport":0,"udp.length":8`)

	// QinQ with two 802.1Q tags, the inner one not drop eligible, and an
	// IPv4 first fragment: the transport header is there.
	f = testpkt.New().VLAN(testpkt.TPID8021Q, 1, true, 10).VLAN(testpkt.TPID8021Q, 2, false, 20).
		IPv4("10.0.0.1", "10.0.0.2").MF().ID(0x4321).TTL(9).UDP(67, 68).Payload(ktPayload(30)).Bytes()
	add("qinq8100_ipv4_first_fragment_udp", f, ktMACsDflt, `"eth.type":"0x8100"`,
		`"vlan.priority#1":1,"vlan.dei#1":true,"vlan.id#1":10,"vlan.etype#1":"0x8100"`,
		`"vlan.priority#2":2,"vlan.dei#2":false,"vlan.id#2":20,"vlan.etype#2":"0x0800"`,
		ktIPv4Want(20, 0, 58, 0x4321, 1, 0, 9, 17, "10.0.0.1", "10.0.0.2"), ktUDPWant(67, 68, 38))

	// No network layer.
	f = testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(ktPayload(28)).Bytes()
	add("arp", f, ktMACsDflt, `"eth.type":"0x0806"`)

	f = testpkt.New().EtherType(0x0600).Payload(ktPayload(46)).Bytes()
	add("ethertype_0600", f, ktMACsDflt, `"eth.type":"0x0600"`)

	// 802.3 length frames: no EtherType (below 0x0600), so eth.type is absent.
	f = testpkt.New().EtherType(0x0026).Payload(append([]byte{0x42, 0x42, 0x03}, ktPayload(35)...)).Bytes()
	add("ieee8023_llc", f, ktMACsDflt)

	f = testpkt.New().EtherType(0x05ff).Payload(ktPayload(46)).Bytes()
	add("ieee8023_05ff", f, ktMACsDflt)

	// An 802.3 frame inside a VLAN tag: the tag is there, the frame has no
	// EtherType after it.
	f = testpkt.New().VLAN(testpkt.TPID8021Q, 1, false, 10).EtherType(0x002e).Payload(ktPayload(46)).Bytes()
	add("vlan_ieee8023", f, ktMACsDflt, `"eth.type":"0x8100"`,
		`"vlan.priority#1":1,"vlan.dei#1":false,"vlan.id#1":10,"vlan.etype#1":"0x002e"`)

	return out
}

// ktBasicFrame returns the basic frame of that name.
func ktBasicFrame(name string) ktFrame {
	for _, fr := range ktBasicFrames() {
		if fr.Name == name {
			return fr
		}
	}
	panic("no basic frame " + name)
}

// TestKernelTablesCoverCatalogue keeps the frame tables honest as the
// catalogue grows: every field must be present in some basic frame (so the
// full operator matrix reaches its value) and absent in another, and every
// boolean must be seen both true and false.
func TestKernelTablesCoverCatalogue(t *testing.T) {
	seen := map[string]map[string]bool{} // field -> JSON values seen
	frames := append(ktBasicFrames(), ktHeaderFrames()...)
	for _, fr := range frames {
		want := ktWant(fr.Want)
		for _, name := range ktAllFields() {
			if seen[name] == nil {
				seen[name] = map[string]bool{}
			}
			v, ok := want[name]
			if !ok {
				v = json.RawMessage("null")
			}
			seen[name][string(v)] = true
		}
	}
	for _, name := range ktAllFields() {
		vals := seen[name]
		if f := ktField(name); f.Header == rules.HdrFrame || f.Header == rules.HdrEth && !f.Computed {
			vals["null"] = true // always there: a test run takes no frame shorter than 14 bytes
		}
		if len(vals) < 2 || !vals["null"] {
			t.Errorf("%s: values in the basic frames %v: want it present in one and absent in another", name, ktSortedKeys(vals))
		}
		if ktField(name).Type == rules.TypeBool && !(vals["true"] && vals["false"]) {
			t.Errorf("%s: values in the basic frames %v: want both true and false", name, ktSortedKeys(vals))
		}
	}
}
