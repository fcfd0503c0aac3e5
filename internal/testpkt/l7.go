package testpkt

import (
	"encoding/binary"
	"strings"
)

// L7 payloads for tests: HTTP requests, DNS messages and TLS hellos, built
// byte by byte so that tests can also break them (cut them anywhere, lie in
// their lengths).

// HTTPRequest returns a request: the request line, the headers in order
// (each "Name: value"), and the empty line, with CR LF line ends.
func HTTPRequest(method, target, version string, headers ...string) []byte {
	var b strings.Builder
	b.WriteString(method + " " + target + " " + version + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// DNSName encodes a dotted name as labels ending with the root label; ""
// and "." are the root.
func DNSName(name string) []byte {
	var out []byte
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			out = append(out, byte(len(l)))
			out = append(out, l...)
		}
	}
	return append(out, 0)
}

// DNSMessage returns a DNS message: the header (id, flags, the counts) and
// one question of the encoded name (DNSName, or raw labels), type and class.
// Answers, if any, are appended by the caller.
func DNSMessage(id, flags uint16, qd, an uint16, qname []byte, qtype, qclass uint16) []byte {
	b := make([]byte, 12, 12+len(qname)+4)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	b = append(b, qname...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, qclass)
}

// DNSOverTCP prefixes a message with its 2-byte length.
func DNSOverTCP(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// TLSExt is one hello extension.
type TLSExt struct {
	Type uint16
	Data []byte
}

// SNIExt is a server_name extension with one host_name.
func SNIExt(host string) TLSExt {
	d := binary.BigEndian.AppendUint16(nil, uint16(len(host)+3))
	d = append(d, 0)
	d = binary.BigEndian.AppendUint16(d, uint16(len(host)))
	return TLSExt{Type: 0, Data: append(d, host...)}
}

// ALPNExt is an application_layer_protocol_negotiation extension.
func ALPNExt(protos ...string) TLSExt {
	var list []byte
	for _, p := range protos {
		list = append(list, byte(len(p)))
		list = append(list, p...)
	}
	return TLSExt{Type: 16, Data: append(binary.BigEndian.AppendUint16(nil, uint16(len(list))), list...)}
}

// TLSChangeCipherSpec is a ChangeCipherSpec record (TLS 1.2 record
// version), as a TLS 1.3 client sends before its second ClientHello.
var TLSChangeCipherSpec = []byte{20, 3, 3, 0, 1, 1}

// SSLv2ClientHello returns an SSLv2-compatible ClientHello offering the
// given version (0x0301 for TLS 1.0), three cipher specs and a 16-byte
// challenge, in a 2-byte SSLv2 record header.
func SSLv2ClientHello(version uint16) []byte {
	specs := []byte{0x00, 0x00, 0x39, 0x00, 0x00, 0x35, 0x01, 0x00, 0x80}
	body := []byte{1, byte(version >> 8), byte(version)}
	body = binary.BigEndian.AppendUint16(body, uint16(len(specs)))
	body = binary.BigEndian.AppendUint16(body, 0)  // session id
	body = binary.BigEndian.AppendUint16(body, 16) // challenge
	body = append(body, specs...)
	for i := range 16 {
		body = append(body, byte(i))
	}
	return append([]byte{0x80, byte(len(body))}, body...)
}

// PaddingExt is a padding extension of n zero bytes (a stand-in for a large
// key share).
func PaddingExt(n int) TLSExt { return TLSExt{Type: 21, Data: make([]byte, n)} }

// TLSHello describes a ClientHello (Type 1) or ServerHello (Type 2).
type TLSHello struct {
	Type          uint8  // 1 ClientHello, 2 ServerHello
	RecordVersion uint16 // 0x0301 if 0
	Version       uint16 // 0x0303 if 0
	SessionID     []byte
	CipherSuites  []uint16 // ClientHello; one for a ServerHello
	Extensions    []TLSExt
}

// Bytes returns the hello in a handshake record.
func (h TLSHello) Bytes() []byte {
	rv, v := h.RecordVersion, h.Version
	if rv == 0 {
		rv = 0x0301
	}
	if v == 0 {
		v = 0x0303
	}
	body := binary.BigEndian.AppendUint16(nil, v)
	for i := range 32 {
		body = append(body, byte(i*7))
	}
	body = append(body, byte(len(h.SessionID)))
	body = append(body, h.SessionID...)
	suites := h.CipherSuites
	if len(suites) == 0 {
		suites = []uint16{0x1301}
	}
	if h.Type == 1 {
		body = binary.BigEndian.AppendUint16(body, uint16(2*len(suites)))
		for _, s := range suites {
			body = binary.BigEndian.AppendUint16(body, s)
		}
		body = append(body, 1, 0) // compression: null
	} else {
		body = binary.BigEndian.AppendUint16(body, suites[0])
		body = append(body, 0)
	}
	var exts []byte
	for _, e := range h.Extensions {
		exts = binary.BigEndian.AppendUint16(exts, e.Type)
		exts = binary.BigEndian.AppendUint16(exts, uint16(len(e.Data)))
		exts = append(exts, e.Data...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
	body = append(body, exts...)
	hs := []byte{h.Type, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, byte(rv >> 8), byte(rv)}
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}

// DNSRR returns a resource record: the owner name (DNSName, raw labels, or
// a pointer such as {0xc0, 12}), type, class, TTL and data.
func DNSRR(owner []byte, typ, class uint16, ttl uint32, data []byte) []byte {
	b := append([]byte(nil), owner...)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// DNSCounts sets the authority and additional counts of a message built
// by DNSMessage.
func DNSCounts(msg []byte, ns, ar uint16) []byte {
	binary.BigEndian.PutUint16(msg[8:], ns)
	binary.BigEndian.PutUint16(msg[10:], ar)
	return msg
}
