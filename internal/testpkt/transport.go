package testpkt

import "encoding/binary"

// TCPFlags are the flag bits of a TCP header: the 8 bits of byte 13 and, as
// bits 8 to 11, the low nibble of byte 12 (AE and 3 reserved bits).
type TCPFlags uint16

// TCP flags.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
	AE // Accurate ECN, formerly NS (ECN nonce, RFC 3540)
)

// TCP is the TCP header of a frame, returned by Frame.TCP. Its setters
// return it; it embeds the frame, so the chain goes on with the frame's
// methods.
type TCP struct {
	*Frame
	sport, dport uint16
	seq, ack     uint32
	flags        TCPFlags
	window       uint16
	urgent       uint16
	options      []byte
	dataOff      *uint8
	checksum     *uint16
}

// TCP adds a TCP header from port sport to port dport, with window 65535
// and every other field 0. It needs an IPv4 or IPv6 layer.
func (f *Frame) TCP(sport, dport uint16) *TCP {
	if f.ip4 == nil && f.ip6 == nil {
		panicf("TCP needs an IPv4 or IPv6 layer")
	}
	t := &TCP{Frame: f, sport: sport, dport: dport, window: 65535}
	f.setL4(t)
	return t
}

// Seq sets the sequence number.
func (t *TCP) Seq(seq uint32) *TCP {
	t.seq = seq
	return t
}

// Ack sets the acknowledgment number. It does not set the ACK flag.
func (t *TCP) Ack(ack uint32) *TCP {
	t.ack = ack
	return t
}

// Flags sets the flags, for example SYN|ACK, replacing those set before.
// They must fit in 12 bits.
func (t *TCP) Flags(fl TCPFlags) *TCP {
	if fl > 0xfff {
		panicf("TCP flags %#x do not fit in 12 bits", uint16(fl))
	}
	t.flags = fl
	return t
}

// Window sets the window (default 65535).
func (t *TCP) Window(w uint16) *TCP {
	t.window = w
	return t
}

// Urgent sets the urgent pointer.
func (t *TCP) Urgent(p uint16) *TCP {
	t.urgent = p
	return t
}

// Options sets the raw bytes of the TCP options. They are padded with zero
// bytes (End of Option List) to a multiple of 4 bytes, and the data offset
// counts them. At most 40 bytes fit.
func (t *TCP) Options(b []byte) *TCP {
	if len(b) > 40 {
		panicf("%d bytes of TCP options do not fit in 40", len(b))
	}
	t.options = padZero(b, 4)
	return t
}

// DataOffset overrides the data offset field (in 4-byte units, 0-15),
// which is otherwise computed from the options. Only the field changes:
// the header is still written with the options set.
func (t *TCP) DataOffset(n uint8) *TCP {
	n = uint4(n, "TCP data offset")
	t.dataOff = &n
	return t
}

// Checksum overrides the checksum.
func (t *TCP) Checksum(c uint16) *TCP {
	t.checksum = &c
	return t
}

func (t *TCP) protocol() uint8 { return protoTCP }

func (t *TCP) segment(payload []byte, pseudo func(uint8, int) uint64) []byte {
	hlen := 20 + len(t.options)
	b := make([]byte, hlen, hlen+len(payload))
	off := uint8(hlen / 4)
	if t.dataOff != nil {
		off = *t.dataOff
	}
	binary.BigEndian.PutUint16(b[0:], t.sport)
	binary.BigEndian.PutUint16(b[2:], t.dport)
	binary.BigEndian.PutUint32(b[4:], t.seq)
	binary.BigEndian.PutUint32(b[8:], t.ack)
	b[12] = off<<4 | uint8(t.flags>>8)
	b[13] = uint8(t.flags)
	binary.BigEndian.PutUint16(b[14:], t.window)
	binary.BigEndian.PutUint16(b[18:], t.urgent)
	copy(b[20:], t.options)
	b = append(b, payload...)
	c := ^fold(sum(pseudo(protoTCP, len(b)), b))
	if t.checksum != nil {
		c = *t.checksum
	}
	binary.BigEndian.PutUint16(b[16:], c)
	return b
}

// UDP is the UDP header of a frame, returned by Frame.UDP. Its setters
// return it; it embeds the frame, so the chain goes on with the frame's
// methods.
type UDP struct {
	*Frame
	sport, dport uint16
	length       *uint16
	checksum     *uint16
}

// UDP adds a UDP header from port sport to port dport. It needs an IPv4 or
// IPv6 layer.
func (f *Frame) UDP(sport, dport uint16) *UDP {
	if f.ip4 == nil && f.ip6 == nil {
		panicf("UDP needs an IPv4 or IPv6 layer")
	}
	u := &UDP{Frame: f, sport: sport, dport: dport}
	f.setL4(u)
	return u
}

// Length overrides the length field, which is otherwise the length of the
// header and payload.
func (u *UDP) Length(n uint16) *UDP {
	u.length = &n
	return u
}

// Checksum overrides the checksum. Over IPv4, 0 means no checksum. A
// computed checksum of 0 is sent as 0xffff (RFC 768).
func (u *UDP) Checksum(c uint16) *UDP {
	u.checksum = &c
	return u
}

func (u *UDP) protocol() uint8 { return protoUDP }

func (u *UDP) segment(payload []byte, pseudo func(uint8, int) uint64) []byte {
	b := make([]byte, 8, 8+len(payload))
	b = append(b, payload...)
	n := len(b)
	if u.length != nil {
		n = int(*u.length)
	} else if n > 0xffff {
		panicf("UDP datagram of %d bytes is too long; override its Length", n)
	}
	binary.BigEndian.PutUint16(b[0:], u.sport)
	binary.BigEndian.PutUint16(b[2:], u.dport)
	binary.BigEndian.PutUint16(b[4:], uint16(n))
	// The pseudo-header carries the length of the datagram as sent, which
	// is what a receiver sums when the length field lies.
	c := ^fold(sum(pseudo(protoUDP, len(b)), b))
	if c == 0 {
		c = 0xffff
	}
	if u.checksum != nil {
		c = *u.checksum
	}
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

// ICMP is the ICMP (for IPv4) header of a frame, returned by Frame.ICMP. Its
// setters return it; it embeds the frame, so the chain goes on with the
// frame's methods.
type ICMP struct {
	*Frame
	icmpHeader
}

// ICMP adds an ICMP header of type typ and code code, with the rest of the
// header 0. The message body, such as echo data or the header of the
// packet in error, is the frame's payload. It needs an IPv4 layer.
func (f *Frame) ICMP(typ, code uint8) *ICMP {
	if f.ip4 == nil {
		panicf("ICMP needs an IPv4 layer (use ICMPv6 over IPv6)")
	}
	i := &ICMP{Frame: f, icmpHeader: icmpHeader{typ: typ, code: code, proto: protoICMP}}
	f.setL4(i)
	return i
}

// Echo sets the rest of the header to the identifier and sequence number
// of an echo request or reply.
func (i *ICMP) Echo(id, seq uint16) *ICMP {
	i.rest = uint32(id)<<16 | uint32(seq)
	return i
}

// Rest sets the 4 bytes of the header after the checksum, whose meaning
// depends on the type.
func (i *ICMP) Rest(r uint32) *ICMP {
	i.rest = r
	return i
}

// Checksum overrides the checksum, which is otherwise computed over the
// ICMP message alone: ICMP for IPv4 has no pseudo-header.
func (i *ICMP) Checksum(c uint16) *ICMP {
	i.checksum = &c
	return i
}

// ICMPv6 is the ICMPv6 header of a frame, returned by Frame.ICMPv6. Its
// setters return it; it embeds the frame, so the chain goes on with the
// frame's methods.
type ICMPv6 struct {
	*Frame
	icmpHeader
}

// ICMPv6 adds an ICMPv6 header of type typ and code code, with the rest of
// the header 0. The message body is the frame's payload. It needs an IPv6
// layer.
func (f *Frame) ICMPv6(typ, code uint8) *ICMPv6 {
	if f.ip6 == nil {
		panicf("ICMPv6 needs an IPv6 layer (use ICMP over IPv4)")
	}
	i := &ICMPv6{Frame: f, icmpHeader: icmpHeader{typ: typ, code: code, proto: protoICMPv6}}
	f.setL4(i)
	return i
}

// Echo sets the rest of the header to the identifier and sequence number
// of an echo request or reply.
func (i *ICMPv6) Echo(id, seq uint16) *ICMPv6 {
	i.rest = uint32(id)<<16 | uint32(seq)
	return i
}

// Rest sets the 4 bytes of the header after the checksum, whose meaning
// depends on the type.
func (i *ICMPv6) Rest(r uint32) *ICMPv6 {
	i.rest = r
	return i
}

// Checksum overrides the checksum, which is otherwise computed over the
// pseudo-header and the ICMPv6 message.
func (i *ICMPv6) Checksum(c uint16) *ICMPv6 {
	i.checksum = &c
	return i
}

// icmpHeader is the header common to ICMP and ICMPv6.
type icmpHeader struct {
	typ, code uint8
	rest      uint32
	proto     uint8
	checksum  *uint16
}

func (h *icmpHeader) protocol() uint8 { return h.proto }

func (h *icmpHeader) segment(payload []byte, pseudo func(uint8, int) uint64) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = h.typ
	b[1] = h.code
	binary.BigEndian.PutUint32(b[4:], h.rest)
	b = append(b, payload...)
	var s uint64
	if h.proto == protoICMPv6 {
		s = pseudo(protoICMPv6, len(b))
	}
	c := ^fold(sum(s, b))
	if h.checksum != nil {
		c = *h.checksum
	}
	binary.BigEndian.PutUint16(b[2:], c)
	return b
}
