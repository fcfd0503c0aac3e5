package testpkt

import "encoding/binary"

// IP protocol numbers of the headers this package builds.
const (
	protoHopByHop = 0
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoICMPv6   = 58
	protoDestOpts = 60
)

// IPv4 is the IPv4 header of a frame, returned by Frame.IPv4. Its setters
// return it; it embeds the frame, so the chain goes on with the frame's
// methods.
type IPv4 struct {
	*Frame
	src, dst [4]byte
	version  uint8
	tos      uint8
	id       uint16
	flags    uint8 // reserved, DF, MF from most to least significant
	fragOff  uint16
	ttl      uint8
	options  []byte
	proto    *uint8
	ihl      *uint8
	totalLen *uint16
	checksum *uint16
}

// IPv4 adds an IPv4 header from src to dst (dotted quads) with TTL 64 and
// every other field 0.
func (f *Frame) IPv4(src, dst string) *IPv4 {
	f.setL3()
	f.ip4 = &IPv4{Frame: f, src: parseIPv4(src), dst: parseIPv4(dst), version: 4, ttl: 64}
	return f.ip4
}

// Version overrides the version field (4), which must fit in 4 bits.
func (ip *IPv4) Version(v uint8) *IPv4 {
	ip.version = uint4(v, "IPv4 version")
	return ip
}

// TOS sets the whole type of service byte: DSCP and ECN.
func (ip *IPv4) TOS(tos uint8) *IPv4 {
	ip.tos = tos
	return ip
}

// DSCP sets the differentiated services code point (0-63), the upper 6 bits
// of the type of service byte.
func (ip *IPv4) DSCP(dscp uint8) *IPv4 {
	if dscp > 63 {
		panicf("DSCP %d does not fit in 6 bits", dscp)
	}
	ip.tos = dscp<<2 | ip.tos&3
	return ip
}

// ECN sets the explicit congestion notification codepoint (0-3), the lower 2
// bits of the type of service byte.
func (ip *IPv4) ECN(ecn uint8) *IPv4 {
	if ecn > 3 {
		panicf("ECN %d does not fit in 2 bits", ecn)
	}
	ip.tos = ip.tos&^3 | ecn
	return ip
}

// ID sets the identification field.
func (ip *IPv4) ID(id uint16) *IPv4 {
	ip.id = id
	return ip
}

// DF sets the don't fragment flag.
func (ip *IPv4) DF() *IPv4 {
	ip.flags |= 2
	return ip
}

// MF sets the more fragments flag.
func (ip *IPv4) MF() *IPv4 {
	ip.flags |= 1
	return ip
}

// ReservedFlag sets the reserved flag bit, which must be 0 on the wire
// (RFC 3514 has another opinion).
func (ip *IPv4) ReservedFlag() *IPv4 {
	ip.flags |= 4
	return ip
}

// FragOffset sets the fragment offset in 8-byte units: the raw 13-bit field,
// as Wireshark's ip.frag_offset shows it. An offset of 185 means the
// fragment starts at byte 1480 of the original payload.
func (ip *IPv4) FragOffset(off uint16) *IPv4 {
	if off > 0x1fff {
		panicf("IPv4 fragment offset %d does not fit in 13 bits", off)
	}
	ip.fragOff = off
	return ip
}

// TTL sets the time to live (default 64).
func (ip *IPv4) TTL(ttl uint8) *IPv4 {
	ip.ttl = ttl
	return ip
}

// Proto overrides the protocol field, which is otherwise that of the
// transport layer, or 253 (RFC 3692: experimentation and testing) if there
// is none. The transport layer is still written as added, and its
// checksum still computed with its own protocol number.
func (ip *IPv4) Proto(p uint8) *IPv4 {
	ip.proto = &p
	return ip
}

// Options sets the raw bytes of the IPv4 options. They are padded with zero
// bytes (End of Option List) to a multiple of 4 bytes, and the IHL counts
// them. At most 40 bytes fit.
func (ip *IPv4) Options(b []byte) *IPv4 {
	if len(b) > 40 {
		panicf("%d bytes of IPv4 options do not fit in 40", len(b))
	}
	ip.options = padZero(b, 4)
	return ip
}

// IHL overrides the header length field (in 4-byte units, 0-15), which is
// otherwise computed from the options. Only the field changes: the header
// is still written with the options set, and its checksum computed over
// them.
func (ip *IPv4) IHL(n uint8) *IPv4 {
	n = uint4(n, "IPv4 IHL")
	ip.ihl = &n
	return ip
}

// TotalLength overrides the total length field, which is otherwise the
// length of the header and everything after it. Captures of packets sent
// with TCP segmentation offload have 0 there.
func (ip *IPv4) TotalLength(n uint16) *IPv4 {
	ip.totalLen = &n
	return ip
}

// Checksum overrides the header checksum.
func (ip *IPv4) Checksum(c uint16) *IPv4 {
	ip.checksum = &c
	return ip
}

// finalDst is the destination of the transport pseudo-header: the last
// address of a loose or strict source route option with addresses left to
// visit (its pointer not past its end), else the destination address.
func (ip *IPv4) finalDst() []byte {
	o := ip.options
	for len(o) > 0 {
		switch o[0] {
		case 0: // End of Option List
			return ip.dst[:]
		case 1: // No Operation
			o = o[1:]
			continue
		}
		if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
			return ip.dst[:]
		}
		n := int(o[1])
		if (o[0] == 0x83 || o[0] == 0x89) && n >= 7 && int(o[2]) <= n {
			return o[n-4 : n]
		}
		o = o[n:]
	}
	return ip.dst[:]
}

func (ip *IPv4) build() []byte {
	src, dst := ip.src[:], ip.finalDst()
	upper := ip.upper(func(proto uint8, n int) uint64 {
		return sum(sum(uint64(proto)+uint64(n), src), dst)
	})
	hlen := 20 + len(ip.options)
	h := make([]byte, hlen, hlen+len(upper))
	ihl := uint8(hlen / 4)
	if ip.ihl != nil {
		ihl = *ip.ihl
	}
	total := hlen + len(upper)
	if ip.totalLen != nil {
		total = int(*ip.totalLen)
	} else if total > 0xffff {
		panicf("IPv4 packet of %d bytes is too long; override its TotalLength", total)
	}
	h[0] = ip.version<<4 | ihl
	h[1] = ip.tos
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	binary.BigEndian.PutUint16(h[4:], ip.id)
	binary.BigEndian.PutUint16(h[6:], uint16(ip.flags)<<13|ip.fragOff)
	h[8] = ip.ttl
	h[9] = ip.upperProto(ip.proto)
	copy(h[12:], ip.src[:])
	copy(h[16:], ip.dst[:])
	copy(h[20:], ip.options)
	c := Checksum(h)
	if ip.checksum != nil {
		c = *ip.checksum
	}
	binary.BigEndian.PutUint16(h[10:], c)
	return append(h, upper...)
}

// IPv6 is the IPv6 header of a frame and its extension headers, returned by
// Frame.IPv6. Its setters return it; it embeds the frame, so the chain goes
// on with the frame's methods.
//
// The extension headers are chained in the order of the calls that add
// them, whether or not RFC 8200 allows that order: every Next Header field
// names the header that follows it, the last one the transport layer.
type IPv6 struct {
	*Frame
	src, dst   [16]byte
	version    uint8
	tc         uint8
	flow       uint32
	hopLimit   uint8
	exts       []extHeader
	nextHeader *uint8
	proto      *uint8
	payloadLen *uint16
}

// extHeader is an extension header, complete but for its Next Header field
// (always the first byte).
type extHeader struct {
	proto uint8
	b     []byte
}

// IPv6 adds an IPv6 header from src to dst with hop limit 64 and every other
// field 0.
func (f *Frame) IPv6(src, dst string) *IPv6 {
	f.setL3()
	f.ip6 = &IPv6{Frame: f, src: parseIPv6(src), dst: parseIPv6(dst), version: 6, hopLimit: 64}
	return f.ip6
}

// Version overrides the version field (6), which must fit in 4 bits.
func (ip *IPv6) Version(v uint8) *IPv6 {
	ip.version = uint4(v, "IPv6 version")
	return ip
}

// TrafficClass sets the traffic class (DSCP and ECN).
func (ip *IPv6) TrafficClass(tc uint8) *IPv6 {
	ip.tc = tc
	return ip
}

// FlowLabel sets the flow label, which must fit in 20 bits.
func (ip *IPv6) FlowLabel(fl uint32) *IPv6 {
	if fl > 0xfffff {
		panicf("IPv6 flow label %#x does not fit in 20 bits", fl)
	}
	ip.flow = fl
	return ip
}

// HopLimit sets the hop limit (default 64).
func (ip *IPv6) HopLimit(h uint8) *IPv6 {
	ip.hopLimit = h
	return ip
}

// NextHeader overrides the Next Header field of the fixed IPv6 header: the
// first link of the chain. Without extension headers this is the same field
// as Proto sets, and NextHeader wins.
func (ip *IPv6) NextHeader(nh uint8) *IPv6 {
	ip.nextHeader = &nh
	return ip
}

// Proto overrides the last Next Header of the chain, the one naming the
// upper layer, which is otherwise the protocol number of the transport
// layer, or 253 (RFC 3692: experimentation and testing) if there is none.
// The transport layer is still written as added, and its checksum still
// computed with its own protocol number.
func (ip *IPv6) Proto(p uint8) *IPv6 {
	ip.proto = &p
	return ip
}

// PayloadLength overrides the payload length field, which is otherwise the
// length of the extension headers and everything after them. Use 0 with a
// Jumbo Payload option in a Hop-by-Hop header for jumbograms.
func (ip *IPv6) PayloadLength(n uint16) *IPv6 {
	ip.payloadLen = &n
	return ip
}

// HopByHop adds a Hop-by-Hop Options header with the raw TLV-encoded
// options opts, padded with a Pad1 or PadN option to a multiple of 8 bytes
// (RFC 8200 section 4.3).
func (ip *IPv6) HopByHop(opts []byte) *IPv6 {
	ip.exts = append(ip.exts, extHeader{protoHopByHop, optionsHeader(opts, "Hop-by-Hop")})
	return ip
}

// DestOpts adds a Destination Options header with the raw TLV-encoded
// options opts, padded with a Pad1 or PadN option to a multiple of 8 bytes
// (RFC 8200 section 4.6).
func (ip *IPv6) DestOpts(opts []byte) *IPv6 {
	ip.exts = append(ip.exts, extHeader{protoDestOpts, optionsHeader(opts, "Destination Options")})
	return ip
}

// Routing adds a Routing header of type typ with segLeft segments left and
// the type-specific data data, which starts at byte 4 of the header (RFC
// 8200 section 4.4): for type 0, 4 reserved bytes and the addresses; for a
// segment routing header (type 4, RFC 8754), Last Entry, Flags, Tag and the
// segment list. The data is padded with zero bytes to make the header a
// multiple of 8 bytes.
//
// While segLeft is not 0, the final destination used in the transport
// pseudo-header is the last address of a type 0 or 2 header and the first
// segment of a type 4 header (RFC 8200 section 8.1).
func (ip *IPv6) Routing(typ, segLeft uint8, data []byte) *IPv6 {
	b := padZero(append([]byte{0, 0, typ, segLeft}, data...), 8)
	b[1] = extLen(len(b), "Routing")
	ip.exts = append(ip.exts, extHeader{protoRouting, b})
	return ip
}

// Fragment adds a Fragment header with fragment offset off in 8-byte units
// (the raw 13-bit field), the M (more fragments) flag more and the
// identification id (RFC 8200 section 4.5).
func (ip *IPv6) Fragment(off uint16, more bool, id uint32) *IPv6 {
	if off > 0x1fff {
		panicf("IPv6 fragment offset %d does not fit in 13 bits", off)
	}
	b := make([]byte, 8)
	om := off << 3
	if more {
		om |= 1
	}
	binary.BigEndian.PutUint16(b[2:], om)
	binary.BigEndian.PutUint32(b[4:], id)
	ip.exts = append(ip.exts, extHeader{protoFragment, b})
	return ip
}

// AH adds an IP Authentication Header with security parameters index spi,
// sequence number seq and integrity check value icv, padded with zero
// bytes to make the header a multiple of 8 bytes as IPv6 requires. Its
// Payload Len counts 4-byte units minus 2 (RFC 4302 section 2.2).
func (ip *IPv6) AH(spi, seq uint32, icv []byte) *IPv6 {
	b := make([]byte, 12, 12+len(icv))
	binary.BigEndian.PutUint32(b[4:], spi)
	binary.BigEndian.PutUint32(b[8:], seq)
	b = padZero(append(b, icv...), 8)
	if len(b)/4-2 > 0xff {
		panicf("AH with %d bytes of ICV is too long", len(icv))
	}
	b[1] = uint8(len(b)/4 - 2)
	ip.exts = append(ip.exts, extHeader{protoAH, b})
	return ip
}

// finalDst is the destination of the transport pseudo-header: that of the
// first Routing header with segments left, if it has an address, else the
// destination address.
func (ip *IPv6) finalDst() []byte {
	for _, e := range ip.exts {
		if e.proto != protoRouting || e.b[3] == 0 {
			continue
		}
		n := (len(e.b) - 8) / 16
		if n == 0 {
			break
		}
		switch e.b[2] {
		case 0, 2:
			return e.b[8+(n-1)*16 : 8+n*16]
		case 4:
			return e.b[8:24]
		}
		break
	}
	return ip.dst[:]
}

func (ip *IPv6) build() []byte {
	src, dst := ip.src[:], ip.finalDst()
	upper := ip.upper(func(proto uint8, n int) uint64 {
		return sum(sum(uint64(proto)+uint64(n), src), dst)
	})
	proto := ip.upperProto(ip.proto)
	var chain []byte
	for i, e := range ip.exts {
		start := len(chain)
		chain = append(chain, e.b...)
		if i+1 < len(ip.exts) {
			chain[start] = ip.exts[i+1].proto
		} else {
			chain[start] = proto
		}
	}
	nh := proto
	if len(ip.exts) > 0 {
		nh = ip.exts[0].proto
	}
	if ip.nextHeader != nil {
		nh = *ip.nextHeader
	}
	plen := len(chain) + len(upper)
	if ip.payloadLen != nil {
		plen = int(*ip.payloadLen)
	} else if plen > 0xffff {
		panicf("IPv6 payload of %d bytes is too long; override its PayloadLength", plen)
	}
	h := make([]byte, 40, 40+len(chain)+len(upper))
	binary.BigEndian.PutUint32(h, uint32(ip.version)<<28|uint32(ip.tc)<<20|ip.flow)
	binary.BigEndian.PutUint16(h[4:], uint16(plen))
	h[6] = nh
	h[7] = ip.hopLimit
	copy(h[8:], ip.src[:])
	copy(h[24:], ip.dst[:])
	return append(append(h, chain...), upper...)
}

// optionsHeader builds a Hop-by-Hop or Destination Options header, but for
// its Next Header field.
func optionsHeader(opts []byte, name string) []byte {
	b := append([]byte{0, 0}, opts...)
	switch pad := (8 - len(b)%8) % 8; pad {
	case 0:
	case 1:
		b = append(b, 0) // Pad1
	default:
		b = append(b, 1, uint8(pad-2)) // PadN
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = extLen(len(b), name)
	return b
}

// extLen is the Hdr Ext Len of an extension header of n bytes: 8-byte units
// not counting the first.
func extLen(n int, name string) uint8 {
	if n/8-1 > 0xff {
		panicf("%s header of %d bytes is too long", name, n)
	}
	return uint8(n/8 - 1)
}

// padZero returns a copy of b padded with zero bytes to a multiple of n
// bytes.
func padZero(b []byte, n int) []byte {
	p := make([]byte, (len(b)+n-1)/n*n)
	copy(p, b)
	return p
}

func uint4(v uint8, name string) uint8 {
	if v > 15 {
		panicf("%s %d does not fit in 4 bits", name, v)
	}
	return v
}
