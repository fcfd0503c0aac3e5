package runtime_test

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// The differential generators' L7 part: payloads of HTTP requests and
// responses, DNS messages and TLS hellos, often broken (cut at any byte, a
// byte changed, lengths that lie), and string tests on the L7 fields with
// values those payloads carry.

var (
	genHosts   = []string{"example.com", "Example.COM", "www.example.com", "a.test", "", "xn--bcher-kva.example", "sni.hdrlog.test"}
	genPaths   = []string{"/", "/api/v1/items?id=7", "/API", "/index.html", "/a%20b", "*", strings.Repeat("/long", 40)}
	genAgents  = []string{"curl/8.5.0", "Mozilla/5.0 (X11)", "", "hdrlog-test"}
	genHeaders = []string{"Host", "User-Agent", "Referer", "Content-Type", "Content-Length", "Authorization", "Cookie", "X-Request-Id", "Set-Cookie", "host", "X-REQUEST-ID"}
	genALPN    = []string{"h2", "http/1.1", "h3", "x"}
	genStrings = []string{"example", "example.com", ".com", "/api", "GET", "POST", "HTTP/1.1", "curl", "h2", "a", "", "Example", "test", "7", "id=7"}
)

// genL7Payload returns an L7 payload, intact or broken.
func genL7Payload(c *chooser, tcp bool) []byte {
	var b []byte
	switch n := c.intn(10); {
	case !tcp || n < 3:
		msg := testpkt.DNSMessage(c.u16(), pick(c, uint16(0x0100), 0x8180, 0x8183, c.u16()), pick(c, uint16(1), 1, 0, 2), pick(c, uint16(0), 1),
			genDNSName(c), pick(c, uint16(1), 28, 65, 255, c.u16()), pick(c, uint16(1), 1, 3, c.u16()))
		if tcp {
			msg = testpkt.DNSOverTCP(msg)
		}
		b = msg
	case n < 7:
		b = genHTTP(c)
	default:
		b = genHello(c)
	}
	switch c.intn(8) {
	case 0:
		b = b[:c.intn(len(b)+1)]
	case 1:
		if len(b) > 0 {
			b = append([]byte(nil), b...)
			b[c.intn(len(b))] = c.byte()
		}
	}
	return b
}

func genDNSName(c *chooser) []byte {
	switch c.intn(8) {
	case 0:
		return []byte{0}
	case 1:
		return []byte{3, 'w', 'w', 'w', 0xc0, 12} // a pointer
	case 2:
		l := strings.Repeat("x", 63)
		return testpkt.DNSName(strings.Repeat(l+".", 3+c.intn(2)) + "y")
	case 3:
		return []byte{0x40 | byte(c.intn(64)), 1, 2}
	}
	return testpkt.DNSName(pick(c, genHosts...))
}

func genHTTP(c *chooser) []byte {
	if c.chance(1, 5) {
		return []byte(pick(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=b\r\n\r\n", "HTTP/1.0 404 Not Found\nContent-Length: 0\n\n", "HTTP/2 200\r\n\r\n"))
	}
	var hs []string
	for n := c.intn(6); n > 0; n-- {
		name := pick(c, genHeaders...)
		sep := pick(c, ": ", ":", ":\t", ": "+strings.Repeat(" ", 16), " : ", ":"+strings.Repeat(" ", 17))
		val := pick(c, pick(c, genHosts...), pick(c, genAgents...), "text/plain", "0", "Basic dXNlcjpwYXNz", "r-42")
		hs = append(hs, name+sep+val)
	}
	req := testpkt.HTTPRequest(pick(c, append(rules.HTTPMethods, "get", "PROPFIND", "GET")...), pick(c, genPaths...), pick(c, "HTTP/1.1", "HTTP/1.0", "HTTP/1.x", "HTTP/10.1"), hs...)
	if c.chance(1, 4) {
		req = []byte(strings.ReplaceAll(string(req), "\r\n", "\n"))
	}
	return req
}

func genHello(c *chooser) []byte {
	h := testpkt.TLSHello{Type: pick(c, uint8(1), 1, 2), RecordVersion: pick(c, uint16(0x0301), 0x0303, c.u16()), Version: 0x0303}
	if c.chance(1, 2) {
		h.SessionID = make([]byte, 32)
	}
	for n := c.intn(20); n > 0; n-- {
		h.CipherSuites = append(h.CipherSuites, c.u16())
	}
	for n := c.intn(5); n > 0; n-- {
		switch c.intn(4) {
		case 0:
			h.Extensions = append(h.Extensions, testpkt.SNIExt(pick(c, genHosts...)))
		case 1:
			h.Extensions = append(h.Extensions, testpkt.ALPNExt(pick(c, genALPN...), pick(c, genALPN...)))
		case 2:
			h.Extensions = append(h.Extensions, testpkt.PaddingExt(c.intn(300)))
		default:
			h.Extensions = append(h.Extensions, testpkt.TLSExt{Type: c.u16(), Data: c.bytes(c.intn(8))})
		}
	}
	b := h.Bytes()
	if c.chance(1, 6) {
		// A length that lies: the record's, the handshake's or the extensions'.
		at := pick(c, 3, 7, 11+32+1+len(h.SessionID))
		if at+2 <= len(b) {
			binary.BigEndian.PutUint16(b[at:], c.u16())
		}
	}
	return b
}

// genTextExpr returns a test of an L7 string field (or of http.request).
func genTextExpr(c *chooser, f *rules.Field) rules.Expr {
	name := rules.FieldName{Name: f.Name}
	if f.L7.Keyed {
		name.Name = `http.header["` + pick(c, genHeaders...) + `"]`
	}
	if f.Type != rules.TypeString || c.chance(1, 5) {
		return &rules.TestExpr{Field: name}
	}
	lit := func() *rules.Literal {
		return &rules.Literal{Kind: rules.LitString, Text: pick(c, append(append(genStrings, genHosts...), genPaths...)...)}
	}
	if c.chance(1, 4) {
		name.Func = pick(c, "lower", "upper")
	}
	switch c.intn(6) {
	case 0:
		in := &rules.InExpr{Field: name}
		for k := 1 + c.intn(3); k > 0; k-- {
			in.Elems = append(in.Elems, rules.SetElem{Lo: lit()})
		}
		return in
	case 1:
		l := lit()
		l.Text = pick(c, "^", "", "(?i)", "(?i)^") + regexpQuote(l.Text) + pick(c, "", "$")
		return &rules.CompareExpr{Field: name, Op: rules.CmpMatches, Value: l}
	}
	e := &rules.CompareExpr{Field: name, Op: pick(c, rules.CmpEq, rules.CmpNe, rules.CmpContains), Value: lit()}
	if f.L7.List && c.chance(1, 2) {
		// A list: every element (all), some (any), some differs (~=).
		switch c.intn(3) {
		case 0:
			e.Quant = rules.QuantAll
		case 1:
			e.Quant = rules.QuantAny
		default:
			e.Op = rules.CmpAnyNe
		}
	}
	return e
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// genL7Ports sometimes declares extra ports for a protocol.
func genL7Ports(c *chooser) []rules.PortsDecl {
	if !c.chance(1, 6) {
		return nil
	}
	p := rules.PortsDecl{Proto: pick(c, "http", "dns", "tls")}
	for n := 1 + c.intn(2); n > 0; n-- {
		p.Ports = append(p.Ports, &rules.Literal{Kind: rules.LitNumber, Text: strconv.Itoa(int(pick(c, genPorts...)))})
	}
	return []rules.PortsDecl{p}
}

// litText renders a literal as written in the DSL.
func litText(l *rules.Literal) string {
	if l.Kind == rules.LitString {
		return strconv.Quote(l.Text)
	}
	return l.Text
}
