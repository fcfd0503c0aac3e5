package reference

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/hdrlog/hdrlog/rules"
)

// L7: HTTP/1.x, DNS and TLS decoded from the payload of one segment, as the
// catalogue (rules/l7.go) and docs/l7.md state them, written from those
// statements and not from the compiler's code:
//
//   - The payload is what follows the transport header (TCP: its data
//     offset, at least 20 bytes; UDP: 8 bytes), as long as the IP length
//     says (UDP: the UDP length, within it), within the frame. A length of
//     0, or one too short for the extension headers, states nothing: the
//     frame decides. The decoders see its first rules.L7Window bytes.
//   - A protocol is decoded on its default ports (either direction; DNS also
//     on the UDP ports of mDNS and LLMNR, which rules.DNSVariantOf tells
//     apart: the protocols mdns and llmnr, not dns, whose question class
//     loses its top bit in mDNS) and on
//     the ports of `ports` lists; a rule sees it only on the default ports
//     and its own list. An HTTP request (a method of rules.HTTPMethods and a
//     space at the start of a TCP payload) is HTTP on any port, for every
//     rule.
//   - HTTP: a message is a request or a status line ("HTTP/1."); the start
//     line and each header line count when their line feed is in the
//     window; a CR before the line feed is dropped. The request line is
//     METHOD SP target SP HTTP/d.d, or METHOD SP target without a version
//     (HTTP/0.9, an empty version), with a target of at least one byte. Up to
//     128 header lines follow, to the empty line; a header is `name:` with
//     the name in any case, its value after the spaces and tabs that follow
//     spaces or tabs (more: absent); the first occurrence counts.
//   - DNS: a UDP payload, or a TCP one after its 2-byte length (the message
//     ends where that length says, if earlier); 12 bytes of header; the
//     first question when the question count is not 0: labels of 1 to 63
//     bytes up to the root label, at most rules.MaxDNSName bytes on the wire
//     with the root, no compression pointer nor extended label (the first
//     name has nothing before it to point to), then type and class. Dotted;
//     the root name is <Root>.
//   - TLS: a record header at the start of a TCP payload (type 20 to 24,
//     version 3.0 to 3.4); in a handshake record, or in the handshake record
//     right after a first ChangeCipherSpec record of one byte, the first
//     message's type when its length fits in the record; for a ClientHello (1) or a
//     ServerHello (2) the version and, walking at most
//     rules.MaxTLSExtensions extensions within the message, the record and
//     the window, the ClientHello's first server name (a host_name entry)
//     and the ALPN protocols (alpnList); a ServerHello's cipher suite (when
//     its 2 bytes are there) and the version of its supported_versions
//     extension (2 bytes of data; the first such extension).
//   - An SSLv2-compatible ClientHello (0x80, a length byte, type 1 and a
//     2-byte version: 5 bytes) is TLS: record version 0x0002, handshake type
//     1, the hello's version as tls.handshake.version.
//   - A ClientHello (in the first record) whose handshake message or record does not end in its
//     segment, whose server name was not found in it, from a segment of at
//     most rules.TLSHoldBytes bytes, is held when the hook's rules use the
//     server name: that segment shows no TLS, and the next segment of the
//     same flow (same addresses, ports and direction, sequence number right
//     after it) is decoded as the held bytes followed by its own payload
//     (the window), with HTTP and DNS left undecoded on it. The kernel also
//     forgets a held ClientHello after rules.TLSHoldNanos, which a replay
//     never reaches; this evaluator does not model time.

// l7Packet is the L7 decoding of one packet for one hook.
type l7Packet struct {
	sport, dport uint16
	tcp          bool
	request      bool // an HTTP request: HTTP on any port, for every rule
	variant      rules.DNSVariant

	http, dns, tls *l7Msg
	// more are the further requests of the segment (pipelined), at most
	// rules.MaxHTTPRequests-1: each one is a request that starts right
	// after the empty line ending the previous one's headers.
	more []*l7Msg
	// cut: bytes follow the last request decoded, past the bound.
	cut bool
}

// l7Msg is what one protocol's decoder found: present means the protocol's
// header is there; values maps field names (headers as "hdr:name") to
// values.
type l7Msg struct {
	start   int // a pipelined request's offset in the payload
	present bool
	values  map[string]Value
	// cnameTried: the first CNAME record was seen (DNS).
	cnameTried bool
}

func (m *l7Msg) set(name string, v Value) {
	if m.values == nil {
		m.values = map[string]Value{}
	}
	m.values[name] = v
}

func text(b []byte) Value { return Value{Present: true, Bytes: append([]byte(nil), b...)} }

// heldKey is a flow, per hook.
type heldKey struct {
	hook       rules.Hook
	src, dst   string
	sport, dpt uint16
}

type heldHello struct {
	next  uint32
	bytes []byte
}

// l7State is what an evaluator keeps between packets: held ClientHellos.
type l7State struct {
	held map[heldKey]heldHello
}

// payload returns the transport payload the decoders see, or nil.
func (p *Packet) payload() []byte {
	b := p.L4
	var off, n int
	switch {
	case p.TCP != nil && len(b) >= 20:
		off = int(b[12]>>4) * 4
		if off < 20 {
			return nil
		}
		n = len(b) - off
		if p.IPPayloadKnown && p.IPPayload >= 0 {
			n = min(n, p.IPPayload-off)
		}
	case p.UDP != nil && len(b) >= 8:
		off = 8
		ulen := int(binary.BigEndian.Uint16(b[4:6]))
		if ulen < 8 {
			return nil
		}
		n = ulen - 8
		if p.IPPayloadKnown && p.IPPayload >= 0 {
			n = min(n, p.IPPayload-8)
		}
		n = min(n, len(b)-off)
	default:
		return nil
	}
	if n <= 0 || off > len(b) {
		return nil
	}
	return b[off : off+n]
}

// ports of a rule's view of protocol h over UDP (udp) or TCP: the defaults
// and the rule's list.
func rulePorts(r *rules.Rule, h rules.Header, udp bool) []uint16 {
	return append(rules.DefaultPortsOver(h, udp), r.PortsFor(h)...)
}

// hookPorts: the defaults and every list of the hook's rules, computed
// once per evaluator (portsOf).
func (e *Evaluator) hookPorts(h rules.Hook, proto rules.Header, udp bool) []uint16 {
	if ports, ok := e.ports[portsKey{h, proto, udp}]; ok {
		return ports
	}
	return rules.DefaultPortsOver(proto, udp) // a hook without rules
}

// portsKey names a list of ports an evaluator decodes a protocol on.
type portsKey struct {
	hook  rules.Hook
	proto rules.Header
	udp   bool
}

// l7Protocols are the protocols decoded from a payload by port.
var l7Protocols = []rules.Header{rules.HdrHTTP, rules.HdrTLS, rules.HdrDNS}

// portsOf computes, for every hook of the rule set, protocol and transport,
// the defaults and every list of the hook's rules; and which hooks' rules
// use the server name.
func portsOf(rs *rules.RuleSet) (map[portsKey][]uint16, map[rules.Hook]bool) {
	ports, sni := map[portsKey][]uint16{}, map[rules.Hook]bool{}
	for _, r := range rs.Rules {
		for _, proto := range l7Protocols {
			for _, udp := range []bool{false, true} {
				k := portsKey{r.Hook, proto, udp}
				if _, ok := ports[k]; !ok {
					ports[k] = rules.DefaultPortsOver(proto, udp)
				}
				ports[k] = append(ports[k], r.PortsFor(proto)...)
			}
		}
		check := func(ref rules.FieldRef) {
			sni[r.Hook] = sni[r.Hook] || ref.Field.Name == "tls.handshake.extensions_server_name"
		}
		walk(r.Match, check)
		for _, lf := range r.Log {
			check(lf.Ref)
		}
	}
	return ports, sni
}

func (l *l7Packet) on(ports []uint16) bool {
	return slices.Contains(ports, l.sport) || slices.Contains(ports, l.dport)
}

// usesSNI reports whether the rules of hook h use the server name.
func (e *Evaluator) usesSNI(h rules.Hook) bool { return e.sni[h] }

// decodeL7 decodes the packet's payload for hook h (nil: no transport
// payload), updating the held ClientHellos.
func (e *Evaluator) decodeL7(h rules.Hook, p *Packet) *l7Packet {
	pl := p.payload()
	if pl == nil {
		return nil
	}
	l := &p.st.l7
	*l = l7Packet{tcp: p.TCP != nil, more: l.more[:0]}
	if p.TCP != nil {
		l.sport, l.dport = uint16(p.TCP.SrcPort), uint16(p.TCP.DstPort)
	} else {
		l.sport, l.dport = uint16(p.UDP.SrcPort), uint16(p.UDP.DstPort)
	}
	win := pl[:min(len(pl), rules.L7Window)]
	plen := len(pl)
	cont := false
	var key heldKey
	tlsOn := l.tcp && l.on(e.hookPorts(h, rules.HdrTLS, false))
	if tlsOn {
		key = heldKey{hook: h, sport: l.sport, dpt: l.dport}
		if p.IPv4 != nil {
			key.src, key.dst = string(p.IPv4.SrcIP.To4()), string(p.IPv4.DstIP.To4())
		} else {
			key.src, key.dst = string(p.IPv6.SrcIP.To16()), string(p.IPv6.DstIP.To16())
		}
		if held, ok := e.l7.held[key]; ok && held.next == p.TCP.Seq {
			delete(e.l7.held, key)
			n := min(len(pl), rules.L7Window-len(held.bytes))
			win = append(append([]byte(nil), held.bytes...), pl[:n]...)
			plen, cont = len(win), true
		}
	}
	if l.tcp && !cont {
		var next int
		l.http, next = decodeHTTP(l, win, l.on(e.hookPorts(h, rules.HdrHTTP, false)))
		rest, at := pl, 0
		for len(l.more) < rules.MaxHTTPRequests-1 && next > 0 && next < len(rest) {
			rest, at = rest[next:], at+next
			var req l7Packet
			m, nx := decodeHTTP(&req, rest[:min(len(rest), rules.L7Window)], false)
			if !req.request {
				break
			}
			m.start = at
			l.more = append(l.more, m)
			next = nx
		}
		// More follows the last request decoded: cut by the bound, which
		// that request says (http.truncated).
		l.cut = len(l.more) == rules.MaxHTTPRequests-1 && next > 0 && next < len(rest)
		if l.cut {
			l.more[len(l.more)-1].set("http.truncated", Value{Present: true, U: 1})
		}
	}
	if l.tcp && !cont && e.usesTx(h) {
		e.httpTx(p, l)
	}
	if !cont && l.on(e.hookPorts(h, rules.HdrDNS, !l.tcp)) {
		base := 0
		if l.tcp {
			base = 2
		}
		l.variant = rules.DNSVariantOf(l.sport, l.dport, !l.tcp)
		l.dns = decodeDNS(win, len(pl), base, l.variant == rules.DNSMulticast)
		if e.tx.dnsHooks[h] {
			e.dnsTx(p, l, win, base)
		}
	}
	if tlsOn {
		var sni bool
		l.tls, sni = decodeTLS(win, plen)
		clientHello := l.tls != nil && l.tls.values["tls.handshake.type"].Present && l.tls.values["tls.handshake.type"].U == 1
		if clientHello && win[0] == 22 && e.usesSNI(h) && !cont && !sni && len(win) == len(pl) && len(pl) <= rules.TLSHoldBytes && helloCut(win) {
			e.l7.held[key] = heldHello{next: p.TCP.Seq + uint32(len(pl)), bytes: append([]byte(nil), pl...)}
			l.tls = nil
		}
		if l.tls != nil && e.tx.tlsHooks[h] {
			e.tlsTx(p, l)
		}
	}
	return l
}

// decodeHTTP decodes an HTTP message at the start of a TCP payload; next is
// where a further request may start in a request (after the empty line
// that ends its headers), 0 when none.
func decodeHTTP(l *l7Packet, w []byte, onPort bool) (msg *l7Msg, next int) {
	m := 0
	for _, meth := range rules.HTTPMethods {
		if len(w) > len(meth) && string(w[:len(meth)]) == meth && w[len(meth)] == ' ' {
			m = len(meth)
		}
	}
	l.request = m > 0
	if !l.request && !(onPort && bytes.HasPrefix(w, []byte("HTTP/1."))) {
		return nil, 0
	}
	msg = &l7Msg{present: true}
	// The decoder gives up (http.truncated) where the start line or the
	// headers go on past the bytes decoded without their empty line, and
	// at rules.MaxHTTPLines header lines.
	gaveUp := func() { msg.set("http.truncated", Value{Present: true, U: 1}) }
	lf := bytes.IndexByte(w, '\n')
	if lf < 0 {
		gaveUp()
		return msg, 0
	}
	end := func(ls, lf int) int {
		if lf > ls && w[lf-1] == '\r' {
			return lf - 1
		}
		return lf
	}
	e := end(0, lf)
	if m == 0 {
		decodeStatus(msg, w[:e])
	}
	if m > 0 {
		if sp := bytes.IndexByte(w[m+1:e], ' '); sp < 0 && e > m+1 {
			// A version-less (HTTP/0.9) request line.
			msg.set("http.request", Value{Present: true, U: 1})
			msg.set("http.request.method", text(w[:m]))
			msg.set("http.request.uri", text(w[m+1:e]))
			msg.set("http.request.version", text(nil)) // empty, as Wireshark shows it
		} else if sp > 0 {
			sp += m + 1
			v := w[sp+1 : e]
			if len(v) == 8 && bytes.HasPrefix(v, []byte("HTTP/")) && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
				msg.set("http.request", Value{Present: true, U: 1})
				msg.set("http.request.method", text(w[:m]))
				msg.set("http.request.uri", text(w[m+1:sp]))
				msg.set("http.request.version", text(v))
			}
		}
	}
	ls := lf + 1
	for i := 0; ; i++ {
		if ls >= len(w) {
			gaveUp()
			break
		}
		if i >= rules.MaxHTTPLines && w[ls] != '\n' && w[ls] != '\r' {
			// After the bound, only the empty line is read.
			gaveUp()
			break
		}
		n := bytes.IndexByte(w[ls:], '\n')
		if n < 0 {
			gaveUp()
			break
		}
		// A CR ends a header line: a bare one as servers (Python's
		// http.server) and Wireshark do, the next line starting after
		// it; one before the line feed with it.
		e, nl := ls+n, ls+n+1
		if c := bytes.IndexByte(w[ls:ls+n], '\r'); c >= 0 {
			e, nl = ls+c, ls+c+1
			if nl == ls+n {
				nl++
			}
		}
		if e == ls {
			if l.request && nl < len(w) {
				next = nl
			}
			break
		}
		line := w[ls:e]
		if c := bytes.IndexByte(line, ':'); c > 0 {
			name := "hdr:" + string(bytes.Map(func(r rune) rune { return rune(rules.FoldASCII(byte(r))) }, line[:c]))
			if _, seen := msg.values[name]; !seen {
				v, ows := line[c+1:], 0
				for ows < len(v) && (v[ows] == ' ' || v[ows] == '\t') {
					ows++
				}
				msg.set(name, text(v[ows:]))
			}
		}
		ls = nl
	}
	return msg, next
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// decodeStatus decodes a status line (without its line end): HTTP/1.d, a
// space, three digits, then a space and the phrase or nothing.
func decodeStatus(msg *l7Msg, line []byte) {
	if len(line) < 12 || !isDigit(line[7]) || line[8] != ' ' || !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) {
		return
	}
	phrase := []byte{}
	if len(line) > 12 {
		if line[12] != ' ' {
			return
		}
		phrase = line[13:]
	}
	code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	msg.set("http.response", Value{Present: true, U: 1})
	msg.set("http.response.code", num(code))
	msg.set("http.response.phrase", text(phrase))
	msg.set("http.response.version", text(line[:8]))
}

// decodeDNS decodes the message at w[base:], of a payload of plen bytes
// (more than w holds when the window is full); in mDNS, the question's
// class loses its top bit (the unicast-response bit).
func decodeDNS(w []byte, plen, base int, mdns bool) *l7Msg {
	lim, msgEnd := len(w), plen
	if base == 2 && len(w) >= 2 {
		msgEnd = int(binary.BigEndian.Uint16(w)) + 2
		lim = min(lim, msgEnd)
	}
	if lim < base+12 {
		return nil
	}
	h := w[base:]
	msg := &l7Msg{present: true}
	u16 := func(b []byte) Value { return num(binary.BigEndian.Uint16(b)) }
	msg.set("dns.id", u16(h[0:]))
	msg.set("dns.flags.response", flag(h[2]&0x80 != 0))
	if h[2]&0x80 != 0 {
		msg.set("dns.flags.rcode", num(h[3]&0x0f)) // responses only, as in Wireshark
	}
	msg.set("dns.count.queries", u16(h[4:]))
	msg.set("dns.count.answers", u16(h[6:]))
	if binary.BigEndian.Uint16(h[4:]) != 0 {
		dnsQuestion(msg, w, base, lim, mdns)
	}
	dnsRecords(msg, w, base, lim, msgEnd)
	return msg
}

// dnsQuestion decodes the first question: its name without compression
// (nothing precedes it but the header), its type and class.
func dnsQuestion(msg *l7Msg, w []byte, base, lim int, mdns bool) {
	name, pos, ok := dnsName(w, base+12, base, lim, false)
	if !ok || pos+4 > lim {
		return
	}
	msg.set("dns.qry.name", text([]byte(name)))
	msg.set("dns.qry.type", num(binary.BigEndian.Uint16(w[pos:])))
	class := binary.BigEndian.Uint16(w[pos+2:])
	if mdns {
		class &= 0x7fff
	}
	msg.set("dns.qry.class", num(class))
}

// dnsName decodes the name at w[pos:] (the message starts at base and
// ends at lim): labels of 1 to 63 bytes up to the root label, at most
// rules.MaxDNSName bytes on the wire with the root, at most
// rules.MaxDNSSteps labels and pointers. With pointers, a compression
// pointer is followed when it points before the start of the label run
// it ends (the name's start, or the previous pointer's target), so every
// pointer goes back and the walk ends; without, a pointer makes the name
// invalid, as does an extended label type. end is where the name ends when
// it has no pointer (the byte after its root label). Dotted; the root name
// is <Root>.
func dnsName(w []byte, pos, base, lim int, pointers bool) (name string, end int, ok bool) {
	var labels []string
	run, wire := pos, 0
	for range rules.MaxDNSSteps {
		if pos >= lim {
			return "", 0, false
		}
		n := int(w[pos])
		switch {
		case n == 0:
			if len(labels) == 0 {
				return "<Root>", pos + 1, true
			}
			return strings.Join(labels, "."), pos + 1, true
		case n&0xc0 == 0xc0 && pointers:
			if pos+2 > lim {
				return "", 0, false
			}
			t := base + (n&0x3f)<<8 | int(w[pos+1])
			if t >= run {
				return "", 0, false
			}
			pos, run = t, t
			continue
		case n&0xc0 != 0 || pos+1+n > lim:
			return "", 0, false
		}
		if wire += n + 1; wire+1 > rules.MaxDNSName {
			return "", 0, false
		}
		labels = append(labels, string(w[pos+1:pos+1+n]))
		pos += 1 + n
	}
	return "", 0, false
}

// DNS resource-record types and the OPT pseudo-record, whose TTL field
// holds EDNS flags (Wireshark shows no dns.resp.ttl for it).
const (
	dnsTypeA     = 1
	dnsTypeCNAME = 5
	dnsTypeAAAA  = 28
	dnsTypeOPT   = 41
)

// dnsRecords walks the message's first rules.MaxDNSRecords entries (the
// questions, then the records of every section) in at most
// rules.MaxDNSWalkSteps steps (a label, a pointer or a root label of an
// entry's name; an entry's fixed part), for the response fields: the first
// record's TTL (OPT excepted), the first A record's address (the first 4
// bytes of its data, of any class, as Wireshark shows it), the first AAAA
// record's (16 bytes) and the first CNAME record's name. A record whose
// data is shorter than an address has none. An entry's name ends at its root label or at a pointer; an entry
// that runs past the message ends the walk.
func dnsRecords(msg *l7Msg, w []byte, base, lim, msgEnd int) {
	h := w[base:]
	be := binary.BigEndian
	questions := int(be.Uint16(h[4:]))
	entries := questions + int(be.Uint16(h[6:])) + int(be.Uint16(h[8:])) + int(be.Uint16(h[10:]))
	more := entries > rules.MaxDNSRecords
	entries = min(entries, rules.MaxDNSRecords)
	pos, steps := base+12, 0
	// The walk gives up (dns.truncated) when it needs a step past its
	// bound, when it has walked its entries and more are announced, and
	// when it needs bytes past those present, within the message (cut).
	gaveUp := func() { msg.set("dns.truncated", Value{Present: true, U: 1}) }
	cut := func(q int) {
		if q <= msgEnd {
			gaveUp()
		}
	}
	step := func() bool {
		steps++
		if steps > rules.MaxDNSWalkSteps {
			gaveUp()
			return false
		}
		return true
	}
	walked := false
	if more {
		defer func() {
			if walked {
				gaveUp()
			}
		}()
	}
	for i := 0; i < entries; i++ {
		for {
			if !step() {
				return
			}
			if pos >= lim {
				cut(pos + 1)
				return
			}
			n := int(w[pos])
			if n == 0 {
				pos++
				break
			}
			if n&0xc0 == 0xc0 {
				if pos+2 > lim {
					cut(pos + 2)
					return
				}
				pos += 2
				break
			}
			if n&0xc0 != 0 {
				return
			}
			if pos+1+n > lim {
				cut(pos + 1 + n)
				return
			}
			pos += 1 + n
		}
		if !step() {
			return
		}
		if i < questions {
			if pos += 4; pos > lim {
				cut(pos)
				return
			}
			continue
		}
		if pos+10 > lim {
			cut(pos + 10)
			return
		}
		typ := be.Uint16(w[pos:])
		data := pos + 10
		end := data + int(be.Uint16(w[pos+8:]))
		if end > lim {
			cut(end)
			return
		}
		has := func(name string) bool { return msg.values[name].Present }
		if typ != dnsTypeOPT && !has("dns.resp.ttl") {
			msg.set("dns.resp.ttl", num(be.Uint32(w[pos+4:])))
		}
		switch {
		case typ == dnsTypeA && end-data >= 4 && !has("dns.a"):
			msg.set("dns.a", Value{Present: true, Bytes: append([]byte(nil), w[data:data+4]...)})
		case typ == dnsTypeAAAA && end-data >= 16 && !has("dns.aaaa"):
			msg.set("dns.aaaa", Value{Present: true, Bytes: append([]byte(nil), w[data:data+16]...)})
		case typ == dnsTypeCNAME && !has("dns.cname") && !msg.cnameTried:
			// The first CNAME record's name; if it is invalid, no later
			// one is taken.
			msg.cnameTried = true
			if name, _, ok := dnsName(w, data, base, lim, true); ok {
				msg.set("dns.cname", text([]byte(name)))
			}
		}
		pos = end
	}
	walked = true
}

// decodeTLS decodes a TLS record at the start of w, of a payload of plen
// bytes (more than w holds when the window is full); sni reports whether a
// ClientHello's server name was found.
func decodeTLS(w []byte, plen int) (msg *l7Msg, sni bool) {
	var peek [16]byte
	copy(peek[:], w)
	if plen >= 5 && peek[0] == 0x80 && peek[2] == 1 {
		// An SSLv2-compatible ClientHello: Wireshark shows the record
		// version 0x0002, the message type and the hello's version.
		msg = &l7Msg{present: true}
		msg.set("tls.record.version", num(uint16(2)))
		msg.set("tls.handshake.type", num(uint8(1)))
		msg.set("tls.handshake.version", num(binary.BigEndian.Uint16(peek[3:5])))
		return msg, false
	}
	if plen < 5 || peek[0] < 20 || peek[0] > 24 || peek[1] != 3 || peek[2] > 4 {
		return nil, false
	}
	msg = &l7Msg{present: true}
	msg.set("tls.record.version", num(binary.BigEndian.Uint16(peek[1:3])))
	// b: the handshake record, the first one or the one after a
	// ChangeCipherSpec record of one byte.
	b := 0
	if peek[0] == 20 {
		if plen < ccsLen+9 || binary.BigEndian.Uint16(peek[3:5]) != 1 || peek[ccsLen] != 22 || peek[ccsLen+1] != 3 || peek[ccsLen+2] > 4 {
			return msg, false
		}
		b = ccsLen
	}
	recEnd := b + 5 + int(binary.BigEndian.Uint16(peek[b+3:b+5]))
	hsEnd := b + 9 + (int(peek[b+6])<<16 | int(binary.BigEndian.Uint16(peek[b+7:b+9])))
	if peek[b] != 22 || plen < b+9 || hsEnd > recEnd {
		return msg, false
	}
	typ := peek[b+5]
	msg.set("tls.handshake.type", num(typ))
	if typ != 1 && typ != 2 {
		return msg, false
	}
	lim := min(len(w), recEnd, hsEnd)
	if lim < b+11 {
		return msg, false
	}
	msg.set("tls.handshake.version", num(binary.BigEndian.Uint16(w[b+9:b+11])))
	// The decoder gives up (tls.truncated) where the hello goes on past
	// the bytes present (a read past them, within the message and the
	// record), and where the extensions go on past the bound.
	cut := func(q int) {
		if q > len(w) && q <= hsEnd && q <= recEnd {
			msg.set("tls.truncated", Value{Present: true, U: 1})
		}
	}
	p := b + 43
	if p+1 > lim {
		cut(p + 1)
		return msg, false
	}
	p += 1 + int(w[p])
	if typ == 1 {
		if p+2 > lim {
			cut(p + 2)
			return msg, false
		}
		p += 2 + int(binary.BigEndian.Uint16(w[p:]))
		if p+1 > lim {
			cut(p + 1)
			return msg, false
		}
		p += 1 + int(w[p])
	} else {
		if p+2 <= lim {
			msg.set("tls.handshake.ciphersuite", num(binary.BigEndian.Uint16(w[p:])))
		}
		p += 3
	}
	if p+2 > lim {
		cut(p + 2)
		return msg, false
	}
	extEnd := p + 2 + int(binary.BigEndian.Uint16(w[p:]))
	p += 2
	if extEnd > hsEnd || extEnd > recEnd {
		return msg, false
	}
	for i := 0; ; i++ {
		if p+4 > extEnd {
			break
		}
		if i == rules.MaxTLSExtensions {
			msg.set("tls.truncated", Value{Present: true, U: 1})
			break
		}
		if p+4 > lim {
			cut(p + 4)
			break
		}
		et, el := binary.BigEndian.Uint16(w[p:]), int(binary.BigEndian.Uint16(w[p+2:]))
		q, end := p+4, p+4+el
		if end > extEnd {
			break
		}
		if end > lim {
			cut(end)
			break
		}
		p = end
		d := w[q:end]
		switch {
		case et == 0 && typ == 1 && !sni && len(d) >= 5:
			list := int(binary.BigEndian.Uint16(d))
			nlen := int(binary.BigEndian.Uint16(d[3:]))
			if list+2 <= len(d) && list >= 3 && d[2] == 0 && nlen+3 <= list {
				msg.set("tls.handshake.extensions_server_name", text(d[5:5+nlen]))
				sni = true
			}
		case et == 43 && typ == 2 && len(d) == 2 && !msg.values["tls.handshake.extensions.supported_version"].Present:
			msg.set("tls.handshake.extensions.supported_version", num(binary.BigEndian.Uint16(d)))
		case et == 16 && !msg.values["tls.handshake.extensions_alpn_str"].Present && len(d) >= 2:
			if v, ok := alpnList(d); ok {
				msg.set("tls.handshake.extensions_alpn_str", v)
			}
		}
	}
	return msg, sni
}

// alpnList decodes an ALPN extension's data: a 2-byte length, then that
// many bytes of protocols, each a length byte (1 to 255) and its bytes,
// filling the list exactly. The value is the protocols comma-joined.
func alpnList(d []byte) (Value, bool) {
	n := int(binary.BigEndian.Uint16(d))
	if n < 2 || n+2 > len(d) {
		return Value{}, false
	}
	list := d[2 : 2+n]
	v := Value{Present: true}
	var joined []byte
	for p := 0; p < len(list); {
		e := int(list[p])
		if e == 0 || p+1+e > len(list) {
			return Value{}, false
		}
		if p > 0 {
			joined = append(joined, ',')
		}
		joined = append(joined, list[p+1:p+1+e]...)
		v.Elems = append(v.Elems, append([]byte(nil), list[p+1:p+1+e]...))
		p += 1 + e
	}
	v.Bytes = joined
	return v, true
}

// ccsLen is a ChangeCipherSpec record's length: its header and one byte.
const ccsLen = 6

// helloCut reports whether the handshake message or its record goes on
// past w.
func helloCut(w []byte) bool {
	recEnd := 5 + int(binary.BigEndian.Uint16(w[3:5]))
	hsEnd := 9 + (int(w[6])<<16 | int(binary.BigEndian.Uint16(w[7:9])))
	return recEnd > len(w) || hsEnd > len(w)
}

// l7Value is a field of the current rule's view of the packet.
func l7Value(ref rules.FieldRef, p *Packet) Value {
	f := ref.Field
	m := p.l7Msg(f.Header)
	if m == nil || !m.present {
		return Value{}
	}
	name := f.Name
	if f.L7 != nil && f.L7.Header != "" {
		name = "hdr:" + f.L7.Header
	}
	return m.values[name]
}

// l7Msg returns the current rule's view of protocol h: decoded, and seen on
// the rule's ports (or, for an HTTP request, anywhere).
func (p *Packet) l7Msg(h rules.Header) *l7Msg {
	l := p.l7
	if l == nil || p.rule == nil {
		return nil
	}
	var m *l7Msg
	switch h {
	case rules.HdrHTTP:
		m = l.http
		if l.request {
			return m
		}
	case rules.HdrDNS:
		m = l.dns
	case rules.HdrTLS:
		m = l.tls
	}
	if m == nil || !l.on(rulePorts(p.rule, h, !l.tcp)) {
		return nil
	}
	return m
}

func init() {
	for _, h := range rules.L7Protocols {
		h := h
		protocols[h.String()] = func(p *Packet) bool { m := p.l7Msg(h); return m != nil && m.present }
	}
	for name, v := range map[string]rules.DNSVariant{"dns": rules.DNSPlain, "mdns": rules.DNSMulticast, "llmnr": rules.DNSLLMNR} {
		v := v
		protocols[name] = func(p *Packet) bool {
			m := p.l7Msg(rules.HdrDNS)
			return m != nil && m.present && p.l7.variant == v
		}
	}
}
