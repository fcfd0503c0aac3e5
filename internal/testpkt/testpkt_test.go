package testpkt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decode decodes b as an Ethernet frame with gopacket and fails the test on
// a decoding error.
func decode(t *testing.T, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode frame: %v\n% x", el.Error(), b)
	}
	return p
}

// layerTypes lists the layer types of p, in order.
func layerTypes(p gopacket.Packet) []gopacket.LayerType {
	var ts []gopacket.LayerType
	for _, l := range p.Layers() {
		ts = append(ts, l.LayerType())
	}
	return ts
}

// checkGopacketChecksums verifies every checksum of p as gopacket computes
// it, the transport ones with the pseudo-header of p's network layer.
func checkGopacketChecksums(t *testing.T, p gopacket.Packet) {
	t.Helper()
	n := 0
	for _, l := range p.Layers() {
		var err error
		switch l := l.(type) {
		case *layers.TCP:
			err = l.SetNetworkLayerForChecksum(p.NetworkLayer())
		case *layers.UDP:
			err = l.SetNetworkLayerForChecksum(p.NetworkLayer())
		case *layers.ICMPv6:
			err = l.SetNetworkLayerForChecksum(p.NetworkLayer())
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(gopacket.LayerWithChecksum); ok {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no layer with a checksum in %v", layerTypes(p))
	}
	err, mismatches := p.VerifyChecksums()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mismatches {
		t.Errorf("gopacket: bad checksum in %v: got %#04x, want %#04x", m.Layer.LayerType(), m.Actual, m.Correct)
	}
}

// pseudoHeader builds the transport pseudo-header of RFC 9293 (IPv4) or RFC
// 8200 (IPv6) byte by byte, independently of the package's arithmetic.
func pseudoHeader(src, dst net.IP, proto uint8, n int) []byte {
	if s4, d4 := src.To4(), dst.To4(); s4 != nil && d4 != nil {
		b := append(append([]byte{}, s4...), d4...)
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	b := append(append([]byte{}, src.To16()...), dst.To16()...)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, 0, 0, 0, proto)
}

// checkSum verifies that data, with its checksum in it, sums to zero: the
// receiver's check of RFC 1071.
func checkSum(t *testing.T, what string, data ...[]byte) {
	t.Helper()
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	if c := Checksum(all); c != 0 {
		t.Errorf("%s does not sum to 0 (checksum of it all %#04x)", what, c)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func mustPanic(t *testing.T, what, contains string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
			return
		}
		if s, _ := r.(string); !strings.Contains(s, contains) {
			t.Errorf("%s: panic %v, want one containing %q", what, r, contains)
		}
	}()
	f()
}

func TestChecksum(t *testing.T) {
	// The example of RFC 1071 section 3: the sum of these words is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	eq(t, "Checksum", Checksum(b), ^uint16(0xddf2))
	eq(t, "Checksum of odd length", Checksum([]byte{0x01}), ^uint16(0x0100))
	eq(t, "Checksum of nothing", Checksum(nil), uint16(0xffff))
}

func TestEthernet(t *testing.T) {
	b := New().EtherType(0x88b5).Payload([]byte{1, 2, 3}).Bytes()
	want := []byte{
		0x02, 0, 0, 0, 0, 0x02, // dst
		0x02, 0, 0, 0, 0, 0x01, // src
		0x88, 0xb5, 1, 2, 3,
	}
	eq(t, "default frame", b, want)

	b = New().Eth("aa:bb:cc:dd:ee:ff", "11:22:33:44:55:66").EtherType(0x88b5).Bytes()
	eth := decode(t, b).Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	eq(t, "SrcMAC", eth.SrcMAC.String(), "aa:bb:cc:dd:ee:ff")
	eq(t, "DstMAC", eth.DstMAC.String(), "11:22:33:44:55:66")
	eq(t, "EthernetType", eth.EthernetType, layers.EthernetType(0x88b5))
	eq(t, "length", len(b), 14)
}

func TestEtherTypeARP(t *testing.T) {
	arp := []byte{
		0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet, IPv4, request
		0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
	}
	b := New().Eth("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").EtherType(EtherTypeARP).Payload(arp).PadTo(EthMinLen).Bytes()
	eq(t, "length", len(b), EthMinLen)
	a := decode(t, b).Layer(layers.LayerTypeARP).(*layers.ARP)
	eq(t, "Operation", a.Operation, uint16(layers.ARPRequest))
	eq(t, "SourceProtAddress", net.IP(a.SourceProtAddress).String(), "10.0.0.1")
	eq(t, "DstProtAddress", net.IP(a.DstProtAddress).String(), "10.0.0.2")
}

func TestEtherTypeOverridesNetworkLayer(t *testing.T) {
	// An 802.3 length where an IPv4 packet follows.
	b := New().EtherType(46).IPv4("10.0.0.1", "10.0.0.2").Bytes()
	eq(t, "EtherType", binary.BigEndian.Uint16(b[12:]), uint16(46))
	eq(t, "IP version", b[14]>>4, uint8(4))
}

func TestVLAN(t *testing.T) {
	b := New().VLAN(TPID8021Q, 3, true, 42).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes()
	eq(t, "raw tag", b[12:18], []byte{0x81, 0x00, 0x70, 0x2a, 0x08, 0x00})
	p := decode(t, b)
	eq(t, "layers", layerTypes(p), []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeDot1Q, layers.LayerTypeIPv4, layers.LayerTypeUDP,
	})
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	eq(t, "EthernetType", eth.EthernetType, layers.EthernetTypeDot1Q)
	tag := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	eq(t, "Priority", tag.Priority, uint8(3))
	eq(t, "DropEligible", tag.DropEligible, true)
	eq(t, "VLANIdentifier", tag.VLANIdentifier, uint16(42))
	eq(t, "Type", tag.Type, layers.EthernetTypeIPv4)
	checkGopacketChecksums(t, p)
}

func TestQinQ(t *testing.T) {
	b := New().
		VLAN(TPID8021AD, 5, false, 100).
		VLAN(TPID8021Q, 0, true, 4095).
		IPv6("2001:db8::1", "2001:db8::2").TCP(1, 2).
		Bytes()
	p := decode(t, b)
	eq(t, "layers", layerTypes(p), []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeDot1Q, layers.LayerTypeDot1Q, layers.LayerTypeIPv6, layers.LayerTypeTCP,
	})
	eq(t, "EthernetType", p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).EthernetType, layers.EthernetTypeQinQ)
	var tags []*layers.Dot1Q
	for _, l := range p.Layers() {
		if d, ok := l.(*layers.Dot1Q); ok {
			tags = append(tags, d)
		}
	}
	outer, inner := tags[0], tags[1]
	eq(t, "outer Priority", outer.Priority, uint8(5))
	eq(t, "outer DropEligible", outer.DropEligible, false)
	eq(t, "outer VLANIdentifier", outer.VLANIdentifier, uint16(100))
	eq(t, "outer Type", outer.Type, layers.EthernetTypeDot1Q)
	eq(t, "inner Priority", inner.Priority, uint8(0))
	eq(t, "inner DropEligible", inner.DropEligible, true)
	eq(t, "inner VLANIdentifier", inner.VLANIdentifier, uint16(4095))
	eq(t, "inner Type", inner.Type, layers.EthernetTypeIPv6)
	checkGopacketChecksums(t, p)
}

func TestIPv4TCP(t *testing.T) {
	payload := []byte("GET / HTTP/1.1\r\n\r\n")
	opts := []byte{
		2, 4, 0x05, 0xb4, // MSS 1460
		1,       // NOP
		3, 3, 7, // window scale 7
		4, 2, // SACK permitted
	}
	b := New().
		IPv4("192.0.2.1", "198.51.100.7").TTL(3).DSCP(46).ECN(1).ID(0xbeef).DF().
		TCP(40000, 80).Seq(0x01020304).Ack(0xa0b0c0d0).Flags(PSH | ACK).Window(1024).Urgent(7).Options(opts).
		Payload(payload).
		Bytes()
	p := decode(t, b)
	eq(t, "layers", layerTypes(p), []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP, gopacket.LayerTypePayload,
	})

	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	eq(t, "Version", ip.Version, uint8(4))
	eq(t, "IHL", ip.IHL, uint8(5))
	eq(t, "TOS", ip.TOS, uint8(46<<2|1))
	eq(t, "Length", int(ip.Length), 20+32+len(payload))
	eq(t, "Id", ip.Id, uint16(0xbeef))
	eq(t, "Flags", ip.Flags, layers.IPv4DontFragment)
	eq(t, "FragOffset", ip.FragOffset, uint16(0))
	eq(t, "TTL", ip.TTL, uint8(3))
	eq(t, "Protocol", ip.Protocol, layers.IPProtocolTCP)
	eq(t, "SrcIP", ip.SrcIP.String(), "192.0.2.1")
	eq(t, "DstIP", ip.DstIP.String(), "198.51.100.7")

	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	eq(t, "SrcPort", tcp.SrcPort, layers.TCPPort(40000))
	eq(t, "DstPort", tcp.DstPort, layers.TCPPort(80))
	eq(t, "Seq", tcp.Seq, uint32(0x01020304))
	eq(t, "Ack", tcp.Ack, uint32(0xa0b0c0d0))
	eq(t, "DataOffset", tcp.DataOffset, uint8(8))
	eq(t, "PSH", tcp.PSH, true)
	eq(t, "ACK", tcp.ACK, true)
	eq(t, "SYN", tcp.SYN || tcp.FIN || tcp.RST || tcp.URG || tcp.ECE || tcp.CWR || tcp.NS, false)
	eq(t, "Window", tcp.Window, uint16(1024))
	eq(t, "Urgent", tcp.Urgent, uint16(7))
	eq(t, "raw options", tcp.Contents[20:], append(append([]byte{}, opts...), 0, 0)) // padded with EOL
	eq(t, "option 0", tcp.Options[0].OptionType, layers.TCPOptionKindMSS)
	eq(t, "MSS", binary.BigEndian.Uint16(tcp.Options[0].OptionData), uint16(1460))
	eq(t, "option 2", tcp.Options[2].OptionType, layers.TCPOptionKindWindowScale)
	eq(t, "option 3", tcp.Options[3].OptionType, layers.TCPOptionKindSACKPermitted)
	eq(t, "payload", tcp.Payload, payload)

	checkGopacketChecksums(t, p)
	checkSum(t, "IPv4 header", ip.Contents)
	checkSum(t, "TCP segment", pseudoHeader(ip.SrcIP, ip.DstIP, 6, len(tcp.Contents)+len(tcp.Payload)), tcp.Contents, tcp.Payload)

	eq(t, "Bytes again", New().
		IPv4("192.0.2.1", "198.51.100.7").TTL(3).DSCP(46).ECN(1).ID(0xbeef).DF().
		TCP(40000, 80).Seq(0x01020304).Ack(0xa0b0c0d0).Flags(PSH|ACK).Window(1024).Urgent(7).Options(opts).
		Payload(payload).Bytes(), b)
}

func TestTCPFlags(t *testing.T) {
	type bits struct{ FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE bool }
	for _, tc := range []struct {
		flags TCPFlags
		want  bits
	}{
		{FIN, bits{FIN: true}},
		{SYN, bits{SYN: true}},
		{RST, bits{RST: true}},
		{PSH, bits{PSH: true}},
		{ACK, bits{ACK: true}},
		{URG, bits{URG: true}},
		{ECE, bits{ECE: true}},
		{CWR, bits{CWR: true}},
		{AE, bits{AE: true}},
		{SYN | ECE | CWR | AE, bits{SYN: true, ECE: true, CWR: true, AE: true}},
		{0x1ff, bits{true, true, true, true, true, true, true, true, true}},
	} {
		b := New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Flags(tc.flags).Bytes()
		p := decode(t, b)
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		got := bits{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG, tcp.ECE, tcp.CWR, tcp.NS}
		eq(t, fmt.Sprintf("flags %#x", uint16(tc.flags)), got, tc.want)
		eq(t, "raw flags", binary.BigEndian.Uint16(b[14+20+12:])&0xfff, uint16(tc.flags))
		checkGopacketChecksums(t, p)
	}
	// The 3 reserved bits next to AE.
	b := New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Flags(0xe00 | SYN).Bytes()
	eq(t, "byte 12", b[14+20+12], uint8(0x5e))
	eq(t, "byte 13", b[14+20+13], uint8(0x02))
}

func TestIPv4Options(t *testing.T) {
	rr := []byte{7, 7, 4, 0, 0, 0, 0} // record route with room for one address
	b := New().IPv4("10.0.0.1", "10.0.0.2").Options(rr).UDP(40001, 40002).Payload([]byte{0xab}).Bytes()
	p := decode(t, b)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	eq(t, "IHL", ip.IHL, uint8(7))
	eq(t, "Length", ip.Length, uint16(28+8+1))
	eq(t, "raw options", ip.Contents[20:], []byte{7, 7, 4, 0, 0, 0, 0, 0})
	eq(t, "option type", ip.Options[0].OptionType, uint8(7))
	eq(t, "option length", ip.Options[0].OptionLength, uint8(7))
	eq(t, "option data", ip.Options[0].OptionData, rr[2:])
	eq(t, "padding option", ip.Options[1].OptionType, uint8(0))
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	eq(t, "UDP Length", udp.Length, uint16(9))
	checkGopacketChecksums(t, p)
	checkSum(t, "IPv4 header", ip.Contents)

	// 40 bytes of options: the largest header.
	b = New().IPv4("10.0.0.1", "10.0.0.2").Options(bytes.Repeat([]byte{1}, 40)).UDP(1, 2).Bytes()
	ip = decode(t, b).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	eq(t, "IHL of 40 bytes of options", ip.IHL, uint8(15))
	checkSum(t, "IPv4 header", ip.Contents)
}

func TestIPv4SourceRoute(t *testing.T) {
	// A loose source route with one address left to visit: the transport
	// checksum covers the final destination, 10.9.9.9, not 10.0.0.2.
	lsrr := []byte{0x83, 11, 4, 10, 1, 1, 1, 10, 9, 9, 9}
	b := New().IPv4("10.0.0.1", "10.0.0.2").Options(append([]byte{1}, lsrr...)).TCP(1, 2).Flags(SYN).Bytes()
	p := decode(t, b)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	checkGopacketChecksums(t, p)
	checkSum(t, "TCP segment", pseudoHeader(ip.SrcIP, net.IP{10, 9, 9, 9}, 6, len(tcp.Contents)), tcp.Contents)

	// With the route used up (pointer past the end) the destination is final.
	lsrr[2] = 12
	b = New().IPv4("10.0.0.1", "10.0.0.2").Options(lsrr).TCP(1, 2).Bytes()
	p = decode(t, b)
	tcp = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	checkGopacketChecksums(t, p)
	checkSum(t, "TCP segment", pseudoHeader(net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}, 6, len(tcp.Contents)), tcp.Contents)
}

func TestIPv4Fragment(t *testing.T) {
	b := New().IPv4("10.0.0.1", "10.0.0.2").ID(7).MF().FragOffset(185).Proto(17).Payload(make([]byte, 16)).Bytes()
	ip := decode(t, b).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	eq(t, "Flags", ip.Flags, layers.IPv4MoreFragments)
	eq(t, "FragOffset", ip.FragOffset, uint16(185))
	eq(t, "raw flags and offset", binary.BigEndian.Uint16(b[14+6:]), uint16(0x2000|185))
	eq(t, "Protocol", ip.Protocol, layers.IPProtocolUDP)
	eq(t, "Id", ip.Id, uint16(7))
	eq(t, "Length", ip.Length, uint16(36))
	checkSum(t, "IPv4 header", ip.Contents)

	b = New().IPv4("10.0.0.1", "10.0.0.2").DF().MF().ReservedFlag().FragOffset(0x1fff).Bytes()
	eq(t, "raw flags and offset", binary.BigEndian.Uint16(b[14+6:]), uint16(0xffff))
}

func TestIPv4Overrides(t *testing.T) {
	base := func() *IPv4 { return New().IPv4("10.0.0.1", "10.0.0.2") }
	hdr := func(b []byte) []byte { return b[14:34] }

	b := base().IHL(4).UDP(1, 2).Bytes()
	eq(t, "byte 0 with IHL 4", b[14], uint8(0x44))
	eq(t, "UDP after 20 bytes", binary.BigEndian.Uint16(b[34:]), uint16(1))
	checkSum(t, "IPv4 header with IHL 4", hdr(b))

	b = base().IHL(15).Bytes()
	eq(t, "byte 0 with IHL 15", b[14], uint8(0x4f))
	eq(t, "length with IHL 15", len(b), 34)
	checkSum(t, "IPv4 header with IHL 15", hdr(b))

	// TSO-style capture: total length 0, which gopacket reads as "all".
	b = base().TotalLength(0).TCP(1, 2).Payload(make([]byte, 100)).Bytes()
	eq(t, "total length", binary.BigEndian.Uint16(b[16:]), uint16(0))
	p := decode(t, b)
	eq(t, "TCP payload", len(p.Layer(layers.LayerTypeTCP).LayerPayload()), 100)
	checkGopacketChecksums(t, p)

	b = base().TotalLength(1000).Bytes()
	eq(t, "total length", binary.BigEndian.Uint16(b[16:]), uint16(1000))
	eq(t, "frame length", len(b), 34)

	b = base().Proto(47).TCP(1, 2).Bytes()
	eq(t, "protocol", b[23], uint8(47))
	tcp := b[34:]
	checkSum(t, "TCP segment under a wrong protocol", pseudoHeader(net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}, 6, len(tcp)), tcp)

	b = base().Bytes()
	eq(t, "protocol without transport", b[23], uint8(253))

	b = base().Checksum(0x1234).Version(6).TOS(0xff).Bytes()
	eq(t, "checksum", binary.BigEndian.Uint16(b[24:]), uint16(0x1234))
	eq(t, "byte 0", b[14], uint8(0x65))
	eq(t, "TOS", b[15], uint8(0xff))
}

func TestUDP(t *testing.T) {
	payload := []byte("some query")
	for _, tc := range []struct {
		name string
		f    *Frame
	}{
		{"IPv4", New().IPv4("10.0.0.1", "10.0.0.2").Frame},
		{"IPv6", New().IPv6("fe80::1", "ff02::fb").Frame},
	} {
		b := tc.f.UDP(40001, 40002).Payload(payload).Bytes()
		p := decode(t, b)
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		eq(t, tc.name+" SrcPort", udp.SrcPort, layers.UDPPort(40001))
		eq(t, tc.name+" DstPort", udp.DstPort, layers.UDPPort(40002))
		eq(t, tc.name+" Length", int(udp.Length), 8+len(payload))
		eq(t, tc.name+" payload", udp.Payload, payload)
		if udp.Checksum == 0 {
			t.Errorf("%s: checksum 0", tc.name)
		}
		checkGopacketChecksums(t, p)
		net := p.NetworkLayer().NetworkFlow()
		checkSum(t, tc.name+" UDP datagram",
			pseudoHeader(net.Src().Raw(), net.Dst().Raw(), 17, len(udp.Contents)+len(udp.Payload)), udp.Contents, udp.Payload)
	}

	b := New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Length(100).Checksum(0).Bytes()
	eq(t, "UDP length", binary.BigEndian.Uint16(b[34+4:]), uint16(100))
	eq(t, "UDP checksum", binary.BigEndian.Uint16(b[34+6:]), uint16(0))
}

// TestUDPChecksumZero finds a datagram whose checksum computes to 0 and
// checks that it is sent as 0xffff.
func TestUDPChecksumZero(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		b := New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Payload([]byte{byte(i >> 8), byte(i)}).Bytes()
		if binary.BigEndian.Uint16(b[34+6:]) == 0xffff {
			checkGopacketChecksums(t, decode(t, b))
			return
		}
	}
	t.Fatal("no payload gives a checksum of 0xffff")
}

func TestICMP(t *testing.T) {
	data := []byte("ping data")
	b := New().IPv4("10.0.0.1", "10.0.0.2").ICMP(8, 0).Echo(0x1234, 9).Payload(data).Bytes()
	p := decode(t, b)
	eq(t, "Protocol", p.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Protocol, layers.IPProtocolICMPv4)
	icmp := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	eq(t, "Type", icmp.TypeCode.Type(), uint8(layers.ICMPv4TypeEchoRequest))
	eq(t, "Code", icmp.TypeCode.Code(), uint8(0))
	eq(t, "Id", icmp.Id, uint16(0x1234))
	eq(t, "Seq", icmp.Seq, uint16(9))
	eq(t, "payload", icmp.Payload, data)
	checkGopacketChecksums(t, p)
	checkSum(t, "ICMP message", icmp.Contents, icmp.Payload)

	// Destination unreachable, fragmentation needed, next-hop MTU 1400, the
	// head of the offending packet as body.
	inner := New().IPv4("10.0.0.2", "10.0.0.9").DF().UDP(1, 2).Bytes()[14 : 14+28]
	b = New().IPv4("10.0.0.254", "10.0.0.2").ICMP(3, 4).Rest(1400).Checksum(0xdead).Payload(inner).Bytes()
	icmp = decode(t, b).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	eq(t, "Type", icmp.TypeCode.Type(), uint8(3))
	eq(t, "Code", icmp.TypeCode.Code(), uint8(4))
	eq(t, "rest", binary.BigEndian.Uint32(icmp.Contents[4:]), uint32(1400))
	eq(t, "Checksum", icmp.Checksum, uint16(0xdead))
}

func TestICMPv6(t *testing.T) {
	data := []byte("ping6 data")
	b := New().IPv6("2001:db8::1", "2001:db8::2").ICMPv6(128, 0).Echo(77, 3).Payload(data).Bytes()
	p := decode(t, b)
	eq(t, "NextHeader", p.Layer(layers.LayerTypeIPv6).(*layers.IPv6).NextHeader, layers.IPProtocolICMPv6)
	icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	eq(t, "Type", icmp.TypeCode.Type(), uint8(layers.ICMPv6TypeEchoRequest))
	eq(t, "Code", icmp.TypeCode.Code(), uint8(0))
	echo := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
	eq(t, "Identifier", echo.Identifier, uint16(77))
	eq(t, "SeqNumber", echo.SeqNumber, uint16(3))
	eq(t, "payload", echo.Payload, data)
	checkGopacketChecksums(t, p)
	msg := b[14+40:]
	checkSum(t, "ICMPv6 message", pseudoHeader(net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"), 58, len(msg)), msg)

	b = New().IPv6("::1", "::2").ICMPv6(1, 4).Rest(0xffffffff).Checksum(1).Bytes()
	eq(t, "message", b[14+40:], []byte{1, 4, 0, 1, 0xff, 0xff, 0xff, 0xff})
}

func TestIPv6(t *testing.T) {
	b := New().IPv6("2001:db8::1", "2001:db8:0:1::2").TrafficClass(0xb8).FlowLabel(0xabcde).HopLimit(1).
		TCP(443, 50000).Flags(SYN | ACK | AE).Seq(1).Ack(2).
		Bytes()
	p := decode(t, b)
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	eq(t, "Version", ip.Version, uint8(6))
	eq(t, "TrafficClass", ip.TrafficClass, uint8(0xb8))
	eq(t, "FlowLabel", ip.FlowLabel, uint32(0xabcde))
	eq(t, "Length", ip.Length, uint16(20))
	eq(t, "NextHeader", ip.NextHeader, layers.IPProtocolTCP)
	eq(t, "HopLimit", ip.HopLimit, uint8(1))
	eq(t, "SrcIP", ip.SrcIP.String(), "2001:db8::1")
	eq(t, "DstIP", ip.DstIP.String(), "2001:db8:0:1::2")
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	eq(t, "flags", []bool{tcp.SYN, tcp.ACK, tcp.NS, tcp.FIN}, []bool{true, true, true, false})
	checkGopacketChecksums(t, p)
	checkSum(t, "TCP segment", pseudoHeader(ip.SrcIP, ip.DstIP, 6, len(tcp.Contents)), tcp.Contents)
}

// walkChain follows the Next Header fields of the IPv6 packet at ip by the
// length rules of RFC 8200 and RFC 4302, independently of gopacket, and
// returns the protocol numbers met, the last one that of the upper layer,
// and the offset of the upper layer.
func walkChain(t *testing.T, ip []byte) ([]uint8, int) {
	t.Helper()
	nh, off := ip[6], 40
	chain := []uint8{nh}
	for {
		var n int
		switch nh {
		case 0, 43, 60:
			n = (int(ip[off+1]) + 1) * 8
		case 44:
			n = 8
		case 51:
			n = (int(ip[off+1]) + 2) * 4
		default:
			eq(t, "payload length", int(binary.BigEndian.Uint16(ip[4:])), len(ip)-40)
			return chain, off
		}
		if n%8 != 0 {
			t.Errorf("extension header %d of %d bytes, not a multiple of 8", nh, n)
		}
		nh = ip[off]
		off += n
		chain = append(chain, nh)
	}
}

func TestIPv6ExtensionChain(t *testing.T) {
	routerAlert := []byte{5, 2, 0, 0}       // 6 bytes with the header: PadN of 2
	destOpt := []byte{0x1e, 1, 0xaa}        // 5 bytes with the header: PadN of 3
	destOpt2 := []byte{0x1e, 4, 1, 2, 3, 4} // 8 bytes with the header: no padding
	icv := bytes.Repeat([]byte{0x5a}, 12)   // HMAC-SHA1-96: 24 bytes of AH
	payload := []byte("data")
	build := func(fragment bool) []byte {
		ip := New().IPv6("2001:db8::1", "2001:db8::2").
			HopByHop(routerAlert).
			DestOpts(destOpt).
			Routing(4, 0, nil)
		if fragment {
			ip.Fragment(0, false, 0x01020304)
		}
		return ip.AH(0x1000, 5, icv).
			DestOpts(destOpt2).
			TCP(1, 2).Flags(ACK).
			Payload(payload).
			Bytes()
	}

	// gopacket stops at a Fragment header, so it decodes the whole chain
	// only without one.
	b := build(false)
	chain, off := walkChain(t, b[14:])
	eq(t, "chain", chain, []uint8{0, 60, 43, 51, 60, 6})
	eq(t, "TCP offset", off, 40+8+8+8+24+8)
	p := decode(t, b)
	eq(t, "layers", layerTypes(p), []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination,
		layers.LayerTypeIPv6Routing, layers.LayerTypeIPSecAH, layers.LayerTypeIPv6Destination,
		layers.LayerTypeTCP, gopacket.LayerTypePayload,
	})
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	eq(t, "NextHeader", ip.NextHeader, layers.IPProtocolIPv6HopByHop)
	eq(t, "Length", int(ip.Length), 8+8+8+24+8+20+len(payload))

	var got []string
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv6HopByHop:
			eq(t, "HopByHop HeaderLength", l.HeaderLength, uint8(0))
			eq(t, "HopByHop bytes", l.Contents[2:], []byte{5, 2, 0, 0, 1, 0})
			eq(t, "HopByHop option", l.Options[0].OptionType, uint8(5))
			eq(t, "HopByHop option data", l.Options[0].OptionData, []byte{0, 0})
			got = append(got, "HopByHop->"+l.NextHeader.String())
		case *layers.IPv6Destination:
			eq(t, "Destination HeaderLength", l.HeaderLength, uint8(0))
			eq(t, "Destination option", l.Options[0].OptionType, uint8(0x1e))
			got = append(got, "Destination->"+l.NextHeader.String())
		case *layers.IPv6Routing:
			eq(t, "RoutingType", l.RoutingType, uint8(4))
			eq(t, "SegmentsLeft", l.SegmentsLeft, uint8(0))
			eq(t, "Routing HeaderLength", l.HeaderLength, uint8(0))
			got = append(got, "Routing->"+l.NextHeader.String())
		case *layers.IPSecAH:
			eq(t, "AH HeaderLength", l.HeaderLength, uint8(4))
			eq(t, "SPI", l.SPI, uint32(0x1000))
			eq(t, "Seq", l.Seq, uint32(5))
			eq(t, "ICV", l.AuthenticationData, icv)
			got = append(got, "AH->"+l.NextHeader.String())
		}
	}
	eq(t, "chain", got, []string{
		"HopByHop->IPv6Destination",
		"Destination->IPv6Routing",
		"Routing->IPSecAH",
		"AH->IPv6Destination",
		"Destination->TCP",
	})
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	eq(t, "payload", tcp.Payload, payload)
	checkGopacketChecksums(t, p)
	checkSum(t, "TCP segment", pseudoHeader(ip.SrcIP, ip.DstIP, 6, len(tcp.Contents)+len(payload)), tcp.Contents, payload)

	// With a Fragment header: gopacket decodes up to it, and the rest from
	// the header after it.
	b = build(true)
	chain, off = walkChain(t, b[14:])
	eq(t, "chain", chain, []uint8{0, 60, 43, 44, 51, 60, 6})
	eq(t, "TCP offset", off, 40+8+8+8+8+24+8)
	p = decode(t, b)
	eq(t, "layers", layerTypes(p), []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination,
		layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment, gopacket.LayerTypeFragment,
	})
	fr := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	eq(t, "Fragment NextHeader", fr.NextHeader, layers.IPProtocolAH)
	eq(t, "FragmentOffset", fr.FragmentOffset, uint16(0))
	eq(t, "MoreFragments", fr.MoreFragments, false)
	eq(t, "Identification", fr.Identification, uint32(0x01020304))
	rest := gopacket.NewPacket(fr.Payload, layers.LayerTypeIPSecAH, gopacket.Default)
	if el := rest.ErrorLayer(); el != nil {
		t.Fatal(el.Error())
	}
	eq(t, "layers after the Fragment header", layerTypes(rest), []gopacket.LayerType{
		layers.LayerTypeIPSecAH, layers.LayerTypeIPv6Destination, layers.LayerTypeTCP, gopacket.LayerTypePayload,
	})
	ip = p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	seg := b[14+off:]
	checkSum(t, "TCP segment", pseudoHeader(ip.SrcIP, ip.DstIP, 6, len(seg)), seg)
}

func TestIPv6ExtensionPadding(t *testing.T) {
	for _, tc := range []struct {
		opts, want []byte
	}{
		{nil, []byte{1, 4, 0, 0, 0, 0}},                            // PadN of 6
		{[]byte{0x3e, 4, 0, 1, 0, 0}, []byte{0x3e, 4, 0, 1, 0, 0}}, // exactly 8
		{[]byte{1, 3, 0, 0, 0}, []byte{1, 3, 0, 0, 0, 0}},          // Pad1
		{bytes.Repeat([]byte{0}, 7), append(bytes.Repeat([]byte{0}, 7), 1, 5, 0, 0, 0, 0, 0)},
	} {
		b := New().IPv6("::1", "::2").HopByHop(tc.opts).UDP(1, 2).Bytes()
		h := b[14+40:]
		eq(t, "next header", h[0], uint8(17))
		eq(t, "Hdr Ext Len", int(h[1]), (2+len(tc.want))/8-1)
		eq(t, "options", h[2:2+len(tc.want)], tc.want)
		p := decode(t, b)
		checkGopacketChecksums(t, p)
	}

	// Routing data and AH ICVs are padded with zeros.
	b := New().IPv6("::1", "::2").Routing(253, 0, []byte{1, 2, 3, 4, 5}).AH(1, 2, bytes.Repeat([]byte{9}, 8)).Bytes()
	ext := b[14+40:]
	eq(t, "Routing", ext[:16], []byte{51, 1, 253, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0})
	eq(t, "AH", ext[16:], []byte{253, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0})
	eq(t, "payload length", binary.BigEndian.Uint16(b[14+4:]), uint16(40))
}

func TestIPv6Routing(t *testing.T) {
	mid, last := net.ParseIP("2001:db8::10"), net.ParseIP("2001:db8::20")
	src, dst := net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2")

	// Type 0: 4 reserved bytes, then the addresses; the final destination
	// is the last one.
	data := append(append(make([]byte, 4), mid...), last...)
	b := New().IPv6(src.String(), dst.String()).Routing(0, 2, data).TCP(1, 2).Bytes()
	p := decode(t, b)
	r := p.Layer(layers.LayerTypeIPv6Routing).(*layers.IPv6Routing)
	eq(t, "HeaderLength", r.HeaderLength, uint8(4))
	eq(t, "SegmentsLeft", r.SegmentsLeft, uint8(2))
	eq(t, "SourceRoutingIPs", r.SourceRoutingIPs, []net.IP{mid, last})
	checkGopacketChecksums(t, p)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	checkSum(t, "TCP segment", pseudoHeader(src, last, 6, len(tcp.Contents)), tcp.Contents)

	// Type 4 (segment routing): Last Entry, Flags, Tag, then the segment
	// list in reverse order; the final destination is the first segment.
	data = append(append([]byte{1, 0, 0, 0}, last...), mid...)
	b = New().IPv6(src.String(), mid.String()).Routing(4, 1, data).UDP(1, 2).Bytes()
	p = decode(t, b)
	r = p.Layer(layers.LayerTypeIPv6Routing).(*layers.IPv6Routing)
	eq(t, "RoutingType", r.RoutingType, uint8(4))
	eq(t, "Reserved", r.Reserved, data[:4])
	eq(t, "Data", r.Data, data[4:])
	checkGopacketChecksums(t, p)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	checkSum(t, "UDP datagram", pseudoHeader(src, last, 17, len(udp.Contents)), udp.Contents)

	// No segments left: the destination address is final.
	b = New().IPv6(src.String(), dst.String()).Routing(0, 0, data).ICMPv6(128, 0).Bytes()
	p = decode(t, b)
	checkGopacketChecksums(t, p)
	icmp := b[14+40+40:]
	checkSum(t, "ICMPv6 message", pseudoHeader(src, dst, 58, len(icmp)), icmp)
}

func TestIPv6Fragment(t *testing.T) {
	b := New().IPv6("2001:db8::1", "2001:db8::2").Fragment(185, true, 0xdeadbeef).Proto(17).Payload(make([]byte, 24)).Bytes()
	p := decode(t, b)
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	eq(t, "NextHeader", ip.NextHeader, layers.IPProtocolIPv6Fragment)
	eq(t, "Length", ip.Length, uint16(32))
	fr := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	eq(t, "NextHeader", fr.NextHeader, layers.IPProtocolUDP)
	eq(t, "FragmentOffset", fr.FragmentOffset, uint16(185))
	eq(t, "MoreFragments", fr.MoreFragments, true)
	eq(t, "Identification", fr.Identification, uint32(0xdeadbeef))
	eq(t, "Reserved", []uint8{fr.Reserved1, fr.Reserved2}, []uint8{0, 0})
	eq(t, "raw", b[14+40:14+48], []byte{17, 0, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef})

	b = New().IPv6("::1", "::2").Fragment(0x1fff, false, 1).Bytes()
	eq(t, "offset and M", binary.BigEndian.Uint16(b[14+42:]), uint16(0xfff8))
}

func TestIPv6Overrides(t *testing.T) {
	// NextHeader changes the fixed header only, Proto the end of the chain.
	b := New().IPv6("::1", "::2").NextHeader(59).Proto(99).DestOpts(nil).UDP(1, 2).Bytes()
	eq(t, "fixed header next header", b[14+6], uint8(59))
	eq(t, "last next header", b[14+40], uint8(99))
	udp := b[14+48:]
	checkSum(t, "UDP datagram under a wrong next header", pseudoHeader(net.ParseIP("::1"), net.ParseIP("::2"), 17, len(udp)), udp)

	// Without extension headers they name the same field; NextHeader wins.
	b = New().IPv6("::1", "::2").NextHeader(59).Proto(99).UDP(1, 2).Bytes()
	eq(t, "next header", b[14+6], uint8(59))
	b = New().IPv6("::1", "::2").Proto(99).UDP(1, 2).Bytes()
	eq(t, "next header", b[14+6], uint8(99))
	b = New().IPv6("::1", "::2").Bytes()
	eq(t, "next header without transport", b[14+6], uint8(253))

	b = New().IPv6("::1", "::2").PayloadLength(0).TCP(1, 2).Bytes()
	eq(t, "payload length", binary.BigEndian.Uint16(b[14+4:]), uint16(0))
	eq(t, "frame length", len(b), 14+40+20)

	b = New().IPv6("::1", "::2").Version(4).TrafficClass(0xff).FlowLabel(0xfffff).Bytes()
	eq(t, "first word", binary.BigEndian.Uint32(b[14:]), uint32(0x4fffffff))
}

func TestTCPOverrides(t *testing.T) {
	b := New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Options([]byte{2, 4, 5, 0xb4}).DataOffset(15).Checksum(0xbad).Bytes()
	tcp := b[34:]
	eq(t, "data offset", tcp[12]>>4, uint8(15))
	eq(t, "length", len(tcp), 24)
	eq(t, "checksum", binary.BigEndian.Uint16(tcp[16:]), uint16(0xbad))

	// The verification of the other tests does catch a wrong checksum.
	p := decode(t, New().IPv4("10.0.0.1", "10.0.0.2").Checksum(0xbad).TCP(1, 2).Checksum(0xbad).Bytes())
	for _, l := range p.Layers() {
		if l, ok := l.(*layers.TCP); ok {
			l.SetNetworkLayerForChecksum(p.NetworkLayer())
		}
	}
	err, mismatches := p.VerifyChecksums()
	if err != nil || len(mismatches) != 2 {
		t.Errorf("gopacket finds %d bad checksums (err %v), want 2", len(mismatches), err)
	}

	b = New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).DataOffset(2).Bytes()
	tcp = b[34:]
	eq(t, "data offset", tcp[12]>>4, uint8(2))
	checkSum(t, "TCP segment with a bogus data offset", pseudoHeader(net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}, 6, len(tcp)), tcp)
}

func TestPadTo(t *testing.T) {
	b := New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).PadTo(EthMinLen).Bytes()
	eq(t, "length", len(b), EthMinLen)
	eq(t, "trailer", b[42:], make([]byte, 18))
	p := decode(t, b)
	eq(t, "IPv4 Length", p.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Length, uint16(28))
	checkGopacketChecksums(t, p)

	b = New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Payload(make([]byte, 100)).PadTo(EthMinLen).Bytes()
	eq(t, "length of a longer frame", len(b), 142)
}

func TestTruncate(t *testing.T) {
	b := New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Bytes()
	for _, n := range []int{0, 13, 14, 33, 34, 53, len(b)} {
		c := Truncate(b, n)
		eq(t, "length", len(c), n)
		eq(t, "bytes", c, b[:n:n])
	}
	c := Truncate(b, 20)
	c[0] ^= 0xff
	if b[0] == c[0] {
		t.Error("Truncate does not copy")
	}

	// A frame cut in the middle of its TCP header.
	p := gopacket.NewPacket(Truncate(b, 40), layers.LayerTypeEthernet, gopacket.Default)
	if p.ErrorLayer() == nil || p.Metadata().Truncated != true {
		t.Errorf("gopacket does not see a frame cut in TCP as truncated: %v", layerTypes(p))
	}

	mustPanic(t, "Truncate past the end", "truncate", func() { Truncate(b, len(b)+1) })
	mustPanic(t, "Truncate to a negative length", "truncate", func() { Truncate(b, -1) })
}

func TestMisusePanics(t *testing.T) {
	v4 := func() *IPv4 { return New().IPv4("10.0.0.1", "10.0.0.2") }
	v6 := func() *IPv6 { return New().IPv6("::1", "::2") }
	for _, tc := range []struct {
		name, contains string
		f              func()
	}{
		{"bad MAC", "MAC", func() { New().Eth("aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff") }},
		{"EUI-64 MAC", "MAC", func() { New().Eth("aa:bb:cc:dd:ee:ff", "00:00:00:00:fe:80:00:00") }},
		{"bad IPv4", "IPv4 address", func() { New().IPv4("10.0.0", "10.0.0.2") }},
		{"IPv6 as IPv4", "IPv4 address", func() { New().IPv4("10.0.0.1", "::1") }},
		{"IPv4 as IPv6", "IPv6 address", func() { New().IPv6("10.0.0.1", "::1") }},
		{"IPv6 with zone", "IPv6 address", func() { New().IPv6("fe80::1%eth0", "::1") }},
		{"two network layers", "network layer", func() { v4().IPv6("::1", "::2") }},
		{"two transport layers", "transport layer", func() { v4().TCP(1, 2).UDP(1, 2) }},
		{"TCP without IP", "TCP needs", func() { New().TCP(1, 2) }},
		{"UDP without IP", "UDP needs", func() { New().UDP(1, 2) }},
		{"ICMP over IPv6", "ICMP needs", func() { v6().ICMP(8, 0) }},
		{"ICMPv6 over IPv4", "ICMPv6 needs", func() { v4().ICMPv6(128, 0) }},
		{"no EtherType", "EtherType", func() { New().Bytes() }},
		{"VLAN priority", "priority", func() { New().VLAN(TPID8021Q, 8, false, 1) }},
		{"VLAN identifier", "identifier", func() { New().VLAN(TPID8021Q, 0, false, 4096) }},
		{"IPv4 fragment offset", "offset", func() { v4().FragOffset(0x2000) }},
		{"IPv4 options", "options", func() { v4().Options(make([]byte, 41)) }},
		{"IHL", "IHL", func() { v4().IHL(16) }},
		{"DSCP", "DSCP", func() { v4().DSCP(64) }},
		{"ECN", "ECN", func() { v4().ECN(4) }},
		{"IPv4 too long", "TotalLength", func() { v4().Payload(make([]byte, 0x10000)).Bytes() }},
		{"flow label", "flow label", func() { v6().FlowLabel(0x100000) }},
		{"IPv6 fragment offset", "offset", func() { v6().Fragment(0x2000, false, 0) }},
		{"IPv6 too long", "PayloadLength", func() { v6().Payload(make([]byte, 0x10000)).Bytes() }},
		{"TCP flags", "flags", func() { v4().TCP(1, 2).Flags(0x1000) }},
		{"TCP options", "options", func() { v4().TCP(1, 2).Options(make([]byte, 41)) }},
		{"TCP data offset", "data offset", func() { v4().TCP(1, 2).DataOffset(16) }},
		{"UDP too long", "Length", func() { v4().TotalLength(0).UDP(1, 2).Payload(make([]byte, 0x10000)).Bytes() }},
		{"Hop-by-Hop too long", "too long", func() { v6().HopByHop(make([]byte, 2047)) }},
	} {
		mustPanic(t, tc.name, tc.contains, tc.f)
	}
}

func TestJumbo(t *testing.T) {
	// Overrides let lengths past 16 bits through: an IPv6 jumbogram.
	payload := make([]byte, 0x10000)
	jumbo := binary.BigEndian.AppendUint32([]byte{0xc2, 4}, uint32(8+8+len(payload)))
	b := New().IPv6("::1", "::2").PayloadLength(0).HopByHop(jumbo).UDP(1, 2).Length(0).Payload(payload).Bytes()
	p := decode(t, b)
	eq(t, "UDP payload", len(p.Layer(layers.LayerTypeUDP).LayerPayload()), len(payload))
	udp := b[14+40+8:]
	checkSum(t, "jumbo UDP datagram", pseudoHeader(net.ParseIP("::1"), net.ParseIP("::2"), 17, len(udp)), udp)
}
