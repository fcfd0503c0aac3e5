package rules

import (
	"fmt"
	"strings"
)

// The header table: one row per header, as the catalogue has one row per
// field. The compiler's parser, its reachability analysis and schema, the
// reference evaluator and the linter all read a header's place in the packet
// (what it follows, and on which value), how many bytes make it present, how
// its length is found and its presence bit from here.

// Facts: the bits of the presence bitmap every event carries, one per
// header, plus a few conditions some fields add to their header's. A field
// is present when its fact is. Numbered here only, in this order (events
// and listings depend on it; new ones go before NumFacts). Facts stay below
// bit 56 (the parser's presence spill relies on it).
const (
	FactFrame   = iota
	FactEth     //
	FactEthType // eth.type: absent on 802.3 length frames
	FactVLAN1   // the outer VLAN tag; FactVLAN1+1 the inner one
	FactVLAN2
	FactIPv4
	FactIPv6
	FactTCP
	FactUDP
	FactICMP
	FactICMPv6
	FactTCPLen       // tcp.len: the IP length fields are consistent
	FactHTTP         // an HTTP request or status line starts the payload
	FactHTTPRequest  // a complete request line: http.request, method, uri, version
	FactDNS          // a DNS header (12 bytes)
	FactDNSQuery     // the first question: name, type, class
	FactTLS          // a TLS record header
	FactTLSHandshake // a handshake message header that fits its record
	FactTLSHello     // a ClientHello or ServerHello with its version
	FactDNSResponse  // a DNS response: dns.flags.rcode (Wireshark shows it in responses only)
	FactDNSProto     // the protocol dns: a DNS message that is not mDNS or LLMNR (Wireshark's dns)
	FactMDNS         // the protocol mdns: a DNS message over UDP on mDNS's port (DNSVariantOf)
	FactLLMNR        // the protocol llmnr: a DNS message over UDP on LLMNR's port
	FactHTTPResponse // a complete status line: http.response, code, phrase, version
	FactHTTPTx       // a response paired with its request (transactions.go): http.time, http.response_for.*
	FactDNSA         // dns.a: an A record among the entries walked
	FactDNSAAAA      // dns.aaaa: an AAAA record
	FactDNSTTL       // dns.resp.ttl: a record that is not OPT
	FactTLSCipher    // tls.handshake.ciphersuite: a ServerHello's cipher suite
	FactTLSSupVer    // tls.handshake.extensions.supported_version: a ServerHello's supported_versions extension
	FactDNSTx        // a DNS response paired with its query (dnstx.go): dns.time
	FactTLSTx        // a ServerHello paired with its ClientHello (dnstx.go): tls.handshake.time
	FactSyscall      // a system-call event (syscall.go)
	FactFd           // the call's socket address is an IPv4 or IPv6 one
	FactFdIPv4       // fd.sip: an IPv4 socket address
	FactFdIPv6       // fd.sip6: an IPv6 socket address
	FactFdCIPv4      // fd.cip: the client's IPv4 address (accept)
	FactFdCIPv6      // fd.cip6: the client's IPv6 address (accept)
	FactARP
	FactSCTP
	FactGRE
	FactVXLAN
	FactICMPv6Echo
	FactICMPv6NS
	FactICMPv6NA
	FactIPVersion // ip.version: an IPv4 or an IPv6 header
	FactIEEE8021AD
	FactProc       // the process fields: always in system-call events, in packet events when the local socket is known (proc.go)
	FactTCPPayload // tcp.payload: the segment has payload bytes
	FactUDPPayload // udp.payload: the datagram has payload bytes
	FactHTTPLimit  // http.truncated: the HTTP decoder gave up at a limit (L7Limits)
	FactDNSLimit   // dns.truncated: the DNS record walk gave up at a limit
	FactTLSLimit   // tls.truncated: the TLS extension walk gave up at a limit
	NumFacts
)

// MaxExtHeaders bounds the IPv6 extension-header walk, in the kernel and in
// the reference alike.
const MaxExtHeaders = 8

// IPv6ExtMinLen is the length of the shortest IPv6 extension header: the
// walk needs that much of each to find the next.
const IPv6ExtMinLen = 8

// IPv6ExtHeaders are the IPv6 extension headers the walk steps over:
// hop-by-hop, routing, fragment, AH and destination options.
var IPv6ExtHeaders = []uint8{0, 43, 44, 51, 60}

// LenRule says how a header's length, where the next header starts, is found.
type LenRule int

const (
	LenFixed         LenRule = iota // MinLen bytes
	LenIPv4IHL                      // the IHL field, in 4-byte words (at least 5)
	LenIPv6Chain                    // 40 bytes, then the extension-header chain (at most MaxExtHeaders)
	LenTCPDataOffset                // the data offset, in 4-byte words; tcp.len needs it consistent
	LenL7                           // decoded by the L7 stage from the transport payload
)

// Link is one way to reach a header: the header before it, and the value of
// that header's next-protocol field that leads here (an EtherType, an IP
// protocol number).
type Link struct {
	Parent Header
	Value  uint32
}

// HeaderDef is one row of the header table.
type HeaderDef struct {
	Header Header
	// Article names the header in prose: "a TCP header".
	Article string
	// Under lists the headers this one can follow, in the order the parser
	// tests them.
	Under []Link
	// MinLen is the bytes from the header's start that must be in the frame
	// for it to be present; every field read from the header lies in them
	// (checked when the catalogue is built). A transport header must also fit
	// in the IP payload the IP length fields state.
	MinLen int
	Len    LenRule
	// Fact is the header's presence bit; a header that repeats (Layers > 1)
	// has Layers consecutive bits from Fact on, outer first.
	Fact   int
	Layers int
	// FieldFacts are the fields present under a condition of their own, on
	// top of the header's.
	FieldFacts map[string]int
	// Guards are conditions on the header's own bytes (within MinLen) for
	// it to be present.
	Guards []Guard
	// NextAt are the offsets of the fields (NextSize bytes each) whose value
	// leads to a child, tried in order (UDP: the destination port, then the
	// source port), for the headers whose children the parsers find from the
	// table alone. Ethernet, VLAN and IP find theirs by code of their own.
	NextAt   []int
	NextSize int
	// Overlay: the header starts where its parent does (a message body whose
	// fields count from the parent's first byte, as ICMPv6 messages); else it
	// starts after the parent's MinLen bytes.
	Overlay bool
}

// Guard is a condition on a header's bytes: the Size-byte field (network
// order) at Offset holds one of Values.
type Guard struct {
	Offset, Size int
	Values       []uint32
}

// Start returns where d starts, counted from its parent's start.
func (d *HeaderDef) Start() int {
	if d.Overlay || len(d.Under) == 0 {
		return 0
	}
	return d.Under[0].Parent.Def().MinLen
}

// FromTransport returns the offset of d's start from the start of the
// transport header it lies in (the IP payload), and whether it lies in one.
func (d *HeaderDef) FromTransport() (int, bool) {
	off := 0
	for h := d; ; {
		if h.IsTransport() {
			return off, true
		}
		if len(h.Under) == 0 || h.Len == LenL7 {
			return 0, false
		}
		off += h.Start()
		h = h.Under[0].Parent.Def()
	}
}

// headerTable is the header table, parents before children.
var headerTable = []*HeaderDef{
	{Header: HdrFrame, Article: "a frame", Fact: FactFrame},
	{Header: HdrEth, Article: "an Ethernet", MinLen: 14, Fact: FactEth,
		FieldFacts: map[string]int{"eth.type": FactEthType}},
	{Header: HdrVLAN, Article: "a VLAN", MinLen: 4, Fact: FactVLAN1, Layers: 2,
		Under: []Link{{HdrEth, 0x8100}, {HdrEth, 0x88a8}, {HdrVLAN, 0x8100}, {HdrVLAN, 0x88a8}}},
	// An S-tag is the outer VLAN tag with TPID 0x88a8: the VLAN tag parser
	// finds it, no value leads to it.
	{Header: HdrIEEE8021AD, Article: "an 802.1ad", Fact: FactIEEE8021AD},
	{Header: HdrIPv4, Article: "an IPv4", MinLen: 20, Len: LenIPv4IHL, Fact: FactIPv4,
		Under:      []Link{{HdrEth, 0x0800}, {HdrVLAN, 0x0800}},
		FieldFacts: map[string]int{"ip.version": FactIPVersion}},
	{Header: HdrIPv6, Article: "an IPv6", MinLen: 40, Len: LenIPv6Chain, Fact: FactIPv6,
		Under: []Link{{HdrEth, 0x86dd}, {HdrVLAN, 0x86dd}}},
	{Header: HdrTCP, Article: "a TCP", MinLen: 20, Len: LenTCPDataOffset, Fact: FactTCP,
		Under:      []Link{{HdrIPv4, 6}, {HdrIPv6, 6}},
		FieldFacts: map[string]int{"tcp.len": FactTCPLen, "tcp.payload": FactTCPPayload}},
	{Header: HdrUDP, Article: "a UDP", MinLen: 8, Fact: FactUDP,
		Under:      []Link{{HdrIPv4, 17}, {HdrIPv6, 17}},
		FieldFacts: map[string]int{"udp.payload": FactUDPPayload},
		NextAt:     []int{2, 0}, NextSize: 2},
	{Header: HdrICMP, Article: "an ICMP", MinLen: 8, Fact: FactICMP,
		Under: []Link{{HdrIPv4, 1}}},
	{Header: HdrICMPv6, Article: "an ICMPv6", MinLen: 4, Fact: FactICMPv6,
		Under:  []Link{{HdrIPv6, 58}},
		NextAt: []int{0}, NextSize: 1},
	{Header: HdrSCTP, Article: "an SCTP", MinLen: 12, Fact: FactSCTP,
		Under: []Link{{HdrIPv4, 132}, {HdrIPv6, 132}}},
	{Header: HdrGRE, Article: "a GRE", MinLen: 4, Fact: FactGRE,
		Under: []Link{{HdrIPv4, 47}, {HdrIPv6, 47}}},
	{Header: HdrARP, Article: "an ARP", MinLen: 28, Fact: FactARP,
		Under: []Link{{HdrEth, 0x0806}, {HdrVLAN, 0x0806}},
		// IPv4 over Ethernet (or IEEE 802) addresses, as Wireshark needs to
		// show arp.src.hw_mac and arp.src.proto_ipv4.
		Guards: []Guard{{0, 2, []uint32{1, 6}}, {2, 2, []uint32{0x0800}}, {4, 1, []uint32{6}}, {5, 1, []uint32{4}}}},
	{Header: HdrVXLAN, Article: "a VXLAN", MinLen: 8, Fact: FactVXLAN,
		Under: []Link{{HdrUDP, 4789}}},
	{Header: HdrICMPv6Echo, Article: "an ICMPv6 echo", MinLen: 8, Fact: FactICMPv6Echo, Overlay: true,
		Under: []Link{{HdrICMPv6, 128}, {HdrICMPv6, 129}}},
	{Header: HdrICMPv6NS, Article: "a neighbour solicitation", MinLen: 24, Fact: FactICMPv6NS, Overlay: true,
		Under: []Link{{HdrICMPv6, 135}}},
	{Header: HdrICMPv6NA, Article: "a neighbour advertisement", MinLen: 24, Fact: FactICMPv6NA, Overlay: true,
		Under: []Link{{HdrICMPv6, 136}}},
	{Header: HdrHTTP, Article: "an HTTP", Len: LenL7, Fact: FactHTTP, Under: []Link{{HdrTCP, 0}}},
	{Header: HdrDNS, Article: "a DNS", Len: LenL7, Fact: FactDNS, Under: []Link{{HdrTCP, 0}, {HdrUDP, 0}}},
	{Header: HdrTLS, Article: "a TLS", Len: LenL7, Fact: FactTLS, Under: []Link{{HdrTCP, 0}}},
	{Header: HdrSyscall, Article: "a system call", Fact: FactSyscall},
	{Header: HdrProc, Article: "a process", Fact: FactProc},
	{Header: HdrFd, Article: "a socket address", MinLen: sockaddrIn6Len, Fact: FactFd,
		FieldFacts: map[string]int{"fd.sip": FactFdIPv4, "fd.sip6": FactFdIPv6, "fd.cip": FactFdCIPv4, "fd.cip6": FactFdCIPv6}},
}

var headerDefs = func() [NumHeaders]*HeaderDef {
	var out [NumHeaders]*HeaderDef
	for _, d := range headerTable {
		if out[d.Header] != nil {
			panic("rules: header table: two rows for " + d.Header.String())
		}
		out[d.Header] = d
	}
	for h, d := range out {
		if d == nil {
			panic("rules: header table: no row for " + Header(h).String())
		}
	}
	return out
}()

// Def returns h's row of the header table.
func (h Header) Def() *HeaderDef { return headerDefs[h] }

// HeaderDefs returns the header table, parents before children.
func HeaderDefs() []*HeaderDef { return headerTable }

// Children returns the rows reached from parent through a next-protocol
// value, in table order.
func Children(parent Header) []*HeaderDef {
	var out []*HeaderDef
	for _, d := range headerTable {
		if _, ok := d.Value(parent); ok {
			out = append(out, d)
		}
	}
	return out
}

// Value returns the next-protocol value of parent that leads to d.
func (d *HeaderDef) Value(parent Header) (uint32, bool) {
	for _, l := range d.Under {
		if l.Parent == parent {
			return l.Value, true
		}
	}
	return 0, false
}

// ChildFor returns the header that parent's next-protocol value v leads to.
func ChildFor(parent Header, v uint32) (Header, bool) {
	for _, d := range headerTable {
		for _, l := range d.Under {
			if l.Parent == parent && l.Value == v && d.Len != LenL7 {
				return d.Header, true
			}
		}
	}
	return 0, false
}

// Follows reports whether d can follow parent.
func (d *HeaderDef) Follows(parent Header) bool {
	_, ok := d.Value(parent)
	return ok
}

// IsTransport reports whether d is carried by IP.
func (d *HeaderDef) IsTransport() bool {
	return d.Follows(HdrIPv4) || d.Follows(HdrIPv6)
}

// FieldFact returns the presence bit of one occurrence of f (layer is
// 1-based and matters only for repeated headers).
func FieldFact(f *Field, layer int) int {
	d := f.Header.Def()
	if fact, ok := d.FieldFacts[f.Name]; ok {
		return fact
	}
	if d.Layers > 1 && layer > 1 {
		return d.Fact + layer - 1
	}
	return d.Fact
}

// checkHeaderFields checks that every field read straight from a header
// (not computed, not L7) lies within the bytes that make the header present:
// the parser checks those bytes, and nothing else, before it copies fields.
func checkHeaderFields(fields []*Field) error {
	var errs []string
	for _, f := range fields {
		if f.Computed || f.L7 != nil || f.Type == TypeProto || f.IsEither() || f.Header.IsL7() {
			continue
		}
		d := f.Header.Def()
		if f.Size == 0 || f.Offset+f.Size > d.MinLen {
			errs = append(errs, fmt.Sprintf("%s: bytes %d..%d lie outside the %d bytes that make %s header present",
				f.Name, f.Offset, f.Offset+f.Size, d.MinLen, d.Article))
		}
	}
	for _, d := range headerTable {
		for _, g := range d.Guards {
			if g.Offset+g.Size > d.MinLen || g.Size < 1 || g.Size > 2 {
				errs = append(errs, fmt.Sprintf("%s: a guard on bytes %d..%d", d.Header, g.Offset, g.Offset+g.Size))
			}
		}
		for _, at := range d.NextAt {
			if at+d.NextSize > d.MinLen || d.NextSize < 1 || d.NextSize > 2 {
				errs = append(errs, fmt.Sprintf("%s: a next-protocol field on bytes %d..%d", d.Header, at, at+d.NextSize))
			}
		}
		if d.Fact < 0 || d.Fact+max(d.Layers, 1) > NumFacts {
			errs = append(errs, fmt.Sprintf("%s: fact %d outside the bitmap", d.Header, d.Fact))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rules: header table: %s", strings.Join(errs, "; "))
	}
	return nil
}
