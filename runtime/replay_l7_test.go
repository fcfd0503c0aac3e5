package runtime_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Adversarial L7 payloads through the kernel and the reference evaluator:
// every prefix of an HTTP request, a DNS message and a ClientHello (a header
// line, a label, an extension cut at every byte), lying lengths, DNS names
// with compression pointers and loops, labels of 63 bytes, names past the
// maximum, huge headers, and ClientHellos split across two segments. The
// kernel must log exactly what the reference does (never a wrong value) and
// every program must load (never a verifier failure).

const l7DiffRules = `
rule http_all {
    log http.request, http.request.method, http.request.uri, http.request.version, http.host, http.user_agent, http.referer, http.content_type, http.content_length_header, http.authorization, http.cookie, http.header["X-Request-Id"], http.header["Set-Cookie"]
    maxlen http.request.uri 512
    unredact http.cookie
}
rule http_tests {
    hook xdp
    ports http 9000
    match http && (http.host == "example.com" || http.request.uri matches "^/api" || http.user_agent contains "curl" || lower(http.request.method) in {"get", "post"} || http.header["x-request-id"] matches "42$")
    log tcp.dstport, http.host, http.request.uri
}
rule dns_all {
    log dns.id, dns.flags.response, dns.flags.rcode, dns.count.queries, dns.count.answers, dns.qry.name, dns.qry.type, dns.qry.class
}
rule dns_tests {
    hook xdp
    ports dns 5300
    match dns.qry.name matches "(?i)\\.example\\.com$" || dns.qry.name == "<Root>" || dns.qry.type in {28, 65} || dns.flags.rcode == 3
    log dns.qry.name
}
rule tls_all {
    log tcp.len, tls.record.version, tls.handshake.type, tls.handshake.version, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str
}
rule tls_tests {
    hook xdp
    ports tls 8443
    match tls.handshake.extensions_server_name contains "example" || tls.handshake.extensions_alpn_str == "h2" || tls.handshake.type == 2
    log tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str
}
rule alpn_eq {
    match tls.handshake.extensions_alpn_str == "http/1.1"
    log tls.handshake.extensions_alpn_str
    maxlen tls.handshake.extensions_alpn_str 1024
}
rule alpn_all {
    match all tls.handshake.extensions_alpn_str matches "^h" || tls.handshake.extensions_alpn_str ~= "h2" || all tls.handshake.extensions_alpn_str == "http/1.1"
    log tls.handshake.extensions_alpn_str
}
rule alpn_ops {
    hook xdp
    match tls.handshake.extensions_alpn_str contains "dy/" || tls.handshake.extensions_alpn_str matches "^p-1" || tls.handshake.extensions_alpn_str matches "(?i)/1\\.1$" || tls.handshake.extensions_alpn_str != "h2"
    log tls.handshake.extensions_alpn_str
}
rule tcp80 {
    match tcp.dstport == 80 && tcp.len > 0
    log tcp.len
}
rule admin {
    hook xdp
    match http.request.uri contains "admin" || http.host == "smuggled.example"
    log http.request.method, http.request.uri, http.host
}
rule mdns_class {
    match dns.qry.class == 1 && udp
    log udp.srcport, udp.dstport, dns.qry.class
}
rule dns_variants {
    match dns || mdns || llmnr
    log dns.id
}
rule mdns_only {
    hook xdp
    match mdns && !dns && !llmnr
    log dns.id
}
`

func l7DiffRuleSet(t *testing.T) *rules.RuleSet {
	t.Helper()
	f, diags := lang.ParseDSL("l7diff.rules", []byte(l7DiffRules+l7DiffRulesDNS))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rs
}

// prefixes returns a frame for every prefix of payload (at most max of
// them, evenly spread, always with the whole payload).
func prefixes(payload []byte, build func([]byte) []byte, max int) [][]byte {
	var out [][]byte
	step := max1(len(payload)/max, 1)
	for n := 0; n < len(payload); n += step {
		out = append(out, build(payload[:n]))
	}
	return append(out, build(payload))
}

func max1(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func tcpTo(port uint16, seq uint32) func([]byte) []byte {
	return func(p []byte) []byte {
		return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40000, port).Seq(seq).Flags(testpkt.ACK | testpkt.PSH).Payload(p).Bytes()
	}
}

func udpTo(port uint16) func([]byte) []byte {
	return func(p []byte) []byte {
		return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(40000, port).Payload(p).Bytes()
	}
}

func l7AdversarialFrames() [][]byte {
	var frames [][]byte
	req := testpkt.HTTPRequest("GET", "/api/v1?id=42", "HTTP/1.1", "Host: example.com", "User-Agent: curl/8",
		"X-Request-Id:  r-42", "Cookie: a=b", "Authorization: Bearer xyz", "Content-Length: 12")
	frames = append(frames, prefixes(req, tcpTo(80, 1), 400)...)
	frames = append(frames, prefixes(bytes.ReplaceAll(req, []byte("\r\n"), []byte("\n")), tcpTo(9000, 1), 40)...)
	huge := testpkt.HTTPRequest("POST", "/"+strings.Repeat("u", 3000), "HTTP/1.1", "Cookie: "+strings.Repeat("c", 900), "Host: late.example.com")
	frames = append(frames, tcpTo(80, 1)(huge), tcpTo(80, 1)(huge[:2000]))
	frames = append(frames, tcpTo(80, 1)(testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host:"+strings.Repeat(" ", 16)+"sixteen", "User-Agent:"+strings.Repeat("\t", 17)+"seventeen")))

	q := testpkt.DNSMessage(0x4242, 0x0100, 1, 0, testpkt.DNSName("www.example.com"), 28, 1)
	frames = append(frames, prefixes(q, udpTo(53), 60)...)
	frames = append(frames, prefixes(testpkt.DNSOverTCP(q), tcpTo(53, 7), 60)...)
	l63 := strings.Repeat("a", 63)
	for _, name := range [][]byte{
		testpkt.DNSName(l63 + "." + l63 + "." + l63 + "." + strings.Repeat("b", 61)), // 255 on the wire
		testpkt.DNSName(l63 + "." + l63 + "." + l63 + "." + strings.Repeat("b", 62)), // 256
		testpkt.DNSName(strings.Repeat("x.", 127)),                                   // 255 in 127 labels
		{0xc0, 0x0c},                    // a pointer to itself
		{1, 'a', 0xc0, 0x0c},            // a pointer back to the name's start: a loop
		{1, 'a', 0xc0, 0x00},            // into the header
		{64, 'a'},                       // a label over 63 (0x40: extended)
		{0x80, 1},                       // reserved label type
		testpkt.DNSName(""),             // the root
		append(testpkt.DNSName("a"), 9), // extra byte
	} {
		frames = append(frames, udpTo(53)(testpkt.DNSMessage(1, 0x0100, 1, 0, name, 1, 1)))
	}
	frames = append(frames, udpTo(53)(append(testpkt.DNSMessage(9, 0x8183, 1, 1, testpkt.DNSName("nx.example.com"), 1, 1), 0xc0, 12, 0, 1, 0, 1)))

	ch := testpkt.TLSHello{Type: 1, SessionID: make([]byte, 32), CipherSuites: []uint16{0x1301, 0x1302, 0x1303, 0xc02b},
		Extensions: []testpkt.TLSExt{testpkt.PaddingExt(40), testpkt.SNIExt("www.example.com"), testpkt.ALPNExt("h2", "http/1.1")}}.Bytes()
	frames = append(frames, prefixes(ch, tcpTo(443, 100), 300)...)
	for _, at := range []int{3, 6, 7, 43, 44, 76, 77, 78} {
		lie := append([]byte(nil), ch...)
		binary.BigEndian.PutUint16(lie[at:], 0xffff)
		frames = append(frames, tcpTo(443, 100)(lie))
		binary.BigEndian.PutUint16(lie[at:], 1)
		frames = append(frames, tcpTo(443, 100)(lie))
	}
	sh := testpkt.TLSHello{Type: 2, Extensions: []testpkt.TLSExt{testpkt.ALPNExt("h2")}}.Bytes()
	frames = append(frames, prefixes(sh, tcpTo(8443, 5), 40)...)
	frames = append(frames, l7DNSResponseFrames()...)
	frames = append(frames, l7ServerHelloFrames()...)
	return append(frames, l7CaseFrames()...)
}

// l7CaseFrames are the cases real captures contain: mDNS and LLMNR, HTTP/0.9
// request lines, ALPN lists (long, malformed), IPv6 atomic fragments.
func l7CaseFrames() [][]byte {
	var frames [][]byte
	q := func(class uint16) []byte {
		return testpkt.DNSMessage(0, 0, 1, 0, testpkt.DNSName("printer._ipp._tcp.local"), 12, class)
	}
	for _, ports := range [][2]uint16{{5353, 5353}, {40000, 5353}, {5353, 53}, {40000, 5355}, {5353, 5355}, {1000, 5353}, {5355, 5354}} {
		for _, class := range []uint16{0x8001, 0x0001, 0xffff} {
			frames = append(frames, testpkt.New().IPv4("10.0.0.1", "224.0.0.251").UDP(ports[0], ports[1]).Payload(q(class)).Bytes())
		}
	}
	frames = append(frames, tcpTo(5353, 1)(testpkt.DNSOverTCP(q(0x8001))), tcpTo(5355, 1)(testpkt.DNSOverTCP(q(1))))
	for _, line := range []string{"GET /index.html\r\n", "GET /\n", "GET \r\n", "GET  /\r\n", "POST /x \r\n", "HEAD /a HTTP/1.1 \r\n"} {
		frames = append(frames, prefixes([]byte(line+"Host: h09.example\r\n\r\n"), tcpTo(80, 3), 30)...)
	}
	long := make([]string, 300)
	for i := range long {
		long[i] = fmt.Sprintf("p-%d", i)
	}
	for _, alpn := range []testpkt.TLSExt{
		testpkt.ALPNExt("h2", "http/1.1", "spdy/3"), testpkt.ALPNExt("http/1.1"), testpkt.ALPNExt(strings.Repeat("x", 255), "h2"),
		testpkt.ALPNExt(long...),
		{Type: 16, Data: []byte{0, 4, 2, 'h', '2', 0}},              // an empty element
		{Type: 16, Data: []byte{0, 4, 2, 'h', '2', 5}},              // past the list
		{Type: 16, Data: []byte{0, 3, 2, 'h', '2', 9, 9}},           // the list shorter than its extension
		{Type: 16, Data: []byte{0, 9, 2, 'h', '2'}},                 // the list past its extension
		{Type: 16, Data: []byte{0, 0}}, {Type: 16, Data: []byte{0}}, // empty, cut
	} {
		ch := testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("alpn.example"), alpn}}.Bytes()
		frames = append(frames, tcpTo(443, 7)(ch))
	}
	ch := testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.ALPNExt("h2", "http/1.1", "spdy/3")}}.Bytes()
	frames = append(frames, prefixes(ch, tcpTo(443, 9), 60)...)
	ccs := append(append([]byte(nil), testpkt.TLSChangeCipherSpec...), testpkt.TLSHello{Type: 1, SessionID: make([]byte, 32),
		Extensions: []testpkt.TLSExt{testpkt.SNIExt("retry.example"), testpkt.ALPNExt("h2")}}.Bytes()...)
	frames = append(frames, prefixes(ccs, tcpTo(443, 11), 60)...)
	for _, at := range []int{4, 6, 7, 8, 9, 10} {
		lie := append([]byte(nil), ccs...)
		lie[at] ^= 0x41
		frames = append(frames, tcpTo(443, 11)(lie))
	}
	frames = append(frames, prefixes(testpkt.SSLv2ClientHello(0x0301), tcpTo(443, 13), 20)...)
	frames = append(frames, tcpTo(443, 13)([]byte{0x80, 3, 2, 3, 1}), tcpTo(443, 13)([]byte{0x81, 3, 1, 3, 1}))
	var pipe []byte
	for i := range 6 {
		pipe = append(pipe, testpkt.HTTPRequest(pick6(i, "GET", "POST", "GET", "HEAD", "GET", "PUT"), fmt.Sprintf("/p%d", i), "HTTP/1.1", "Host: p.example")...)
	}
	frames = append(frames, prefixes(pipe, tcpTo(80, 17), 120)...)
	frames = append(frames, prefixes(bytes.ReplaceAll(pipe, []byte("\r\n"), []byte("\n")), tcpTo(8080, 17), 40)...)
	smuggle := "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 0\r\n\r\nGET /admin HTTP/1.1\r\nHost: smuggled.example\r\n\r\n"
	for _, p := range []string{smuggle, "GET /a\r\n\r\nGET /admin\r\n\r\n", "GET / HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\nGET /admin HTTP/1.1\r\n\r\n" + strings.Repeat("x", 5000)} {
		frames = append(frames, tcpTo(80, 19)([]byte(p)), tcpTo(9000, 19)([]byte(p)), tcpTo(443, 19)([]byte(p)))
	}
	dns := testpkt.DNSMessage(9, 0x0100, 1, 0, testpkt.DNSName("frag.example"), 1, 1)
	req := testpkt.HTTPRequest("GET", "/frag", "HTTP/1.1", "Host: frag.example")
	for _, frag := range []struct {
		off  uint16
		more bool
	}{{0, false}, {0, true}, {8, false}} {
		frames = append(frames,
			testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(frag.off, frag.more, 7).UDP(40000, 53).Payload(dns).Bytes(),
			testpkt.New().IPv6("2001:db8::1", "2001:db8::2").HopByHop(nil).Fragment(frag.off, frag.more, 8).TCP(40000, 80).Seq(1).Flags(testpkt.ACK).Payload(req).Bytes())
	}
	return frames
}

// l7SplitHellos are ClientHellos in two segments, the server name in the
// second: in order (held, then finished), with a wrong sequence number, the
// second segment alone, and one cut in three.
func l7SplitHellos() [][]byte {
	big := testpkt.TLSHello{Type: 1, SessionID: make([]byte, 32), CipherSuites: make([]uint16, 200),
		Extensions: []testpkt.TLSExt{testpkt.PaddingExt(600), testpkt.SNIExt("split.example.com"), testpkt.ALPNExt("h2")}}.Bytes()
	var frames [][]byte
	for i, cut := range []int{300, 700, 1000, 1100} {
		seq := uint32(1000 * (i + 1))
		frames = append(frames, tcpTo(443, seq)(big[:cut]), tcpTo(443, seq+uint32(cut))(big[cut:]))
	}
	frames = append(frames, tcpTo(443, 9000)(big[:500]), tcpTo(443, 9999)(big[500:]), tcpTo(443, 9500)(big[500:]))
	frames = append(frames, tcpTo(443, 20000)(big[:400]), tcpTo(443, 20400)(big[400:800]), tcpTo(443, 20800)(big[800:]))
	return frames
}

func TestL7KernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	rs := l7DiffRuleSet(t)
	for name, frames := range map[string][][]byte{"adversarial": l7AdversarialFrames(), "split_hellos": l7SplitHellos()} {
		t.Run(name, func(t *testing.T) {
			for lo := 0; lo < len(frames); lo += 200 {
				batch := frames[lo:min(lo+200, len(frames))]
				d, _, err := diffFrames(rs, batch)
				if err != nil {
					t.Fatal(err)
				}
				if d != "" {
					t.Fatalf("kernel and reference disagree\n%s", d)
				}
			}
		})
	}
}

// TestL7ReferenceValues pins some outcomes of the adversarial frames, so
// that the kernel and the reference cannot agree on nothing: the split
// ClientHello's server name comes out once, on its second segment.
func TestL7ReferenceValues(t *testing.T) {
	rs := l7DiffRuleSet(t)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, fr := range l7SplitHellos()[:2] {
		s, err := replayFrame(ref, out.Schema, i+1, fr)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if strings.Contains(lines[0], `"tls.handshake.type":1`) {
		t.Errorf("the first segment of a held ClientHello shows TLS:\n%s", lines[0])
	}
	if !strings.Contains(lines[1], `"tls.handshake.extensions_server_name":"split.example.com"`) {
		t.Errorf("the second segment does not carry the server name:\n%s", lines[1])
	}
}

func pick6(i int, s ...string) string { return s[i%len(s)] }
