// Package testpkt builds raw Ethernet frames, well-formed and malformed, for
// tests of hdrlog's packet programs.
//
// A frame is described by a chain of calls and serialized by Bytes:
//
//	b := testpkt.New().
//		VLAN(testpkt.TPID8021Q, 3, false, 42).
//		IPv4("10.0.0.1", "10.0.0.2").TTL(3).DF().
//		TCP(1234, 22).Flags(testpkt.SYN).Seq(1000).
//		Payload([]byte("hello")).
//		Bytes()
//
// New starts the frame. Eth, VLAN and EtherType set up the Ethernet header.
// At most one network layer (IPv4 or IPv6) and one transport layer (TCP,
// UDP, ICMP or ICMPv6) can be added, in that order; each returns a builder
// for the layer's fields. A layer builder embeds the *Frame it belongs to,
// so after the layer's own setters the chain goes on with the frame's
// methods: the next layer, Payload, PadTo or Bytes. Set a layer's fields
// right after adding it: once the chain is back on the frame, the layer's
// setters are out of reach.
//
// Bytes computes every length field (IPv4 total length and IHL, IPv6 payload
// length and extension header lengths, TCP data offset, UDP length) and
// every checksum (IPv4 header, TCP, UDP and ICMPv6 with the pseudo-header,
// ICMP) from what was built. Each of them can be overridden, which is how
// malformed frames are made: a bogus IHL, a total length of 0 as in captures
// of TSO packets, a protocol number that does not match the header that
// follows, a wrong checksum. Truncate cuts a frame short.
//
// The package is for tests, so misuse panics instead of returning errors: an
// address that does not parse, a field value that does not fit in its field,
// a second network or transport layer, a transport layer without a network
// layer that can carry it.
package testpkt

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// EtherTypes and VLAN tag protocol identifiers.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd

	TPID8021Q  uint16 = 0x8100 // IEEE 802.1Q customer VLAN tag
	TPID8021AD uint16 = 0x88a8 // IEEE 802.1ad service VLAN tag (outer tag of QinQ)
)

// EthMinLen is the length of the shortest Ethernet frame without its frame
// check sequence. Use it with PadTo to pad a frame as it is seen on a wire.
const EthMinLen = 60

// Frame is an Ethernet frame being built. Start one with New.
//
// The methods of a Frame change it and return it, so that calls can be
// chained. Bytes does not change the frame and can be called more than once.
type Frame struct {
	src, dst  [6]byte
	tags      []vlanTag
	etherType *uint16
	ip4       *IPv4
	ip6       *IPv6
	l4        transport
	payload   []byte
	padTo     int
}

type vlanTag struct {
	tpid, tci uint16
}

// transport is implemented by the transport layer builders.
type transport interface {
	// protocol is the IP protocol number of the layer.
	protocol() uint8
	// segment returns the layer's header followed by payload, with its
	// length and checksum fields filled in. pseudo returns the partial
	// (unfolded) sum of the IP pseudo-header for the given protocol number
	// and upper-layer length.
	segment(payload []byte, pseudo func(proto uint8, n int) uint64) []byte
}

// New starts an Ethernet frame from 02:00:00:00:00:01 to 02:00:00:00:00:02.
func New() *Frame {
	return &Frame{
		src: [6]byte{0x02, 0, 0, 0, 0, 0x01},
		dst: [6]byte{0x02, 0, 0, 0, 0, 0x02},
	}
}

// Eth sets the source and destination MAC addresses, written as
// "aa:bb:cc:dd:ee:ff". Note the order of the arguments: source first, as
// everywhere else in this package, while the frame has the destination first.
func (f *Frame) Eth(src, dst string) *Frame {
	f.src = parseMAC(src)
	f.dst = parseMAC(dst)
	return f
}

// VLAN pushes a VLAN tag with tag protocol identifier tpid (TPID8021Q or
// TPID8021AD; any other value is written as given), priority code point pcp
// (0-7), drop eligible indicator dei and VLAN identifier vid (0-4095). Tags
// are written in the order of the calls: for QinQ, push the outer tag first.
func (f *Frame) VLAN(tpid uint16, pcp uint8, dei bool, vid uint16) *Frame {
	if pcp > 7 {
		panicf("VLAN priority %d does not fit in 3 bits", pcp)
	}
	if vid > 0xfff {
		panicf("VLAN identifier %d does not fit in 12 bits", vid)
	}
	tci := uint16(pcp)<<13 | vid
	if dei {
		tci |= 1 << 12
	}
	f.tags = append(f.tags, vlanTag{tpid: tpid, tci: tci})
	return f
}

// EtherType overrides the EtherType after the MAC addresses and VLAN tags,
// which is otherwise that of the network layer. A frame without a network
// layer must have one: an 802.3 length, EtherTypeARP with the ARP packet as
// payload, and so on.
func (f *Frame) EtherType(t uint16) *Frame {
	f.etherType = &t
	return f
}

// Payload appends b to the bytes that follow the last header of the frame,
// wherever in the chain it is called. The bytes are copied.
func (f *Frame) Payload(b []byte) *Frame {
	f.payload = append(f.payload, b...)
	return f
}

// PadTo pads the frame with zero bytes to at least n bytes (EthMinLen for a
// frame as seen on a wire). The padding is an Ethernet trailer: it is not
// counted in the lengths and checksums of the layers above.
func (f *Frame) PadTo(n int) *Frame {
	f.padTo = n
	return f
}

// Bytes serializes the frame, computing the lengths and checksums that were
// not overridden.
func (f *Frame) Bytes() []byte {
	var (
		et   uint16
		body []byte
	)
	switch {
	case f.ip4 != nil:
		et, body = EtherTypeIPv4, f.ip4.build()
	case f.ip6 != nil:
		et, body = EtherTypeIPv6, f.ip6.build()
	default:
		if f.etherType == nil {
			panicf("frame without a network layer needs an EtherType")
		}
		body = f.payload
	}
	if f.etherType != nil {
		et = *f.etherType
	}
	b := make([]byte, 0, max(14+4*len(f.tags)+len(body), f.padTo))
	b = append(b, f.dst[:]...)
	b = append(b, f.src[:]...)
	for _, t := range f.tags {
		b = binary.BigEndian.AppendUint16(b, t.tpid)
		b = binary.BigEndian.AppendUint16(b, t.tci)
	}
	b = binary.BigEndian.AppendUint16(b, et)
	b = append(b, body...)
	for len(b) < f.padTo {
		b = append(b, 0)
	}
	return b
}

// upper returns what follows the network layer headers: the transport
// segment with the payload, or the payload alone.
func (f *Frame) upper(pseudo func(proto uint8, n int) uint64) []byte {
	if f.l4 == nil {
		return f.payload
	}
	return f.l4.segment(f.payload, pseudo)
}

// upperProto is the protocol number of what follows the network layer:
// override if set, else that of the transport layer, else 253 (reserved
// for experimentation and testing by RFC 3692).
func (f *Frame) upperProto(override *uint8) uint8 {
	switch {
	case override != nil:
		return *override
	case f.l4 != nil:
		return f.l4.protocol()
	default:
		return 253
	}
}

func (f *Frame) setL3() {
	if f.ip4 != nil || f.ip6 != nil {
		panicf("frame already has a network layer")
	}
}

func (f *Frame) setL4(t transport) {
	if f.l4 != nil {
		panicf("frame already has a transport layer")
	}
	f.l4 = t
}

// Truncate returns a copy of the first n bytes of b, for frames cut short.
// It panics unless 0 <= n <= len(b).
func Truncate(b []byte, n int) []byte {
	if n < 0 || n > len(b) {
		panicf("cannot truncate %d bytes to %d", len(b), n)
	}
	c := make([]byte, n)
	copy(c, b)
	return c
}

// Checksum returns the Internet checksum of b (RFC 1071): the ones'
// complement of the ones' complement sum of its 16-bit big-endian words, an
// odd last byte padded with zero. A header or segment that includes a
// correct checksum (and the pseudo-header, where there is one) sums to 0.
func Checksum(b []byte) uint16 {
	return ^fold(sum(0, b))
}

// sum adds the 16-bit big-endian words of b to s, without folding.
func sum(s uint64, b []byte) uint64 {
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds s into 16 bits with end-around carry.
func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func parseMAC(s string) [6]byte {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		panicf("bad MAC address %q", s)
	}
	return [6]byte(hw)
}

func parseIPv4(s string) [4]byte {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		panicf("bad IPv4 address %q", s)
	}
	return a.As4()
}

func parseIPv6(s string) [16]byte {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		panicf("bad IPv6 address %q", s)
	}
	return a.As16()
}

func panicf(format string, args ...any) {
	panic(fmt.Sprintf("testpkt: "+format, args...))
}
