package reference

import (
	"encoding/binary"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hdrlog/hdrlog/rules"
)

// Packet is one frame as decoded for the rules: every header that is
// present, as gopacket decoded it. A nil header is absent.
type Packet struct {
	Len int // bytes in the frame: frame.len
	// Frame is the frame's bytes (the byte field frame).
	Frame []byte

	Eth     *layers.Ethernet
	EthType uint16 // valid when HasEthType
	// HasEthType is false on 802.3 frames, whose type field is a length.
	HasEthType bool
	VLAN       []*layers.Dot1Q // outer first, at most two

	IPv4 *layers.IPv4
	IPv6 *layers.IPv6
	// ExtHeaders counts the IPv6 extension headers walked.
	ExtHeaders int
	// IPPayload is the IP payload length as the headers state it: ip.len
	// less the header length, or ipv6.plen less the extension headers
	// (negative when they do not fit in it). Unknown (IPPayloadKnown false)
	// when ip.len or ipv6.plen is 0: TSO captures, jumbograms.
	IPPayload      int
	IPPayloadKnown bool

	TCP *layers.TCP
	// TCPRes holds the three reserved bits of the TCP header, which gopacket
	// does not decode.
	TCPRes uint8
	TCPLen int // valid when HasTCPLen
	// HasTCPLen is false when the length fields do not add up.
	HasTCPLen bool

	UDP    *layers.UDP
	ICMP   *layers.ICMPv4
	ICMPv6 *layers.ICMPv6
	SCTP   *layers.SCTP
	// GREProto is gre.proto, valid when GRE is set.
	GRE      bool
	GREProto uint16
	ARP      *layers.ARP
	// VXLAN holds the 8 bytes of the VXLAN header.
	VXLAN []byte
	// ICMPv6Echo, NS and NA are ICMPv6 message bodies.
	ICMPv6Echo *layers.ICMPv6Echo
	NS         *layers.ICMPv6NeighborSolicitation
	NA         *layers.ICMPv6NeighborAdvertisement

	// L4 is the frame from the transport header on (TCP and UDP), for the
	// L7 decoders (l7.go); l7 is their result for the hook being
	// evaluated, seen by rule.
	L4    []byte
	L4Off int // L4's offset in the frame
	l7    *l7Packet
	rule  *rules.Rule
	// sets are the evaluator's indexes of large sets (setindex.go).
	sets map[*rules.PredInSet]*setIndex

	// HeadersEnd is the end offset of the deepest header found, counting for
	// each header the bytes that make it present (20 for IPv4, 8 for an IPv6
	// extension header...). A program that sees only the first n bytes of
	// the frame decodes it the same when HeadersEnd <= n.
	HeadersEnd int

	st *store // where the headers above point
}

// store holds the decoded headers of one frame, so that a Decoder decodes
// frame after frame without allocating: gopacket's layers decode into
// storage they are given and reuse their option slices.
type store struct {
	eth   layers.Ethernet
	vlan  [vlanLayers]layers.Dot1Q
	vlanP [vlanLayers]*layers.Dot1Q
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp  layers.ICMPv4
	icmp6 layers.ICMPv6
	sctp  layers.SCTP
	gre   layers.GRE
	arp   layers.ARP
	echo  layers.ICMPv6Echo
	ns    layers.ICMPv6NeighborSolicitation
	na    layers.ICMPv6NeighborAdvertisement
	l7    l7Packet
}

// vlanLayers is room for the VLAN tags the header table decodes (init
// checks it).
const vlanLayers = 2

// A Decoder decodes frames into storage it reuses: the Packet it returns
// is valid until its next Decode. One Decoder serves one goroutine.
type Decoder struct {
	p  Packet
	st store
}

// Decode decodes a frame. It never fails: what cannot be decoded is absent.
// The packet, and the values read from it, are valid until the next call.
func (d *Decoder) Decode(frame []byte) *Packet {
	return d.DecodeWire(frame, len(frame))
}

// DecodeWire decodes a frame whose length on the wire was wireLen (a
// capture's original length: more than len(frame) when the capture cut it
// short). frame.len is wireLen, and lengths that Wireshark bounds by the
// frame (tcp.len) are bounded by it, not by the bytes captured.
func (d *Decoder) DecodeWire(frame []byte, wireLen int) *Packet {
	d.p = Packet{Len: max(wireLen, len(frame)), Frame: frame, st: &d.st}
	d.p.decode(frame)
	return &d.p
}

// Decode decodes a frame into storage of its own. It never fails: what
// cannot be decoded is absent.
func Decode(frame []byte) *Packet {
	return new(Decoder).Decode(frame)
}

func (p *Packet) decode(frame []byte) {
	df := gopacket.NilDecodeFeedback
	eth := &p.st.eth
	if eth.DecodeFromBytes(frame, df) != nil {
		return
	}
	p.Eth = eth
	p.HeadersEnd = rules.HdrEth.Def().MinLen
	// gopacket turns a type field below 0x0600 into EthernetTypeLLC (0) and
	// keeps the value as Length: on such a frame eth.type is absent.
	next := eth.EthernetType
	if next != layers.EthernetTypeLLC {
		p.EthType, p.HasEthType = uint16(next), true
	}
	rest := eth.Payload
	// gopacket cut the payload of an 802.3 frame to its length; nothing of
	// it is decoded, so that does not matter.

	parent, vlan := rules.HdrEth, rules.HdrVLAN.Def()
	p.VLAN = p.st.vlanP[:0]
	for len(p.VLAN) < vlan.Layers {
		if h, ok := childFor(parent, uint32(next)); !ok || h != rules.HdrVLAN {
			break
		}
		tag := &p.st.vlan[len(p.VLAN)]
		if tag.DecodeFromBytes(rest, df) != nil {
			return
		}
		p.VLAN = append(p.VLAN, tag)
		p.HeadersEnd += vlan.MinLen
		next, rest, parent = tag.Type, rest[vlan.MinLen:], rules.HdrVLAN
	}
	// A third tag leaves next at a TPID: no network layer.

	if h, ok := childFor(parent, uint32(next)); ok && h != rules.HdrVLAN {
		decoderOf[h](p, rest, p.HeadersEnd)
	}
	if len(p.VLAN) == 0 {
		p.VLAN = nil // as a frame without tags always decoded
	}
}

// decoders decode each header the table reaches through a next-protocol
// value, from b, which starts at frame offset off. They are the reference's
// half of the header table: a row with no decoder here fails at start-up.
var decoders map[rules.Header]func(p *Packet, b []byte, off int)

// childFor is rules.ChildFor from an index: the header table's rows are
// searched once, not per frame.
func childFor(parent rules.Header, v uint32) (rules.Header, bool) {
	if int(parent) >= len(childIndex) {
		return 0, false
	}
	// A parent has a few children: a scan of them costs less than
	// hashing (a map here took ~5% of a --no-kernel replay).
	for _, c := range childIndex[parent] {
		if c.value == v {
			return c.child, true
		}
	}
	return 0, false
}

// childIndex lists, per parent header, its next-protocol values and the
// child header each leads to (the first row in table order).
var childIndex [rules.NumHeaders][]childOf

type childOf struct {
	value uint32
	child rules.Header
}

// decoderOf is decoders indexed by header, for the per-frame lookups.
var decoderOf []func(p *Packet, b []byte, off int)

func init() {
	for _, d := range rules.HeaderDefs() {
		for _, l := range d.Under {
			if _, ok := childFor(l.Parent, l.Value); ok {
				continue // the first row in table order, as rules.ChildFor
			}
			if h, ok := rules.ChildFor(l.Parent, l.Value); ok {
				childIndex[l.Parent] = append(childIndex[l.Parent], childOf{l.Value, h})
			}
		}
	}
	decoders = map[rules.Header]func(p *Packet, b []byte, off int){
		rules.HdrIPv4:       (*Packet).decodeIPv4,
		rules.HdrIPv6:       (*Packet).decodeIPv6,
		rules.HdrTCP:        (*Packet).decodeTCP,
		rules.HdrUDP:        (*Packet).decodeUDP,
		rules.HdrICMP:       (*Packet).decodeICMP,
		rules.HdrICMPv6:     (*Packet).decodeICMPv6,
		rules.HdrSCTP:       (*Packet).decodeSCTP,
		rules.HdrGRE:        (*Packet).decodeGRE,
		rules.HdrARP:        (*Packet).decodeARP,
		rules.HdrVXLAN:      (*Packet).decodeVXLAN,
		rules.HdrICMPv6Echo: (*Packet).decodeICMPv6Echo,
		rules.HdrICMPv6NS:   (*Packet).decodeNS,
		rules.HdrICMPv6NA:   (*Packet).decodeNA,
	}
	for h, d := range decoders {
		for int(h) >= len(decoderOf) {
			decoderOf = append(decoderOf, nil)
		}
		decoderOf[h] = d
	}
	if rules.HdrVLAN.Def().Layers > vlanLayers {
		panic("reference: room for fewer VLAN tags than the header table decodes")
	}
	for _, d := range rules.HeaderDefs() {
		if len(d.Under) > 0 && d.Len != rules.LenL7 && d.Header != rules.HdrVLAN && decoders[d.Header] == nil {
			panic("reference: no decoder for header " + d.Header.String())
		}
	}
}

// fits reports whether header h is present at the start of b: its MinLen
// bytes are there and its guards hold, and for a transport and what lies in
// one, they are within the stated IP payload.
func (p *Packet) fits(h rules.Header, b []byte) bool {
	d := h.Def()
	if len(b) < d.MinLen {
		return false
	}
	for _, g := range d.Guards {
		if !slices.Contains(g.Values, readBE(b[g.Offset:g.Offset+g.Size])) {
			return false
		}
	}
	from, inIP := d.FromTransport()
	return !inIP || p.inPayload(from+d.MinLen)
}

// readBE reads a network-order field of 1 to 4 bytes.
func readBE(b []byte) uint32 {
	var v uint32
	for _, x := range b {
		v = v<<8 | uint32(x)
	}
	return v
}

// children decodes what follows header h (at b, frame offset off) when the
// table finds it from h's next-protocol fields (UDP ports, ICMPv6 types).
func (p *Packet) children(h rules.Header, b []byte, off int) {
	d := h.Def()
	for _, at := range d.NextAt {
		child, ok := childFor(h, readBE(b[at:at+d.NextSize]))
		if !ok {
			continue
		}
		start := child.Def().Start()
		if start > len(b) {
			return
		}
		decoderOf[child](p, b[start:], off+start)
		return
	}
}

func (p *Packet) decodeIPv4(b []byte, off int) {
	if !p.fits(rules.HdrIPv4, b) || b[0]>>4 != 4 || b[0]&0x0f < 5 {
		return
	}
	ip := &p.st.ip4
	if ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		// gopacket refuses a header whose total length is below its header
		// length, whose options are cut short or malformed; the semantics
		// keep such a header (its 20 fixed bytes are there). Decode those.
		*ip = ipv4Fixed(b)
	}
	// gopacket replaces a total length of 0 (TSO captures) by the captured
	// length; ip.len is the field as sent.
	ip.Length = binary.BigEndian.Uint16(b[2:4])
	p.IPv4 = ip
	p.HeadersEnd = off + rules.HdrIPv4.Def().MinLen

	hlen := int(ip.IHL) * 4
	if ip.Length != 0 {
		if int(ip.Length) < hlen {
			return // the header does not fit in the packet: no transport layer
		}
		p.IPPayload, p.IPPayloadKnown = int(ip.Length)-hlen, true
	}
	if ip.FragOffset != 0 {
		return // a non-first fragment has no transport header
	}
	if hlen > len(b) {
		return
	}
	if h, ok := childFor(rules.HdrIPv4, uint32(ip.Protocol)); ok {
		decoderOf[h](p, b[hlen:], off+hlen)
	}
}

func (p *Packet) decodeICMP(b []byte, off int) {
	icmp := &p.st.icmp
	if p.fits(rules.HdrICMP, b) && icmp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
		p.ICMP = icmp
		p.HeadersEnd = off + rules.HdrICMP.Def().MinLen
	}
}

func (p *Packet) decodeICMPv6(b []byte, off int) {
	icmp := &p.st.icmp6
	if p.fits(rules.HdrICMPv6, b) && icmp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
		p.ICMPv6 = icmp
		p.HeadersEnd = off + rules.HdrICMPv6.Def().MinLen
		p.children(rules.HdrICMPv6, b, off)
	}
}

// The ICMPv6 message bodies start at the ICMPv6 header (b), as their
// fields count from it; gopacket decodes them from its payload.

func (p *Packet) decodeICMPv6Echo(b []byte, off int) {
	if !p.fits(rules.HdrICMPv6Echo, b) {
		return
	}
	echo := &p.st.echo
	if echo.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback) != nil {
		return // 8 bytes are there: gopacket needs 4
	}
	p.ICMPv6Echo = echo
	p.HeadersEnd = off + rules.HdrICMPv6Echo.Def().MinLen
}

func (p *Packet) decodeNS(b []byte, off int) {
	if !p.fits(rules.HdrICMPv6NS, b) {
		return
	}
	ns := &p.st.ns
	if ns.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback) != nil {
		// gopacket refuses malformed options; the target is there.
		*ns = layers.ICMPv6NeighborSolicitation{TargetAddress: b[8:24]}
	}
	p.NS = ns
	p.HeadersEnd = off + rules.HdrICMPv6NS.Def().MinLen
}

func (p *Packet) decodeNA(b []byte, off int) {
	if !p.fits(rules.HdrICMPv6NA, b) {
		return
	}
	na := &p.st.na
	if na.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback) != nil {
		*na = layers.ICMPv6NeighborAdvertisement{Flags: b[4], TargetAddress: b[8:24]}
	}
	p.NA = na
	p.HeadersEnd = off + rules.HdrICMPv6NA.Def().MinLen
}

func (p *Packet) decodeSCTP(b []byte, off int) {
	if !p.fits(rules.HdrSCTP, b) {
		return
	}
	sctp := &p.st.sctp
	if sctp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		return // 12 bytes are there: gopacket needs no more
	}
	p.SCTP = sctp
	p.HeadersEnd = off + rules.HdrSCTP.Def().MinLen
}

func (p *Packet) decodeGRE(b []byte, off int) {
	if !p.fits(rules.HdrGRE, b) {
		return
	}
	gre := &p.st.gre
	if gre.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
		p.GREProto = uint16(gre.Protocol)
	} else {
		// gopacket wants the optional fields the flags announce; gre.proto
		// is in the first 4 bytes.
		p.GREProto = binary.BigEndian.Uint16(b[2:4])
	}
	p.GRE = true
	p.HeadersEnd = off + rules.HdrGRE.Def().MinLen
}

func (p *Packet) decodeARP(b []byte, off int) {
	if !p.fits(rules.HdrARP, b) {
		return
	}
	arp := &p.st.arp
	if arp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		return // the guards make it 28 bytes of IPv4 over Ethernet: no error
	}
	p.ARP = arp
	p.HeadersEnd = off + rules.HdrARP.Def().MinLen
}

func (p *Packet) decodeVXLAN(b []byte, off int) {
	if !p.fits(rules.HdrVXLAN, b) {
		return
	}
	var vx layers.VXLAN
	if vx.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		return // 8 bytes are there: no error
	}
	p.VXLAN = b[:8]
	p.HeadersEnd = off + rules.HdrVXLAN.Def().MinLen
}

// inPayload reports whether a transport header of n bytes fits in the IP
// payload the length fields state (a header past it would be read from an
// Ethernet trailer, or from nothing). Unknown lengths do not limit it.
func (p *Packet) inPayload(n int) bool {
	return !p.IPPayloadKnown || p.IPPayload >= n
}

// ipv4Fixed decodes the 20 fixed bytes of an IPv4 header.
func ipv4Fixed(b []byte) layers.IPv4 {
	flagsFrag := binary.BigEndian.Uint16(b[6:8])
	return layers.IPv4{
		Version:    b[0] >> 4,
		IHL:        b[0] & 0x0f,
		TOS:        b[1],
		Length:     binary.BigEndian.Uint16(b[2:4]),
		Id:         binary.BigEndian.Uint16(b[4:6]),
		Flags:      layers.IPv4Flag(flagsFrag >> 13),
		FragOffset: flagsFrag & 0x1fff,
		TTL:        b[8],
		Protocol:   layers.IPProtocol(b[9]),
		SrcIP:      b[12:16],
		DstIP:      b[16:20],
	}
}

func (p *Packet) decodeIPv6(b []byte, off int) {
	if !p.fits(rules.HdrIPv6, b) || b[0]>>4 != 6 {
		return
	}
	ip := &p.st.ip6
	if ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		// gopacket refuses a payload length of 0 without a jumbo option and
		// a hop-by-hop header it cannot decode; the semantics keep the
		// header. Decode its 40 fixed bytes.
		*ip = ipv6Fixed(b)
	}
	p.IPv6 = ip
	p.HeadersEnd = off + rules.HdrIPv6.Def().MinLen

	// Walk the extension headers on the frame's bytes (gopacket bounds them
	// by the payload length and folds hop-by-hop into the IPv6 layer).
	next, cur, payload := ip.NextHeader, rules.HdrIPv6.Def().MinLen, int(ip.Length)
	p.IPPayloadKnown = ip.Length != 0
	for n := 0; ; n++ {
		if !isExtension(next) {
			break
		}
		if n == rules.MaxExtHeaders || len(b)-cur < rules.IPv6ExtMinLen {
			return
		}
		p.ExtHeaders++
		p.HeadersEnd = off + cur + rules.IPv6ExtMinLen
		var hlen int
		var nh layers.IPProtocol
		switch next {
		case layers.IPProtocolIPv6Fragment:
			var fh layers.IPv6Fragment
			fh.DecodeFromBytes(b[cur:], gopacket.NilDecodeFeedback) // 8 bytes are there: no error
			if fh.FragmentOffset != 0 {
				return // a non-first fragment has no transport header
			}
			nh, hlen = fh.NextHeader, 8
		case layers.IPProtocolAH:
			var ah layers.IPSecAH
			if ah.DecodeFromBytes(b[cur:], gopacket.NilDecodeFeedback) == nil {
				nh, hlen = ah.NextHeader, ah.ActualLength
			} else {
				// gopacket wants the whole header and at least 12 bytes; the
				// walk needs only the next header and the length, in 4-byte
				// units less 2 (RFC 4302).
				nh, hlen = layers.IPProtocol(b[cur]), (int(b[cur+1])+2)*4
			}
		default: // hop-by-hop, routing, destination options
			var ext layers.IPv6ExtensionSkipper
			if ext.DecodeFromBytes(b[cur:], gopacket.NilDecodeFeedback) == nil {
				nh, hlen = ext.NextHeader, len(ext.Contents)
			} else {
				// Cut short: gopacket refuses it; the walk goes past the end
				// of the frame, where no transport header can be.
				nh, hlen = layers.IPProtocol(b[cur]), (int(b[cur+1])+1)*8
			}
		}
		next, cur, payload = nh, cur+hlen, payload-hlen
	}
	p.IPPayload = payload
	if cur > len(b) {
		return
	}
	if h, ok := childFor(rules.HdrIPv6, uint32(next)); ok {
		decoderOf[h](p, b[cur:], off+cur)
	}
}

func isExtension(proto layers.IPProtocol) bool {
	return slices.Contains(rules.IPv6ExtHeaders, uint8(proto))
}

// ipv6Fixed decodes the 40 fixed bytes of an IPv6 header.
func ipv6Fixed(b []byte) layers.IPv6 {
	word := binary.BigEndian.Uint32(b[0:4])
	return layers.IPv6{
		Version:      uint8(word >> 28),
		TrafficClass: uint8(word >> 20),
		FlowLabel:    word & 0xfffff,
		Length:       binary.BigEndian.Uint16(b[4:6]),
		NextHeader:   layers.IPProtocol(b[6]),
		HopLimit:     b[7],
		SrcIP:        b[8:24],
		DstIP:        b[24:40],
	}
}

func (p *Packet) decodeTCP(b []byte, off int) {
	if !p.fits(rules.HdrTCP, b) {
		return
	}
	tcp := &p.st.tcp
	if tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		// gopacket refuses a data offset below 5 and options cut short; the
		// semantics keep the header (its 20 fixed bytes are there).
		*tcp = tcpFixed(b)
	}
	p.TCP = tcp
	p.L4, p.L4Off = b, off
	p.TCPRes = b[12] >> 1 & 0x07
	p.HeadersEnd = off + rules.HdrTCP.Def().MinLen

	hlen := int(tcp.DataOffset) * 4
	// The IP payload ends at the IP length but never past the frame's
	// length on the wire (Wireshark's set_actual_length): a 54-byte frame
	// saying ip.len 65535 has tcp.len 0.
	if seg := min(p.IPPayload, p.Len-off); hlen >= 20 && p.IPPayloadKnown && seg >= hlen {
		p.TCPLen, p.HasTCPLen = seg-hlen, true
	}
}

// tcpFixed decodes the 20 fixed bytes of a TCP header.
func tcpFixed(b []byte) layers.TCP {
	return layers.TCP{
		SrcPort:    layers.TCPPort(binary.BigEndian.Uint16(b[0:2])),
		DstPort:    layers.TCPPort(binary.BigEndian.Uint16(b[2:4])),
		Seq:        binary.BigEndian.Uint32(b[4:8]),
		Ack:        binary.BigEndian.Uint32(b[8:12]),
		DataOffset: b[12] >> 4,
		NS:         b[12]&0x01 != 0,
		CWR:        b[13]&0x80 != 0,
		ECE:        b[13]&0x40 != 0,
		URG:        b[13]&0x20 != 0,
		ACK:        b[13]&0x10 != 0,
		PSH:        b[13]&0x08 != 0,
		RST:        b[13]&0x04 != 0,
		SYN:        b[13]&0x02 != 0,
		FIN:        b[13]&0x01 != 0,
		Window:     binary.BigEndian.Uint16(b[14:16]),
		Checksum:   binary.BigEndian.Uint16(b[16:18]),
		Urgent:     binary.BigEndian.Uint16(b[18:20]),
	}
}

func (p *Packet) decodeUDP(b []byte, off int) {
	if !p.fits(rules.HdrUDP, b) {
		return
	}
	udp := &p.st.udp
	if udp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
		// gopacket refuses a length field below 8; the header is there.
		*udp = layers.UDP{
			SrcPort: layers.UDPPort(binary.BigEndian.Uint16(b[0:2])),
			DstPort: layers.UDPPort(binary.BigEndian.Uint16(b[2:4])),
			Length:  binary.BigEndian.Uint16(b[4:6]),
		}
	}
	p.UDP = udp
	p.L4 = b
	p.HeadersEnd = off + rules.HdrUDP.Def().MinLen
	p.children(rules.HdrUDP, b, off)
}
