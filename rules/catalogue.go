package rules

import (
	"sort"
	"strings"
)

// Type is the type of a field's value, after Wireshark's field types.
type Type uint8

const (
	TypeUint   Type = iota // FT_UINT8/16/24/32
	TypeBool               // FT_BOOLEAN
	TypeIPv4               // FT_IPv4
	TypeIPv6               // FT_IPv6
	TypeMAC                // FT_ETHER
	TypeProto              // FT_PROTOCOL: a protocol name, usable only as an existence test
	TypeString             // FT_STRING: bytes of an L7 header (l7.go)
	TypeBytes              // FT_BYTES: a payload (payload.go)
)

var typeNames = [...]string{"unsigned integer", "boolean", "IPv4 address", "IPv6 address", "MAC address", "protocol", "string", "byte string"}

func (t Type) String() string { return typeNames[t] }

// Base is how an integer field is rendered (Wireshark's display base).
type Base int

const (
	BaseDec Base = iota
	BaseHex      // rendered as 0x%0*x, like tshark -T fields
	// BaseSeconds is a time interval held in microseconds, rendered and
	// written in seconds (0.000250), like Wireshark's FT_RELATIVE_TIME.
	BaseSeconds
)

// Header is the packet header a field lives in. A field is present in a
// packet exactly when its header is (plus, for a few computed fields, a
// condition of their own).
type Header int

const (
	HdrFrame Header = iota
	HdrEth
	HdrVLAN
	HdrIPv4
	HdrIPv6
	HdrTCP
	HdrUDP
	HdrICMP
	HdrICMPv6
	HdrHTTP // L7 headers (l7.go): decoded from the transport payload
	HdrDNS
	HdrTLS
	HdrSyscall // system-call events (syscall.go): the calling thread
	HdrFd      // a system call's socket address
	HdrARP
	HdrSCTP
	HdrGRE
	HdrVXLAN
	HdrICMPv6Echo // ICMPv6 echo request and reply bodies
	HdrICMPv6NS   // neighbour solicitation
	HdrICMPv6NA   // neighbour advertisement
	HdrIEEE8021AD // the outer VLAN tag when its TPID is 0x88a8 (802.1ad S-tag)
	HdrProc       // the process of an event: the caller of a system call, the local socket's owner of a packet (proc.go)
	NumHeaders
)

var headerNames = [...]string{"frame", "eth", "vlan", "ip", "ipv6", "tcp", "udp", "icmp", "icmpv6", "http", "dns", "tls", "syscall", "fd",
	"arp", "sctp", "gre", "vxlan", "icmpv6.echo", "icmpv6.nd.ns", "icmpv6.nd.na", "ieee8021ad", "proc"}

func (h Header) String() string { return headerNames[h] }

// Field describes one field of the catalogue. Fields read straight from a
// header give their location (Offset, Size) and how to turn the loaded bytes,
// read in network byte order, into Wireshark's value: ((raw & Mask) >> Shift) * Scale.
// Computed fields are derived by the packet parser (frame.len, eth.type, the
// VLAN tag fields, tcp.len).
type Field struct {
	Name   string
	Type   Type
	Bits   int  // value width for integers: 8, 16, 24 or 32 (Wireshark's FT_UINTn)
	Base   Base // rendering of integers
	Header Header

	Offset int    // byte offset from the start of Header
	Size   int    // bytes read: 1, 2, 4, 6 or 16
	Mask   uint64 // 0: no mask
	Shift  uint
	Scale  uint64 // 0: no scaling

	Computed bool
	// Either names the two fields an either-direction field stands for
	// (ip.addr: ip.src, ip.dst). Such a field matches when either does.
	Either []string
	// Layers is how many occurrences a packet can hold (2 for VLAN tags: QinQ);
	// 0 means one.
	Layers int
	// Also are other headers that carry the field, as Wireshark has it
	// (ip.version: IPv6 too). Such a field is computed, with a fact of its
	// own.
	Also []Header

	// L7 fields (l7.go).
	L7 *L7Field

	Doc string
}

// IsEither reports whether f is an either-direction field.
func (f *Field) IsEither() bool { return len(f.Either) > 0 }

// MaxLayers is the number of occurrences a packet can hold.
func (f *Field) MaxLayers() int {
	if f.Layers == 0 {
		return 1
	}
	return f.Layers
}

// MaxValue is the largest value an integer or boolean field can take.
func (f *Field) MaxValue() uint64 {
	if f.Type == TypeBool {
		return 1
	}
	if f.Mask != 0 {
		v := f.Mask >> f.Shift
		if f.Scale > 1 {
			v *= f.Scale
		}
		return v
	}
	return 1<<f.Bits - 1
}

// Value applies the field's mask, shift and scale to raw, the header bytes at
// Offset read in network byte order.
func (f *Field) Value(raw uint64) uint64 {
	if f.Mask != 0 {
		raw &= f.Mask
	}
	raw >>= f.Shift
	if f.Scale > 1 {
		raw *= f.Scale
	}
	return raw
}

// catalogue lists every field hdrlog knows, with Wireshark's names and types
// (`tshark -G fields`). Keep it sorted by header, then by header offset; the
// L7 fields follow the transport headers.
var catalogue = append(headerFields, l7Fields...)

var headerFields = []*Field{
	proto(HdrFrame, "Every frame; also its bytes, as in Wireshark (frame[12:2] == 81:00, frame contains \"GET\", len(frame)), with the VLAN tag tc ingress keeps in skb metadata put back. Tests read the first 2048 bytes."),
	{Name: "frame.len", Type: TypeUint, Bits: 32, Header: HdrFrame, Computed: true,
		Doc: "Length of the frame on the wire, in bytes (at tc, skb->len plus a VLAN tag the kernel moved to metadata; in hdrlog test, the capture's original length, also for frames its snap length cut short)."},

	proto(HdrEth, "Ethernet II header (14 bytes)."),
	{Name: "eth.dst", Type: TypeMAC, Header: HdrEth, Offset: 0, Size: 6, Doc: "Destination MAC address."},
	{Name: "eth.src", Type: TypeMAC, Header: HdrEth, Offset: 6, Size: 6, Doc: "Source MAC address."},
	{Name: "eth.addr", Type: TypeMAC, Header: HdrEth, Either: []string{"eth.src", "eth.dst"}, Doc: "Source or destination MAC address."},
	{Name: "eth.type", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrEth, Computed: true,
		Doc: "EtherType of the Ethernet header (0x8100/0x88a8 for tagged frames); absent on 802.3 length frames."},

	proto(HdrVLAN, "802.1Q / 802.1ad VLAN tag; up to two (QinQ), outer first. At tc ingress the kernel moves the outer tag to skb metadata: hdrlog reads it there too."),
	{Name: "vlan.priority", Type: TypeUint, Bits: 16, Header: HdrVLAN, Computed: true, Mask: 0xe000, Shift: 13, Layers: 2, Doc: "Priority code point (PCP)."},
	{Name: "vlan.dei", Type: TypeBool, Bits: 16, Header: HdrVLAN, Computed: true, Mask: 0x1000, Shift: 12, Layers: 2, Doc: "Drop eligible indicator."},
	{Name: "vlan.id", Type: TypeUint, Bits: 16, Header: HdrVLAN, Computed: true, Mask: 0x0fff, Layers: 2, Doc: "VLAN identifier."},
	{Name: "vlan.etype", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrVLAN, Computed: true, Layers: 2, Doc: "EtherType following the tag."},

	proto(HdrIEEE8021AD, "The outer VLAN tag when its TPID is 0x88a8 (an 802.1ad S-tag), as Wireshark names it; vlan.*#1 reads the same tag."),
	{Name: "ieee8021ad.priority", Type: TypeUint, Bits: 16, Header: HdrIEEE8021AD, Computed: true, Mask: 0xe000, Shift: 13, Doc: "Priority code point of the S-tag."},
	{Name: "ieee8021ad.dei", Type: TypeUint, Bits: 16, Header: HdrIEEE8021AD, Computed: true, Mask: 0x1000, Shift: 12, Doc: "Drop eligible indicator of the S-tag (a number, as in Wireshark)."},
	{Name: "ieee8021ad.id", Type: TypeUint, Bits: 16, Header: HdrIEEE8021AD, Computed: true, Mask: 0x0fff, Doc: "S-VLAN identifier."},

	proto(HdrARP, "ARP for IPv4 over Ethernet (ethertype 0x0806, also under VLAN tags): 28 bytes, hardware type 1 or 6, hardware size 6, protocol type 0x0800, protocol size 4; other ARP packets are not decoded."),
	{Name: "arp.hw.type", Type: TypeUint, Bits: 16, Header: HdrARP, Offset: 0, Size: 2, Doc: "Hardware type (1 Ethernet, 6 IEEE 802)."},
	{Name: "arp.proto.type", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrARP, Offset: 2, Size: 2, Doc: "Protocol type (0x0800)."},
	{Name: "arp.hw.size", Type: TypeUint, Bits: 8, Header: HdrARP, Offset: 4, Size: 1, Doc: "Hardware address size (6)."},
	{Name: "arp.proto.size", Type: TypeUint, Bits: 8, Header: HdrARP, Offset: 5, Size: 1, Doc: "Protocol address size (4)."},
	{Name: "arp.opcode", Type: TypeUint, Bits: 16, Header: HdrARP, Offset: 6, Size: 2, Doc: "Opcode (1 request, 2 reply)."},
	{Name: "arp.src.hw_mac", Type: TypeMAC, Header: HdrARP, Offset: 8, Size: 6, Doc: "Sender MAC address."},
	{Name: "arp.src.proto_ipv4", Type: TypeIPv4, Header: HdrARP, Offset: 14, Size: 4, Doc: "Sender IPv4 address."},
	{Name: "arp.dst.hw_mac", Type: TypeMAC, Header: HdrARP, Offset: 18, Size: 6, Doc: "Target MAC address."},
	{Name: "arp.dst.proto_ipv4", Type: TypeIPv4, Header: HdrARP, Offset: 24, Size: 4, Doc: "Target IPv4 address."},

	proto(HdrIPv4, "IPv4 header (ethertype 0x0800, version 4, header length ≥ 20 bytes); options are skipped."),
	{Name: "ip.version", Type: TypeUint, Bits: 8, Header: HdrIPv4, Also: []Header{HdrIPv6}, Computed: true, Mask: 0xf0, Shift: 4,
		Doc: "IP version: 4, and 6 on IPv6 packets (as in Wireshark, where ip.version == 6 matches them)."},
	{Name: "ip.hdr_len", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 0, Size: 1, Mask: 0x0f, Scale: 4, Doc: "Header length in bytes, options included."},
	{Name: "ip.dsfield", Type: TypeUint, Bits: 8, Base: BaseHex, Header: HdrIPv4, Offset: 1, Size: 1, Doc: "Differentiated services field (DSCP and ECN)."},
	{Name: "ip.dsfield.dscp", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 1, Size: 1, Mask: 0xfc, Shift: 2, Doc: "Differentiated services code point."},
	{Name: "ip.dsfield.ecn", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 1, Size: 1, Mask: 0x03, Doc: "Explicit congestion notification."},
	{Name: "ip.len", Type: TypeUint, Bits: 16, Header: HdrIPv4, Offset: 2, Size: 2, Doc: "Total length."},
	{Name: "ip.id", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrIPv4, Offset: 4, Size: 2, Doc: "Identification."},
	{Name: "ip.flags", Type: TypeUint, Bits: 8, Base: BaseHex, Header: HdrIPv4, Offset: 6, Size: 1, Mask: 0xe0, Shift: 5, Doc: "The three flag bits (0x02: don't fragment, 0x01: more fragments)."},
	{Name: "ip.flags.rb", Type: TypeBool, Bits: 8, Header: HdrIPv4, Offset: 6, Size: 1, Mask: 0x80, Shift: 7, Doc: "Reserved (evil) bit."},
	{Name: "ip.flags.df", Type: TypeBool, Bits: 8, Header: HdrIPv4, Offset: 6, Size: 1, Mask: 0x40, Shift: 6, Doc: "Don't fragment."},
	{Name: "ip.flags.mf", Type: TypeBool, Bits: 8, Header: HdrIPv4, Offset: 6, Size: 1, Mask: 0x20, Shift: 5, Doc: "More fragments."},
	{Name: "ip.frag_offset", Type: TypeUint, Bits: 16, Header: HdrIPv4, Offset: 6, Size: 2, Mask: 0x1fff, Doc: "Fragment offset in 8-byte units (as Wireshark shows it)."},
	{Name: "ip.ttl", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 8, Size: 1, Doc: "Time to live."},
	{Name: "ip.proto", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 9, Size: 1, Doc: "Protocol of the payload (6 TCP, 17 UDP, 1 ICMP)."},
	{Name: "ip.src", Type: TypeIPv4, Header: HdrIPv4, Offset: 12, Size: 4, Doc: "Source address."},
	{Name: "ip.dst", Type: TypeIPv4, Header: HdrIPv4, Offset: 16, Size: 4, Doc: "Destination address."},
	{Name: "ip.addr", Type: TypeIPv4, Header: HdrIPv4, Either: []string{"ip.src", "ip.dst"}, Doc: "Source or destination address."},

	proto(HdrIPv6, "IPv6 header (ethertype 0x86dd, version 6); the extension-header chain (hop-by-hop, routing, fragment, destination options, AH) is walked, up to 8 headers."),
	{Name: "ipv6.version", Type: TypeUint, Bits: 8, Header: HdrIPv6, Offset: 0, Size: 1, Mask: 0xf0, Shift: 4, Doc: "IP version (6)."},
	{Name: "ipv6.tclass", Type: TypeUint, Bits: 32, Base: BaseHex, Header: HdrIPv6, Offset: 0, Size: 4, Mask: 0x0ff00000, Shift: 20, Doc: "Traffic class."},
	{Name: "ipv6.tclass.dscp", Type: TypeUint, Bits: 32, Header: HdrIPv6, Offset: 0, Size: 4, Mask: 0x0fc00000, Shift: 22, Doc: "Differentiated services code point."},
	{Name: "ipv6.tclass.ecn", Type: TypeUint, Bits: 32, Header: HdrIPv6, Offset: 0, Size: 4, Mask: 0x00300000, Shift: 20, Doc: "Explicit congestion notification."},
	{Name: "ipv6.flow", Type: TypeUint, Bits: 24, Base: BaseHex, Header: HdrIPv6, Offset: 0, Size: 4, Mask: 0x000fffff, Doc: "Flow label."},
	{Name: "ipv6.plen", Type: TypeUint, Bits: 16, Header: HdrIPv6, Offset: 4, Size: 2, Doc: "Payload length."},
	{Name: "ipv6.nxt", Type: TypeUint, Bits: 8, Header: HdrIPv6, Offset: 6, Size: 1, Doc: "Next header of the fixed header (the first extension header, or the payload)."},
	{Name: "ipv6.hlim", Type: TypeUint, Bits: 8, Header: HdrIPv6, Offset: 7, Size: 1, Doc: "Hop limit."},
	{Name: "ipv6.src", Type: TypeIPv6, Header: HdrIPv6, Offset: 8, Size: 16, Doc: "Source address."},
	{Name: "ipv6.dst", Type: TypeIPv6, Header: HdrIPv6, Offset: 24, Size: 16, Doc: "Destination address."},
	{Name: "ipv6.addr", Type: TypeIPv6, Header: HdrIPv6, Either: []string{"ipv6.src", "ipv6.dst"}, Doc: "Source or destination address."},

	proto(HdrTCP, "TCP header (20 bytes; options are not decoded). Absent in non-first fragments."),
	{Name: "tcp.srcport", Type: TypeUint, Bits: 16, Header: HdrTCP, Offset: 0, Size: 2, Doc: "Source port."},
	{Name: "tcp.dstport", Type: TypeUint, Bits: 16, Header: HdrTCP, Offset: 2, Size: 2, Doc: "Destination port."},
	{Name: "tcp.port", Type: TypeUint, Bits: 16, Header: HdrTCP, Either: []string{"tcp.srcport", "tcp.dstport"}, Doc: "Source or destination port."},
	{Name: "tcp.seq_raw", Type: TypeUint, Bits: 32, Header: HdrTCP, Offset: 4, Size: 4, Doc: "Sequence number as sent (Wireshark's tcp.seq is relative)."},
	{Name: "tcp.ack_raw", Type: TypeUint, Bits: 32, Header: HdrTCP, Offset: 8, Size: 4, Doc: "Acknowledgment number as sent."},
	{Name: "tcp.hdr_len", Type: TypeUint, Bits: 8, Header: HdrTCP, Offset: 12, Size: 1, Mask: 0xf0, Shift: 4, Scale: 4, Doc: "Header length in bytes, options included."},
	{Name: "tcp.flags", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0fff, Doc: "The 12 flag bits (0x002 SYN, 0x010 ACK, 0x012 SYN+ACK, ...)."},
	{Name: "tcp.flags.res", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0e00, Shift: 9, Doc: "Reserved bits (true when any is set)."},
	{Name: "tcp.flags.ae", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0100, Shift: 8, Doc: "Accurate ECN (formerly NS)."},
	{Name: "tcp.flags.cwr", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0080, Shift: 7, Doc: "Congestion window reduced."},
	{Name: "tcp.flags.ece", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0040, Shift: 6, Doc: "ECN echo."},
	{Name: "tcp.flags.urg", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0020, Shift: 5, Doc: "Urgent."},
	{Name: "tcp.flags.ack", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0010, Shift: 4, Doc: "Acknowledgment."},
	{Name: "tcp.flags.push", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0008, Shift: 3, Doc: "Push."},
	{Name: "tcp.flags.reset", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0004, Shift: 2, Doc: "Reset."},
	{Name: "tcp.flags.syn", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0002, Shift: 1, Doc: "Synchronize."},
	{Name: "tcp.flags.fin", Type: TypeBool, Bits: 16, Header: HdrTCP, Offset: 12, Size: 2, Mask: 0x0001, Doc: "Finish."},
	{Name: "tcp.window_size_value", Type: TypeUint, Bits: 16, Header: HdrTCP, Offset: 14, Size: 2, Doc: "Window as sent (unscaled)."},
	{Name: "tcp.urgent_pointer", Type: TypeUint, Bits: 16, Header: HdrTCP, Offset: 18, Size: 2, Doc: "Urgent pointer."},
	{Name: "tcp.len", Type: TypeUint, Bits: 32, Header: HdrTCP, Computed: true,
		Doc: "Segment payload length: the IP payload length less the TCP header length, the IP payload ending at the IP length but never past the frame's length on the wire (`frame.len`), as in Wireshark: a 54-byte frame saying `ip.len` 65535 has `tcp.len` 0. Absent when `ip.len` or `ipv6.plen` is 0 (TSO captures, jumbograms), or when the TCP header goes past that payload."},
	{Name: "tcp.payload", Type: TypeBytes, Header: HdrTCP, Computed: true,
		Doc: "The segment's payload bytes; absent when there are none, and in a reset (its data is Wireshark's tcp.reset_cause). Tests read the first 2048 bytes; len() is exact (docs/wireshark.md#payloads)."},

	proto(HdrUDP, "UDP header (8 bytes). Absent in non-first fragments."),
	{Name: "udp.srcport", Type: TypeUint, Bits: 16, Header: HdrUDP, Offset: 0, Size: 2, Doc: "Source port."},
	{Name: "udp.dstport", Type: TypeUint, Bits: 16, Header: HdrUDP, Offset: 2, Size: 2, Doc: "Destination port."},
	{Name: "udp.port", Type: TypeUint, Bits: 16, Header: HdrUDP, Either: []string{"udp.srcport", "udp.dstport"}, Doc: "Source or destination port."},
	{Name: "udp.length", Type: TypeUint, Bits: 16, Header: HdrUDP, Offset: 4, Size: 2, Doc: "Length of header and payload, as sent."},
	{Name: "udp.payload", Type: TypeBytes, Header: HdrUDP, Computed: true,
		Doc: "The datagram's payload bytes within udp.length; absent when there are none. Tests read the first 2048 bytes; len() is exact."},

	proto(HdrICMP, "ICMP header (8 bytes, over IPv4). Headers quoted inside ICMP errors are not decoded."),
	{Name: "icmp.type", Type: TypeUint, Bits: 8, Header: HdrICMP, Offset: 0, Size: 1, Doc: "Type (0 echo reply, 3 unreachable, 8 echo request, 11 time exceeded)."},
	{Name: "icmp.code", Type: TypeUint, Bits: 8, Header: HdrICMP, Offset: 1, Size: 1, Doc: "Code."},

	proto(HdrICMPv6, "ICMPv6 header (4 bytes, after the IPv6 extension headers)."),
	{Name: "icmpv6.type", Type: TypeUint, Bits: 8, Header: HdrICMPv6, Offset: 0, Size: 1, Doc: "Type (1 unreachable, 3 time exceeded, 128 echo request, 135 neighbour solicitation)."},
	{Name: "icmpv6.code", Type: TypeUint, Bits: 8, Header: HdrICMPv6, Offset: 1, Size: 1, Doc: "Code."},
	{Name: "icmpv6.echo.identifier", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrICMPv6Echo, Offset: 4, Size: 2, Doc: "Identifier of an echo request or reply (types 128, 129; 8 bytes)."},
	{Name: "icmpv6.echo.sequence_number", Type: TypeUint, Bits: 16, Header: HdrICMPv6Echo, Offset: 6, Size: 2, Doc: "Sequence number of an echo request or reply."},
	{Name: "icmpv6.nd.ns.target_address", Type: TypeIPv6, Header: HdrICMPv6NS, Offset: 8, Size: 16, Doc: "Target address of a neighbour solicitation (type 135; 24 bytes)."},
	{Name: "icmpv6.nd.na.flag.r", Type: TypeBool, Bits: 32, Header: HdrICMPv6NA, Offset: 4, Size: 4, Mask: 0x80000000, Shift: 31, Doc: "Router flag of a neighbour advertisement (type 136; 24 bytes)."},
	{Name: "icmpv6.nd.na.flag.s", Type: TypeBool, Bits: 32, Header: HdrICMPv6NA, Offset: 4, Size: 4, Mask: 0x40000000, Shift: 30, Doc: "Solicited flag of a neighbour advertisement."},
	{Name: "icmpv6.nd.na.flag.o", Type: TypeBool, Bits: 32, Header: HdrICMPv6NA, Offset: 4, Size: 4, Mask: 0x20000000, Shift: 29, Doc: "Override flag of a neighbour advertisement."},
	{Name: "icmpv6.nd.na.target_address", Type: TypeIPv6, Header: HdrICMPv6NA, Offset: 8, Size: 16, Doc: "Target address of a neighbour advertisement."},

	proto(HdrSCTP, "SCTP common header (12 bytes, IP protocol 132); chunks are not decoded. Absent in non-first fragments."),
	{Name: "sctp.srcport", Type: TypeUint, Bits: 16, Header: HdrSCTP, Offset: 0, Size: 2, Doc: "Source port."},
	{Name: "sctp.dstport", Type: TypeUint, Bits: 16, Header: HdrSCTP, Offset: 2, Size: 2, Doc: "Destination port."},
	{Name: "sctp.port", Type: TypeUint, Bits: 16, Header: HdrSCTP, Either: []string{"sctp.srcport", "sctp.dstport"}, Doc: "Source or destination port."},
	{Name: "sctp.verification_tag", Type: TypeUint, Bits: 32, Base: BaseHex, Header: HdrSCTP, Offset: 4, Size: 4, Doc: "Verification tag."},

	proto(HdrGRE, "GRE header (4 bytes, IP protocol 47). The encapsulated packet is not decoded: ip.*, tcp.* and the others are the outer headers' (docs/wireshark.md)."),
	{Name: "gre.proto", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrGRE, Offset: 2, Size: 2, Doc: "Protocol type of the payload (0x0800 IPv4, 0x86dd IPv6, 0x6558 Ethernet)."},

	proto(HdrVXLAN, "VXLAN header (8 bytes) on UDP port 4789, either direction. The encapsulated frame is not decoded."),
	{Name: "vxlan.flags", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrVXLAN, Offset: 0, Size: 2, Doc: "Flags (0x0800: the VNI is valid)."},
	{Name: "vxlan.vni", Type: TypeUint, Bits: 24, Header: HdrVXLAN, Offset: 4, Size: 4, Mask: 0xffffff00, Shift: 8, Doc: "VXLAN network identifier."},
}

func proto(h Header, doc string) *Field {
	return &Field{Name: h.String(), Type: TypeProto, Header: h, Doc: doc}
}

var byName = func() map[string]*Field {
	// A field past its header's checked bytes would be read from beyond
	// what the parser checked: refuse to start.
	if err := checkHeaderFields(append(catalogue, syscallFields...)); err != nil {
		panic(err)
	}
	m := make(map[string]*Field, len(catalogue))
	for _, f := range append(catalogue, syscallFields...) {
		if _, dup := m[f.Name]; dup {
			panic("rules: duplicate catalogue field " + f.Name)
		}
		m[f.Name] = f
	}
	return m
}()

// LookupField returns the catalogue field with the given Wireshark name.
func LookupField(name string) (*Field, bool) {
	f, ok := byName[name]
	return f, ok
}

// Fields returns the catalogue in its documented order.
func Fields() []*Field {
	return append([]*Field(nil), catalogue...)
}

// ProtocolField returns the pseudo-field standing for header h.
func ProtocolField(h Header) *Field { return byName[h.String()] }

// nearestFields returns up to n catalogue names closest to name, for "did you mean" hints.
func nearestFields(name string, n int) []string {
	type cand struct {
		name string
		d    int
		same bool // the same protocol prefix
	}
	var cs []cand
	for _, f := range catalogue {
		d := EditDistance(name, f.Name)
		// A shared protocol prefix makes a name a better suggestion.
		same := false
		if i := strings.IndexByte(name, '.'); i > 0 && strings.HasPrefix(f.Name, name[:i+1]) {
			d--
			same = true
		}
		if d <= len(name)/2+1 {
			cs = append(cs, cand{f.Name, d, same})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		if cs[i].same != cs[j].same {
			return cs[i].same // tcp.dstprt: tcp.port before sctp.dstport
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// EditDistance is the Levenshtein distance between a and b, for "did you
// mean" hints.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
