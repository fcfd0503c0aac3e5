package compiler_test

// Frame classes: IPv4 header lengths, IPv6 extension-header chains, VLAN
// tags, fragments and malformed headers, each with what hdrlog must see. The
// expected members come from the values the frames are built with.

import (
	"fmt"
	"strings"

	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// ktIPv4Want is the expectation of the IPv4 fields for a header built with
// these values (flags: reserved, DF, MF from most to least significant).
func ktIPv4Want(hdrLen int, tos uint8, ipLen int, id uint16, flags uint8, fragOff, ttl, proto int, src, dst string) string {
	return fmt.Sprintf(`"ip.version":4,"ip.hdr_len":%d,"ip.dsfield":"0x%02x","ip.dsfield.dscp":%d,"ip.dsfield.ecn":%d,`+
		`"ip.len":%d,"ip.id":"0x%04x","ip.flags":"0x%02x","ip.flags.rb":%t,"ip.flags.df":%t,"ip.flags.mf":%t,`+
		`"ip.frag_offset":%d,"ip.ttl":%d,"ip.proto":%d,"ip.src":%q,"ip.dst":%q`,
		hdrLen, tos, tos>>2, tos&3, ipLen, id, flags, flags&4 != 0, flags&2 != 0, flags&1 != 0, fragOff, ttl, proto, src, dst)
}

// ktIPv6Want is the expectation of the IPv6 fields.
func ktIPv6Want(tclass uint8, flow uint32, plen, nxt, hlim int, src, dst string) string {
	return fmt.Sprintf(`"ipv6.version":6,"ipv6.tclass":"0x%08x","ipv6.tclass.dscp":%d,"ipv6.tclass.ecn":%d,`+
		`"ipv6.flow":"0x%06x","ipv6.plen":%d,"ipv6.nxt":%d,"ipv6.hlim":%d,"ipv6.src":%q,"ipv6.dst":%q`,
		tclass, tclass>>2, tclass&3, flow, plen, nxt, hlim, src, dst)
}

// ktTCPWant is the expectation of the TCP fields; tcpLen < 0 means tcp.len
// is absent.
func ktTCPWant(sport, dport int, seq, ack uint32, hdrLen int, flags testpkt.TCPFlags, window, urgent, tcpLen int) string {
	s := fmt.Sprintf(`"tcp.srcport":%d,"tcp.dstport":%d,"tcp.seq_raw":%d,"tcp.ack_raw":%d,"tcp.hdr_len":%d,`+
		`"tcp.flags":"0x%04x","tcp.flags.res":%t,"tcp.flags.ae":%t,"tcp.flags.cwr":%t,"tcp.flags.ece":%t,`+
		`"tcp.flags.urg":%t,"tcp.flags.ack":%t,"tcp.flags.push":%t,"tcp.flags.reset":%t,"tcp.flags.syn":%t,`+
		`"tcp.flags.fin":%t,"tcp.window_size_value":%d,"tcp.urgent_pointer":%d`,
		sport, dport, seq, ack, hdrLen, uint16(flags), flags&0xe00 != 0, flags&testpkt.AE != 0, flags&testpkt.CWR != 0,
		flags&testpkt.ECE != 0, flags&testpkt.URG != 0, flags&testpkt.ACK != 0, flags&testpkt.PSH != 0,
		flags&testpkt.RST != 0, flags&testpkt.SYN != 0, flags&testpkt.FIN != 0, window, urgent)
	if tcpLen >= 0 {
		s += fmt.Sprintf(`,"tcp.len":%d`, tcpLen)
	}
	return s
}

func ktUDPWant(sport, dport, length int) string {
	return fmt.Sprintf(`"udp.srcport":%d,"udp.dstport":%d,"udp.length":%d`, sport, dport, length)
}

// ktTCPSyn is the TCP header most frames below carry: 20 bytes, SYN.
func ktTCPSyn(tcpLen int) string {
	return ktTCPWant(1111, 2222, 100, 0, 20, testpkt.SYN, 65535, 0, tcpLen)
}

// ktIHLFrames: IPv4 without options (IHL 5) and with every option length
// (IHL 6..15), TCP after them.
func ktIHLFrames() []ktFrame {
	var out []ktFrame
	for ihl := 5; ihl <= 15; ihl++ {
		opts := make([]byte, 4*(ihl-5))
		for i := range opts {
			opts[i] = 1 // NOP
		}
		if len(opts) > 0 {
			opts[len(opts)-1] = 0 // End of Option List
		}
		f := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Options(opts).
			TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
		out = append(out, ktFrame{
			Name:  fmt.Sprintf("ipv4_ihl%d_tcp", ihl),
			Bytes: f,
			Want: ktObj(f, ktMACsDflt, ktEthIPv4,
				ktIPv4Want(4*ihl, 0, 4*ihl+23, 0, 0, 0, 64, 6, "10.0.0.1", "10.0.0.2"), ktTCPSyn(3)),
		})
	}
	return out
}

// ktIPv6ChainFrames: extension-header chains of every kind and length,
// ending in each transport.
func ktIPv6ChainFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, append([]string{ktMACsDflt, ktEthIPv6}, want...)...)})
	}
	const a, b = "2001:db8::1", "2001:db8::2"
	chain := func() *testpkt.IPv6 {
		return testpkt.New().IPv6(a, b).
			HopByHop([]byte{5, 2, 0, 0}).Routing(0, 0, make([]byte, 4)).DestOpts(nil).
			Fragment(0, true, 1).AH(9, 9, make([]byte, 4))
	}
	// 8 + 8 + 8 + 8 + 16 bytes of extension headers.
	const chainLen = 48

	f := chain().TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	add("ipv6_chain5_tcp", f, ktIPv6Want(0, 0, chainLen+23, 0, 64, a, b), ktTCPSyn(3))

	f = chain().UDP(7, 9).Payload(ktPayload(4)).Bytes()
	add("ipv6_chain5_udp", f, ktIPv6Want(0, 0, chainLen+12, 0, 64, a, b), ktUDPWant(7, 9, 12))

	f = chain().ICMPv6(135, 0).Payload(ktPayload(16)).Bytes()
	add("ipv6_chain5_icmpv6", f, ktIPv6Want(0, 0, chainLen+24, 0, 64, a, b), `"icmpv6.type":135,"icmpv6.code":0,"icmpv6.nd.ns.target_address":"a5a5:a5a5:a5a5:a5a5:a5a5:a5a5:a5a5:a5a5"`)

	// Chains of 0 to 9 destination options headers: the walk is bounded at
	// 8 extension headers (compiler.MaxExtHeaders); a longer chain has no
	// transport layer.
	for n := 0; n <= 9; n++ {
		ip := testpkt.New().IPv6(a, b)
		for i := 0; i < n; i++ {
			ip = ip.DestOpts(nil)
		}
		f := ip.TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
		nxt := 60
		if n == 0 {
			nxt = 6
		}
		tcp := ktTCPSyn(3)
		if n > 8 {
			tcp = ""
		}
		add(fmt.Sprintf("ipv6_dstopts%d_tcp", n), f, ktIPv6Want(0, 0, 8*n+23, nxt, 64, a, b), tcp)
	}

	// Long extension headers: options of 200 bytes (length field 25), AH
	// with a 60-byte ICV (length field 16).
	f = testpkt.New().IPv6(a, b).HopByHop(make([]byte, 204)).AH(1, 1, make([]byte, 60)).
		UDP(1, 2).Bytes()
	add("ipv6_long_ext_udp", f, ktIPv6Want(0, 0, 208+72+8, 0, 64, a, b), ktUDPWant(1, 2, 8))

	// A routing header with segments left: the pseudo-header changes, the
	// walk does not.
	f = testpkt.New().IPv6(a, b).Routing(0, 1, append(make([]byte, 4), netipBytes("2001:db8::99")...)).
		ICMPv6(129, 0).Echo(3, 4).Bytes()
	add("ipv6_routing_segleft_icmpv6", f, ktIPv6Want(0, 0, 24+8, 43, 64, a, b), `"icmpv6.type":129,"icmpv6.code":0,"icmpv6.echo.identifier":"0x0003","icmpv6.echo.sequence_number":4`)

	// Chains that end in something hdrlog does not decode.
	f = testpkt.New().IPv6(a, b).DestOpts(nil).Proto(59).UDP(1, 2).Bytes()
	add("ipv6_no_next_header", f, ktIPv6Want(0, 0, 16, 60, 64, a, b))
	f = testpkt.New().IPv6(a, b).NextHeader(50).UDP(1, 2).Bytes()
	add("ipv6_esp", f, ktIPv6Want(0, 0, 8, 50, 64, a, b))

	// ICMP belongs to IPv4 and ICMPv6 to IPv6, whatever the next header says.
	f = testpkt.New().IPv6(a, b).Proto(1).ICMPv6(8, 0).Bytes()
	add("ipv6_carrying_icmp", f, ktIPv6Want(0, 0, 8, 1, 64, a, b))

	// An unknown extension header after a known one stops the walk.
	f = testpkt.New().IPv6(a, b).HopByHop(nil).Proto(253).TCP(1, 2).Bytes()
	add("ipv6_hbh_experimental", f, ktIPv6Want(0, 0, 28, 0, 64, a, b))
	return out
}

// netipBytes returns the 16 bytes of an IPv6 address.
func netipBytes(s string) []byte {
	var out []byte
	for _, part := range strings.Split(expandIPv6(s), ":") {
		var v uint16
		fmt.Sscanf(part, "%x", &v)
		out = append(out, byte(v>>8), byte(v))
	}
	return out
}

// expandIPv6 writes an address with all eight groups.
func expandIPv6(s string) string {
	head, tail, found := strings.Cut(s, "::")
	h := strings.Split(head, ":")
	if !found {
		return s
	}
	t := []string{}
	if tail != "" {
		t = strings.Split(tail, ":")
	}
	if head == "" {
		h = nil
	}
	mid := make([]string, 8-len(h)-len(t))
	for i := range mid {
		mid[i] = "0"
	}
	return strings.Join(append(append(h, mid...), t...), ":")
}

// ktVLANFrames: tags of both kinds, one, two and three of them.
func ktVLANFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, append([]string{ktMACsDflt}, want...)...)})
	}
	ip := ktIPv4Want(20, 0, 43, 0, 0, 0, 64, 6, "10.0.0.1", "10.0.0.2")
	tag := func(layer int, pcp int, dei bool, id int, etype uint16) string {
		return fmt.Sprintf(`"vlan.priority#%d":%d,"vlan.dei#%d":%t,"vlan.id#%d":%d,"vlan.etype#%d":"0x%04x"`,
			layer, pcp, layer, dei, layer, id, layer, etype)
	}
	tcp := func(fr *testpkt.Frame) []byte {
		return fr.IPv4("10.0.0.1", "10.0.0.2").TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	}

	f := tcp(testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 0))
	add("vlan_priority_tagged", f, `"eth.type":"0x8100"`, tag(1, 0, false, 0, 0x0800), ip, ktTCPSyn(3))

	f = tcp(testpkt.New().VLAN(testpkt.TPID8021AD, 2, true, 1))
	add("vlan_8021ad_single", f, `"eth.type":"0x88a8"`, tag(1, 2, true, 1, 0x0800), ip, ktTCPSyn(3))

	f = tcp(testpkt.New().VLAN(testpkt.TPID8021Q, 1, false, 10).VLAN(testpkt.TPID8021Q, 2, false, 20))
	add("vlan_8100_8100", f, `"eth.type":"0x8100"`, tag(1, 1, false, 10, 0x8100), tag(2, 2, false, 20, 0x0800), ip, ktTCPSyn(3))

	f = tcp(testpkt.New().VLAN(testpkt.TPID8021AD, 7, false, 3000).VLAN(testpkt.TPID8021Q, 4, true, 5))
	add("qinq_tcp", f, `"eth.type":"0x88a8"`, tag(1, 7, false, 3000, 0x8100), tag(2, 4, true, 5, 0x0800), ip, ktTCPSyn(3))

	f = testpkt.New().VLAN(testpkt.TPID8021AD, 0, false, 100).IPv6("2001:db8::1", "2001:db8::2").UDP(1, 2).Bytes()
	add("vlan_ipv6_udp", f, `"eth.type":"0x88a8"`, tag(1, 0, false, 100, 0x86dd),
		ktIPv6Want(0, 0, 8, 17, 64, "2001:db8::1", "2001:db8::2"), ktUDPWant(1, 2, 8))

	// Three tags: hdrlog decodes two; what follows the second is neither
	// IPv4 nor IPv6.
	f = tcp(testpkt.New().VLAN(testpkt.TPID8021AD, 1, false, 1).VLAN(testpkt.TPID8021Q, 2, false, 2).VLAN(testpkt.TPID8021Q, 3, false, 3))
	add("vlan_three_tags", f, `"eth.type":"0x88a8"`, tag(1, 1, false, 1, 0x8100), tag(2, 2, false, 2, 0x8100))
	return out
}

// ktFragmentFrames: first fragments carry the transport header, the others
// do not (whatever their bytes look like); the IP header is there in all.
func ktFragmentFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, append([]string{ktMACsDflt}, want...)...)})
	}
	const a, b = "10.0.0.1", "10.0.0.2"
	v4 := func(fn func(*testpkt.IPv4) *testpkt.IPv4) []byte {
		return fn(testpkt.New().IPv4(a, b).ID(0x77)).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	}
	// tcp.len comes from ip.len, the length of the fragment.
	f := v4(func(ip *testpkt.IPv4) *testpkt.IPv4 { return ip.MF() })
	add("ipv4_first_fragment", f, ktEthIPv4, ktIPv4Want(20, 0, 43, 0x77, 1, 0, 64, 6, a, b), ktTCPSyn(3))
	f = v4(func(ip *testpkt.IPv4) *testpkt.IPv4 { return ip.MF().FragOffset(185) })
	add("ipv4_middle_fragment", f, ktEthIPv4, ktIPv4Want(20, 0, 43, 0x77, 1, 185, 64, 6, a, b))
	f = v4(func(ip *testpkt.IPv4) *testpkt.IPv4 { return ip.FragOffset(1) })
	add("ipv4_last_fragment_offset1", f, ktEthIPv4, ktIPv4Want(20, 0, 43, 0x77, 0, 1, 64, 6, a, b))
	f = v4(func(ip *testpkt.IPv4) *testpkt.IPv4 { return ip.DF().FragOffset(0x1fff) })
	add("ipv4_fragment_offset_max", f, ktEthIPv4, ktIPv4Want(20, 0, 43, 0x77, 2, 0x1fff, 64, 6, a, b))
	f = testpkt.New().IPv4(a, b).MF().FragOffset(2).UDP(53, 53).Payload(ktPayload(8)).Bytes()
	add("ipv4_middle_fragment_udp", f, ktEthIPv4, ktIPv4Want(20, 0, 36, 0, 1, 2, 64, 17, a, b))
	f = testpkt.New().IPv4(a, b).FragOffset(100).ICMP(8, 0).Bytes()
	add("ipv4_last_fragment_icmp", f, ktEthIPv4, ktIPv4Want(20, 0, 28, 0, 0, 100, 64, 1, a, b))

	const c, d = "2001:db8::1", "2001:db8::2"
	f = testpkt.New().IPv6(c, d).Fragment(0, true, 5).UDP(53, 53).Payload(ktPayload(8)).Bytes()
	add("ipv6_first_fragment", f, ktEthIPv6, ktIPv6Want(0, 0, 24, 44, 64, c, d), ktUDPWant(53, 53, 16))
	f = testpkt.New().IPv6(c, d).Fragment(0, false, 5).UDP(53, 53).Bytes()
	add("ipv6_atomic_fragment", f, ktEthIPv6, ktIPv6Want(0, 0, 16, 44, 64, c, d), ktUDPWant(53, 53, 8))
	f = testpkt.New().IPv6(c, d).Fragment(185, false, 5).UDP(53, 53).Payload(ktPayload(8)).Bytes()
	add("ipv6_last_fragment", f, ktEthIPv6, ktIPv6Want(0, 0, 24, 44, 64, c, d))
	f = testpkt.New().IPv6(c, d).HopByHop(nil).Fragment(1, true, 5).TCP(1, 2).Bytes()
	add("ipv6_middle_fragment_after_hbh", f, ktEthIPv6, ktIPv6Want(0, 0, 36, 0, 64, c, d))
	f = testpkt.New().IPv6(c, d).Fragment(0x1fff, true, 5).ICMPv6(128, 0).Bytes()
	add("ipv6_fragment_offset_max_icmpv6", f, ktEthIPv6, ktIPv6Want(0, 0, 16, 44, 64, c, d))
	return out
}

// ktMalformedFrames: headers whose fields contradict each other. What is
// present follows compiler/parse.go: a bogus version or a header length
// below 20 bytes is no IPv4 header at all; a total length below the header
// length (but not 0) leaves the IP header and no transport; a total length
// of 0 (TSO) leaves the transport but not tcp.len; a TCP data offset that
// does not fit leaves TCP but not tcp.len.
func ktMalformedFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, append([]string{ktMACsDflt}, want...)...)})
	}
	const a, b = "10.0.0.1", "10.0.0.2"
	tcp := func(ip *testpkt.IPv4) []byte {
		return ip.TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	}
	f := tcp(testpkt.New().IPv4(a, b).Version(5))
	add("ipv4_version5", f, ktEthIPv4)
	f = tcp(testpkt.New().IPv4(a, b).Version(6))
	add("ipv4_ethertype_version6", f, ktEthIPv4)
	f = tcp(testpkt.New().IPv4(a, b).IHL(4))
	add("ipv4_ihl4", f, ktEthIPv4)
	f = tcp(testpkt.New().IPv4(a, b).IHL(0))
	add("ipv4_ihl0", f, ktEthIPv4)

	f = tcp(testpkt.New().IPv4(a, b).TotalLength(19))
	add("ipv4_len_below_ihl", f, ktEthIPv4, ktIPv4Want(20, 0, 19, 0, 0, 0, 64, 6, a, b))
	f = tcp(testpkt.New().IPv4(a, b).Options(make([]byte, 8)).TotalLength(24))
	add("ipv4_len_below_options", f, ktEthIPv4, ktIPv4Want(28, 0, 24, 0, 0, 0, 64, 6, a, b))

	f = tcp(testpkt.New().IPv4(a, b).TotalLength(0))
	add("ipv4_len0_tso", f, ktEthIPv4, ktIPv4Want(20, 0, 0, 0, 0, 0, 64, 6, a, b), ktTCPSyn(-1))
	// A total length larger than the frame: tcp.len counts the bytes the
	// frame has on the wire, as in Wireshark (the IP payload is cut at the
	// IP length, never past the frame). A test run's frame is whole.
	f = tcp(testpkt.New().IPv4(a, b).TotalLength(1500))
	add("ipv4_len_beyond_frame", f, ktEthIPv4, ktIPv4Want(20, 0, 1500, 0, 0, 0, 64, 6, a, b), ktTCPSyn(3))
	f = testpkt.New().IPv4(a, b).TotalLength(65535).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Bytes()
	add("ipv4_len_65535_54_bytes", f, ktEthIPv4, ktIPv4Want(20, 0, 65535, 0, 0, 0, 64, 6, a, b), ktTCPSyn(0))
	f = testpkt.New().IPv4(a, b).TotalLength(65535).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).DataOffset(15).Bytes()
	add("ipv4_len_beyond_frame_tcp_header_too", f, ktEthIPv4, ktIPv4Want(20, 0, 65535, 0, 0, 0, 64, 6, a, b),
		ktTCPWant(1111, 2222, 100, 0, 60, testpkt.SYN, 65535, 0, -1))

	f = testpkt.New().IPv4(a, b).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).DataOffset(4).Payload([]byte("abc")).Bytes()
	add("tcp_data_offset4", f, ktEthIPv4, ktIPv4Want(20, 0, 43, 0, 0, 0, 64, 6, a, b),
		ktTCPWant(1111, 2222, 100, 0, 16, testpkt.SYN, 65535, 0, -1))
	f = testpkt.New().IPv4(a, b).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).DataOffset(15).Payload(ktPayload(20)).Bytes()
	add("tcp_data_offset_beyond_ip_len", f, ktEthIPv4, ktIPv4Want(20, 0, 60, 0, 0, 0, 64, 6, a, b),
		ktTCPWant(1111, 2222, 100, 0, 60, testpkt.SYN, 65535, 0, -1))
	f = testpkt.New().IPv4(a, b).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Options(make([]byte, 40)).Payload([]byte("abc")).Bytes()
	add("tcp_data_offset15", f, ktEthIPv4, ktIPv4Want(20, 0, 83, 0, 0, 0, 64, 6, a, b),
		ktTCPWant(1111, 2222, 100, 0, 60, testpkt.SYN, 65535, 0, 3))

	f = testpkt.New().IPv4(a, b).Proto(58).ICMP(128, 0).Bytes()
	add("ipv4_carrying_icmpv6", f, ktEthIPv4, ktIPv4Want(20, 0, 28, 0, 0, 0, 64, 58, a, b))

	const c, d = "2001:db8::1", "2001:db8::2"
	f = testpkt.New().IPv6(c, d).Version(4).UDP(1, 2).Bytes()
	add("ipv6_ethertype_version4", f, ktEthIPv6)
	// A jumbogram's payload length is 0: the transport is there, its
	// length is not known from the fixed header.
	f = testpkt.New().IPv6(c, d).PayloadLength(0).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	add("ipv6_plen0_tcp", f, ktEthIPv6, ktIPv6Want(0, 0, 0, 6, 64, c, d), ktTCPSyn(-1))
	f = testpkt.New().IPv6(c, d).PayloadLength(1000).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	add("ipv6_plen_beyond_frame", f, ktEthIPv6, ktIPv6Want(0, 0, 1000, 6, 64, c, d), ktTCPSyn(3))
	f = testpkt.New().IPv6(c, d).PayloadLength(60000).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Bytes()
	add("ipv6_plen_60000_74_bytes", f, ktEthIPv6, ktIPv6Want(0, 0, 60000, 6, 64, c, d), ktTCPSyn(0))
	return out
}

// ktLengthBoundFrames: IP length fields that end before the transport
// header does, the frame going on (with the bytes of a transport header, or
// with Ethernet padding). As in Wireshark, which cuts the IP payload at the
// IP length (packet-ip.c: set_actual_length), the transport header is not
// there: reading it would take the padding, or bytes that belong to no
// packet, for header fields ("malformed packets never match on garbage",
// DESIGN.md).
func ktLengthBoundFrames() []ktFrame {
	var out []ktFrame
	add := func(name string, f []byte, want ...string) {
		out = append(out, ktFrame{Name: name, Bytes: f, Want: ktObj(f, append([]string{ktMACsDflt}, want...)...)})
	}
	const a, b = "10.0.0.1", "10.0.0.2"
	f := testpkt.New().IPv4(a, b).TotalLength(20).TCP(1111, 2222).Seq(100).Flags(testpkt.SYN).Payload([]byte("abc")).Bytes()
	add("ipv4_len_covers_no_transport", f, ktEthIPv4, ktIPv4Want(20, 0, 20, 0, 0, 0, 64, 6, a, b))
	f = testpkt.New().IPv4(a, b).TotalLength(24).UDP(53, 53).Payload(ktPayload(8)).Bytes()
	add("ipv4_len_cuts_udp", f, ktEthIPv4, ktIPv4Want(20, 0, 24, 0, 0, 0, 64, 17, a, b))
	// A bare IPv4 header saying TCP follows, padded to the Ethernet minimum.
	f = testpkt.New().IPv4(a, b).Proto(6).PadTo(testpkt.EthMinLen).Bytes()
	add("ipv4_padding_is_no_tcp", f, ktEthIPv4, ktIPv4Want(20, 0, 20, 0, 0, 0, 64, 6, a, b))

	const c, d = "2001:db8::1", "2001:db8::2"
	f = testpkt.New().IPv6(c, d).PayloadLength(4).UDP(53, 53).Bytes()
	add("ipv6_plen_cuts_udp", f, ktEthIPv6, ktIPv6Want(0, 0, 4, 17, 64, c, d))
	f = testpkt.New().IPv6(c, d).DestOpts(nil).PayloadLength(8).TCP(1111, 2222).Bytes()
	add("ipv6_plen_covers_ext_only", f, ktEthIPv6, ktIPv6Want(0, 0, 8, 60, 64, c, d))
	return out
}
