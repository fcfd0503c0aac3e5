package compiler_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// L7 fields in the kernel: crafted frames through the programs of tc
// ingress and XDP (test runs), with the values every L7 field must log and
// match expressions that must hold or fail on them. Live traffic, at tc
// ingress where the payload is not in the linear part, is in runtime's
// live tests; captures against tshark in runtime's replay tests.

// l7Rule is a rule of an L7 table, with statements besides match and log.
type l7Rule struct {
	Name  string
	Stmts []string
	Match string
	Log   []string
}

func l7Source(rs []l7Rule, hooks []ktHook) string {
	var b strings.Builder
	for _, h := range hooks {
		for _, r := range rs {
			fmt.Fprintf(&b, "rule %s_%s {\n", r.Name, h.Suffix)
			if h.Stmt != "" {
				fmt.Fprintf(&b, "\t%s\n", h.Stmt)
			}
			for _, s := range r.Stmts {
				fmt.Fprintf(&b, "\t%s\n", s)
			}
			if r.Match != "" {
				fmt.Fprintf(&b, "\tmatch %s\n", r.Match)
			}
			fmt.Fprintf(&b, "\tlog %s\n}\n", strings.Join(r.Log, ", "))
		}
	}
	return b.String()
}

func l7Load(t testing.TB, name string, rs []l7Rule, hooks []ktHook) *ktLoaded {
	t.Helper()
	out := ktCompile(t, name+".rules", l7Source(rs, hooks))
	coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 20})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { coll.Close() })
	return &ktLoaded{coll: coll, hooks: hooks}
}

var (
	l7HTTPFields = []string{"http.request", "http.request.method", "http.request.uri", "http.request.version", "http.host",
		"http.user_agent", "http.referer", "http.content_type", "http.content_length_header", "http.authorization",
		"http.cookie", `http.header["X-Request-Id"]`, `http.header["Set-Cookie"]`}
	l7DNSFields = []string{"dns.id", "dns.flags.response", "dns.flags.rcode", "dns.count.queries", "dns.count.answers",
		"dns.qry.name", "dns.qry.type", "dns.qry.class"}
	l7TLSFields = []string{"tls.record.version", "tls.handshake.type", "tls.handshake.version",
		"tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"}
)

// l7Logged is the output member of a logged name.
func l7Logged(name string) string {
	if strings.HasPrefix(name, `http.header["`) {
		return "http.header." + strings.TrimSuffix(strings.TrimPrefix(name, `http.header["`), `"]`)
	}
	return name
}

// l7Case is a frame, the L7 values it must log (every other L7 field null;
// extra JSON members such as "x.len" checked as given) and expressions that
// must hold or fail.
type l7Case struct {
	Name       string
	Frame      []byte
	Want       string
	Hold, Fail []string
}

func tcpFrame(sport, dport uint16, payload []byte) []byte {
	return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(sport, dport).Seq(1000).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
}

func tcp6Frame(sport, dport uint16, payload []byte) []byte {
	return testpkt.New().IPv6("2001:db8::1", "2001:db8::2").TCP(sport, dport).Seq(1000).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
}

func udpFrame(sport, dport uint16, payload []byte) []byte {
	return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(sport, dport).Payload(payload).Bytes()
}

func l7RunCases(t *testing.T, fields []string, cases []l7Case, stmts ...string) {
	k := l7Load(t, "l7_"+strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_"), []l7Rule{{Name: "all", Stmts: stmts, Log: fields}}, ktHooks)
	var logged []string
	for _, f := range fields {
		logged = append(logged, l7Logged(f))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want := ktWant(c.Want)
			for _, h := range ktHooks {
				evs, err := k.run(h, c.Frame)
				if err != nil {
					t.Fatalf("%s: %v", h.Hook, err)
				}
				if len(evs["all"]) != 1 {
					t.Fatalf("%s: %d events, want 1", h.Hook, len(evs["all"]))
				}
				ev := evs["all"][0]
				base := map[string]json.RawMessage{}
				for name, v := range want {
					if ktContains(logged, name) {
						base[name] = v
						continue
					}
					if got := ev.Fields[name]; !bytes.Equal(got, v) {
						t.Errorf("%s: member %s = %s, want %s\nevent: %s", h.Hook, name, got, v, ev.Line)
					}
				}
				ktCheckFields(t, h.Hook.String(), ev, logged, base)
				for name := range ev.Fields {
					if (strings.HasSuffix(name, ".len") || strings.HasSuffix(name, ".truncated")) && want[name] == nil {
						t.Errorf("%s: unexpected member %s in %s", h.Hook, name, ev.Line)
					}
				}
			}
			var exprs []ktExpr
			for _, e := range c.Hold {
				exprs = append(exprs, ktExpr{e, true})
			}
			for _, e := range c.Fail {
				exprs = append(exprs, ktExpr{e, false})
			}
			if wrong := ktCheckExprs(t, "l7e", c.Frame, exprs); len(wrong) > 0 {
				t.Errorf("frame %s: %d match expression outcome(s) wrong:\n\t%s", ktHex(c.Frame), len(wrong), strings.Join(wrong, "\n\t"))
			}
		})
	}
}

func TestKernelL7HTTP(t *testing.T) {
	kerneltest.Require(t)
	get := testpkt.HTTPRequest("GET", "/api/v1/items?id=7", "HTTP/1.1",
		"Host: Example.COM", "User-Agent: curl/8.5.0", "Accept: */*", "Referer: http://a.example/x",
		"Content-Type: text/plain", "Content-Length: 0", "Authorization: Basic dXNlcjpwYXNz",
		"Cookie: session=abc", "x-request-id:   r-42", "Set-Cookie: a=b")
	long := "/" + strings.Repeat("a", 299)
	cases := []l7Case{
		{Name: "get_port80", Frame: tcpFrame(40000, 80, get),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/api/v1/items?id=7","http.request.version":"HTTP/1.1",
				"http.host":"Example.COM","http.user_agent":"curl/8.5.0","http.referer":"http://a.example/x","http.content_type":"text/plain",
				"http.content_length_header":"0","http.authorization":"[redacted]","http.authorization.len":18,"http.cookie":"[redacted]","http.cookie.len":11,
				"http.header.X-Request-Id":"r-42","http.header.Set-Cookie":"[redacted]","http.header.Set-Cookie.len":3}`,
			Hold: []string{"http", "http.request", `http.host == "example.com"`, `http.host == "EXAMPLE.com"`, `http.request.method == "GET"`,
				`http.request.method in {"POST", "GET"}`, `http.request.uri matches "^/api/"`, `http.request.uri contains "items"`,
				`http.request.uri matches "id=7$"`, `http.user_agent matches "^curl/"`, `lower(http.user_agent) contains "curl"`,
				`upper(http.request.method) == "GET"`, `http.header["X-REQUEST-ID"] == "r-42"`, `http.authorization contains "Basic"`,
				`http.request.version == "HTTP/1.1"`, `http.user_agent != "wget"`, `http.host matches "(?i)^example\\.com$"`,
				`http.request.uri matches "(?i)ITEMS"`, `http.content_length_header == "0"`, `http.host contains "AMPLE"`},
			Fail: []string{`http.request.method == "get"`, `http.request.uri contains "ITEMS"`, `http.request.uri == "/api"`,
				`http.host == "example.org"`, `http.user_agent matches "^wget"`, `lower(http.user_agent) contains "CURL"`,
				`http.request.method in {"POST", "PUT"}`, `http.header["X-Other"]`, `http.header["X-Other"] != "x"`, "dns", "tls",
				`http.request.uri matches "^/api/v1/items\\?id=77$"`, `http.request.uri contains "items?id=70"`}},
		// matches ignores case, as Wireshark's does; (?-i) opts out.
		{Name: "matches_ignores_case", Frame: tcpFrame(40000, 80, testpkt.HTTPRequest("GET", "/ADMIN/x", "HTTP/1.1", "Host: a.test")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/ADMIN/x","http.request.version":"HTTP/1.1","http.host":"a.test"}`,
			Hold: []string{`http.request.uri matches "^/admin"`, `http.request.uri matches "(?i)^/admin"`, `http.request.uri matches "admin/X$"`,
				`http.request.uri matches "(?-i)^/ADMIN"`, `upper(http.request.uri) matches "^/admin/x$"`},
			Fail: []string{`http.request.uri matches "(?-i)^/admin"`, `http.request.uri matches "(?-i)admin"`, `lower(http.request.uri) matches "(?-i)^/ADMIN"`}},
		{Name: "post_other_port_by_method", Frame: tcpFrame(40000, 9000, testpkt.HTTPRequest("POST", "/submit", "HTTP/1.0", "host: upload.test")),
			Want: `{"http.request":true,"http.request.method":"POST","http.request.uri":"/submit","http.request.version":"HTTP/1.0","http.host":"upload.test"}`,
			Hold: []string{"http.request", `http.host == "upload.test"`}},
		{Name: "response_port80", Frame: tcpFrame(80, 40000, []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: id=1\r\n\r\n")),
			Want: `{"http.content_type":"text/html","http.header.Set-Cookie":"[redacted]","http.header.Set-Cookie.len":4}`,
			Hold: []string{"http", "!http.request", `http.content_type == "text/html"`}, Fail: []string{"http.request", "http.host"}},
		{Name: "response_other_port", Frame: tcpFrame(9000, 40000, []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")),
			Want: `{}`, Fail: []string{"http", "http.content_type"}},
		{Name: "binary_port80", Frame: tcpFrame(40000, 80, []byte{0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5}), Want: `{}`, Fail: []string{"http"}},
		{Name: "request_line_cut", Frame: tcpFrame(40000, 80, []byte("GET /path-without-end HTTP/1.")),
			Want: `{}`, Hold: []string{"http", "!http.request"}, Fail: []string{"http.request.method"}},
		{Name: "header_cut", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: cut-he")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"a.test"}`,
			Hold: []string{"http.host", "!http.user_agent"}},
		{Name: "lf_only_and_whitespace", Frame: tcpFrame(40000, 8080, []byte("PUT /x HTTP/1.1\nHOST:\tb.test  \nUser-Agent:"+strings.Repeat(" ", 17)+"far\nReferer:\n\n")),
			Want: `{"http.request":true,"http.request.method":"PUT","http.request.uri":"/x","http.request.version":"HTTP/1.1","http.host":"b.test  ","http.user_agent":"far","http.referer":""}`,
			Hold: []string{`http.referer == ""`, `http.host matches "(?i)^b\\.test  $"`, `http.user_agent == "far"`}},
		{Name: "first_header_wins", Frame: tcp6Frame(40000, 80, testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host: one.test", "Host: two.test")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"one.test"}`,
			Fail: []string{`http.host == "two.test"`}},
		{Name: "long_uri_truncated", Frame: tcpFrame(40000, 80, testpkt.HTTPRequest("GET", long, "HTTP/1.1")),
			Want: fmt.Sprintf(`{"http.request":true,"http.request.method":"GET","http.request.uri":%q,"http.request.uri.truncated":true,"http.request.uri.len":300,"http.request.version":"HTTP/1.1"}`, long[:128]),
			Hold: []string{fmt.Sprintf("http.request.uri matches %q", "^"+long[:250]), `http.request.uri matches "aaaa$"`},
			Fail: []string{fmt.Sprintf("http.request.uri matches %q", "^"+long[:249]+"b")}},
		{Name: "malformed_versions", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.x\r\nHost: h\r\n\r\n")),
			Want: `{"http.host":"h"}`, Hold: []string{"http", "!http.request"}},
		{Name: "space_in_target", Frame: tcpFrame(40000, 80, []byte("GET /a b HTTP/1.1\r\n\r\n")), Want: `{}`, Hold: []string{"http", "!http.request"}},
		{Name: "empty_target", Frame: tcpFrame(40000, 80, []byte("GET  HTTP/1.1\r\n\r\n")), Want: `{}`, Hold: []string{"!http.request"}},
		{Name: "udp_not_http", Frame: udpFrame(40000, 80, get), Want: `{}`, Fail: []string{"http"}},
		{Name: "http09_request", Frame: tcpFrame(40000, 80, []byte("GET /index.html\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/index.html","http.request.version":""}`,
			Hold: []string{"http.request", `http.request.uri == "/index.html"`, "http.request.version", `http.request.version == ""`, `http.request.version != "HTTP/1.1"`},
			Fail: []string{"!http.request.version", `http.request.version contains "H"`}},
		{Name: "http09_lf_other_port", Frame: tcpFrame(40000, 9000, []byte("POST /x\nHost: h09.test\n\n")),
			Want: `{"http.request":true,"http.request.method":"POST","http.request.uri":"/x","http.request.version":"","http.host":"h09.test"}`},
		{Name: "no_target", Frame: tcpFrame(40000, 80, []byte("GET \r\n")), Want: `{}`, Hold: []string{"http", "!http.request"}},
		{Name: "trailing_space", Frame: tcpFrame(40000, 80, []byte("GET / \r\n")), Want: `{}`, Hold: []string{"http", "!http.request"}},
		// Header lines split as servers split them (issue 18): a bare CR
		// ends a line, so the Authorization header a server sees is one
		// here too, redacted and matched.
		{Name: "bare_cr_ends_header_line", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nHost: a\rAuthorization: Bearer S3CRET\r\n\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"a",
				"http.authorization":"[redacted]","http.authorization.len":13}`,
			Hold: []string{`http.host == "a"`, "http.authorization", `http.authorization contains "Bearer"`}},
		// A bare CR alone on a line is the empty line: the headers end.
		{Name: "bare_cr_empty_line", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nHost: a\r\rUser-Agent: x\r\n\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"a"}`,
			Fail: []string{"http.user_agent"}},
		// A NUL is a value byte like any other (escaped in the output).
		{Name: "nul_in_value", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"a\u0000b"}`,
			Hold: []string{`http.host contains "b"`}},
		// White space before the colon: not the header (servers answer 400
		// or ignore the line); the next line is still read.
		{Name: "space_before_colon", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nHost : evil\r\nHost: good\r\n\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.host":"good"}`},
		// obs-fold: the continuation line is not joined; the value is the
		// first line's.
		{Name: "obs_fold", Frame: tcpFrame(40000, 80, []byte("GET / HTTP/1.1\r\nUser-Agent: a\r\n b\r\nHost: h\r\n\r\n")),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/","http.request.version":"HTTP/1.1","http.user_agent":"a","http.host":"h"}`},
		{Name: "ipv6_atomic_fragment", Frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, false, 9).TCP(40000, 80).Seq(1).Flags(testpkt.ACK).Payload([]byte("GET /frag HTTP/1.1\r\nHost: frag.test\r\n\r\n")).Bytes(),
			Want: `{"http.request":true,"http.request.method":"GET","http.request.uri":"/frag","http.request.version":"HTTP/1.1","http.host":"frag.test"}`},
	}
	l7RunCases(t, l7HTTPFields, cases)
}

func TestKernelL7DNS(t *testing.T) {
	kerneltest.Require(t)
	q := testpkt.DNSMessage(0x1234, 0x0100, 1, 0, testpkt.DNSName("www.Example.com"), 1, 1)
	resp := testpkt.DNSMessage(0xbeef, 0x8183, 1, 0, testpkt.DNSName("nx.example.org"), 28, 1)
	l63 := strings.Repeat("x", 63)
	name253 := strings.Join([]string{l63, l63, l63, strings.Repeat("y", 61)}, ".")
	name255 := name253 + "z.a" // 255 on the wire: too long with the root
	ptr := append(testpkt.DNSMessage(7, 0, 1, 0, []byte{3, 'w', 'w', 'w', 0xc0, 12}, 1, 1), 0)
	cases := []l7Case{
		{Name: "udp_query", Frame: udpFrame(5353, 53, q),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"www.Example.com","dns.qry.type":1,"dns.qry.class":"0x0001"}`,
			Hold: []string{"dns", `dns.qry.name == "www.example.com"`, `dns.qry.name matches "\\.example\\.COM$"`, "dns.qry.type == 1", "dns.flags.response == 0", "dns.id == 0x1234"},
			Fail: []string{"http", "tls", `dns.qry.name == "example.com"`}},
		{Name: "udp_response", Frame: udpFrame(53, 5353, resp),
			Want: `{"dns.id":"0xbeef","dns.flags.response":true,"dns.flags.rcode":3,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"nx.example.org","dns.qry.type":28,"dns.qry.class":"0x0001"}`,
			Hold: []string{"dns.flags.rcode == 3", "dns.flags.response"}},
		{Name: "tcp_query", Frame: tcpFrame(40000, 53, testpkt.DNSOverTCP(q)),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"www.Example.com","dns.qry.type":1,"dns.qry.class":"0x0001"}`},
		{Name: "root", Frame: udpFrame(5353, 53, testpkt.DNSMessage(1, 0, 1, 0, testpkt.DNSName(""), 2, 1)),
			Want: `{"dns.id":"0x0001","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"<Root>","dns.qry.type":2,"dns.qry.class":"0x0001"}`},
		{Name: "max_name", Frame: udpFrame(5353, 53, testpkt.DNSMessage(2, 0, 1, 0, testpkt.DNSName(name253), 1, 1)),
			Want: fmt.Sprintf(`{"dns.id":"0x0002","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":%q,"dns.qry.name.truncated":true,"dns.qry.name.len":253,"dns.qry.type":1,"dns.qry.class":"0x0001"}`, name253[:128]),
			Hold: []string{fmt.Sprintf("dns.qry.name == %q", name253)}},
		{Name: "name_too_long", Frame: udpFrame(5353, 53, testpkt.DNSMessage(3, 0, 1, 0, testpkt.DNSName(name255), 1, 1)),
			Want: `{"dns.id":"0x0003","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0}`,
			Hold: []string{"dns", "!dns.qry.name"}},
		{Name: "compression_pointer", Frame: udpFrame(5353, 53, ptr),
			Want: `{"dns.id":"0x0007","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0}`,
			Hold: []string{"!dns.qry.name", "!dns.qry.type"}},
		{Name: "no_question", Frame: udpFrame(5353, 53, testpkt.DNSMessage(4, 0x8000, 0, 0, nil, 0, 0)[:12]),
			Want: `{"dns.id":"0x0004","dns.flags.response":true,"dns.flags.rcode":0,"dns.count.queries":0,"dns.count.answers":0}`},
		{Name: "cut_question", Frame: udpFrame(5353, 53, q[:20]),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0}`},
		{Name: "short_header", Frame: udpFrame(5353, 53, q[:11]), Want: `{}`, Fail: []string{"dns"}},
		{Name: "other_port", Frame: udpFrame(40000, 5300, q), Want: `{}`, Fail: []string{"dns"}},
		{Name: "mdns_qu", Frame: udpFrame(5353, 5353, testpkt.DNSMessage(0, 0, 1, 0, testpkt.DNSName("printer._ipp._tcp.local"), 12, 0x8001)),
			Want: `{"dns.id":"0x0000","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"printer._ipp._tcp.local","dns.qry.type":12,"dns.qry.class":"0x0001"}`,
			Hold: []string{"mdns", "dns.qry.class == 1", `dns.qry.name matches "\\.local$"`}, Fail: []string{"dns", "llmnr", "dns.qry.class == 0x8001"}},
		{Name: "mdns_response_high_port", Frame: udpFrame(40000, 5353, testpkt.DNSMessage(1, 0x8400, 1, 0, testpkt.DNSName("host.local"), 1, 0x8001)),
			Want: `{"dns.id":"0x0001","dns.flags.response":true,"dns.flags.rcode":0,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"host.local","dns.qry.type":1,"dns.qry.class":"0x0001"}`},
		{Name: "llmnr_keeps_class", Frame: udpFrame(40000, 5355, testpkt.DNSMessage(7, 0, 1, 0, testpkt.DNSName("wpad"), 1, 0x8001)),
			Want: `{"dns.id":"0x0007","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"wpad","dns.qry.type":1,"dns.qry.class":"0x8001"}`,
			Hold: []string{"llmnr", "dns.qry.class == 0x8001"}, Fail: []string{"dns", "mdns"}},
		{Name: "dns_port_decides_over_mdns", Frame: udpFrame(5353, 53, testpkt.DNSMessage(8, 0, 1, 0, testpkt.DNSName("a.local"), 1, 0x8001)),
			Want: `{"dns.id":"0x0008","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"a.local","dns.qry.type":1,"dns.qry.class":"0x8001"}`,
			Hold: []string{"dns"}, Fail: []string{"mdns", "llmnr"}},
		{Name: "tcp_5353_is_dns", Frame: tcpFrame(40000, 5353, testpkt.DNSOverTCP(q)),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"www.Example.com","dns.qry.type":1,"dns.qry.class":"0x0001"}`,
			Hold: []string{"dns"}, Fail: []string{"mdns"}},
		{Name: "llmnr_not_over_tcp", Frame: tcpFrame(40000, 5355, testpkt.DNSOverTCP(q)), Want: `{}`, Fail: []string{"dns", "llmnr"}},
		{Name: "ipv6_atomic_fragment", Frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, false, 7).UDP(40000, 53).Payload(q).Bytes(),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"www.Example.com","dns.qry.type":1,"dns.qry.class":"0x0001"}`},
		{Name: "ipv6_first_fragment", Frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 7).UDP(40000, 53).Payload(q).Bytes(),
			Want: `{"dns.id":"0x1234","dns.flags.response":false,"dns.count.queries":1,"dns.count.answers":0,
				"dns.qry.name":"www.Example.com","dns.qry.type":1,"dns.qry.class":"0x0001"}`},
		{Name: "ipv6_later_fragment", Frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(8, false, 7).UDP(40000, 53).Payload(q).Bytes(),
			Want: `{}`, Fail: []string{"dns", "udp"}},
	}
	l7RunCases(t, l7DNSFields, cases)
}

// DNS responses: the first A, AAAA and CNAME records and the first TTL,
// among the entries walked, with compression pointers followed.
func TestKernelL7DNSAnswers(t *testing.T) {
	kerneltest.Require(t)
	ptr := []byte{0xc0, 12} // the question's name
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	a := func(ip string) []byte { return netip.MustParseAddr(ip).AsSlice() }
	qname := testpkt.DNSName("www.example.com")
	// www.example.com CNAME web.example.com (pointer to "example.com" in the question)
	// web.example.com A 192.0.2.7, A 192.0.2.8
	cname := cat([]byte{3, 'w', 'e', 'b', 0xc0, 16})
	chain := cat(testpkt.DNSMessage(0x1111, 0x8180, 1, 3, qname, 1, 1),
		testpkt.DNSRR(ptr, 5, 1, 300, cname),
		testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, a("192.0.2.7")),
		testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, a("192.0.2.8")))
	aaaa := cat(testpkt.DNSMessage(0x2222, 0x8180, 1, 1, qname, 28, 1),
		testpkt.DNSRR(ptr, 28, 1, 3600, a("2001:db8::53")))
	soa := cat(testpkt.DNSName("example.com"), testpkt.DNSName("hostmaster.example.com"), make([]byte, 20))
	nx := testpkt.DNSCounts(cat(testpkt.DNSMessage(0x3333, 0x8183, 1, 0, qname, 1, 1),
		testpkt.DNSRR([]byte{0xc0, 16}, 6, 1, 900, soa)), 1, 0)
	opt := testpkt.DNSCounts(cat(testpkt.DNSMessage(0x4444, 0x8180, 1, 0, qname, 1, 1),
		testpkt.DNSRR([]byte{0}, 41, 1232, 0x8000, nil)), 0, 1)
	// A records of 3 bytes (no address), then of class CH with 5 bytes
	// (its first 4, as Wireshark shows it); the TTL is the first record's.
	odd := cat(testpkt.DNSMessage(0x5555, 0x8180, 1, 3, qname, 1, 1),
		testpkt.DNSRR(ptr, 1, 1, 7, a("192.0.2.1")[:3]),
		testpkt.DNSRR(ptr, 1, 3, 8, append(a("192.0.2.2"), 0)),
		testpkt.DNSRR(ptr, 1, 1, 9, a("192.0.2.3")))
	// CNAME pointers: forward (absent), into itself (a loop: absent), into the header (followed, as Wireshark).
	fwd := cat(testpkt.DNSMessage(0x6666, 0x8180, 1, 1, qname, 5, 1), testpkt.DNSRR(ptr, 5, 1, 1, []byte{0xc0, 60}))
	loop := cat(testpkt.DNSMessage(0x7777, 0x8180, 1, 1, qname, 5, 1), testpkt.DNSRR(ptr, 5, 1, 1, []byte{1, 'x', 0xc0, 45}))
	// The question and 16 records: the A record is the 16th entry, the
	// AAAA record the 17th, not walked.
	many := testpkt.DNSMessage(0x8888, 0x8180, 1, 16, qname, 28, 1)
	for range 14 {
		many = append(many, testpkt.DNSRR(ptr, 16, 1, 5, []byte{1, 'x'})...)
	}
	many = append(many, testpkt.DNSRR(ptr, 1, 1, 5, a("192.0.2.15"))...)
	many = append(many, testpkt.DNSRR(ptr, 28, 1, 5, a("2001:db8::17"))...)
	cut := chain[:len(chain)-3]
	mdns := cat(testpkt.DNSMessage(0, 0x8400, 0, 1, nil, 0, 0)[:12], testpkt.DNSRR(testpkt.DNSName("host.local"), 1, 0x8001, 120, a("192.168.1.9")))
	cases := []l7Case{
		{Name: "cname_chain", Frame: udpFrame(53, 40000, chain),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":3,"dns.a":"192.0.2.7","dns.cname":"web.example.com","dns.resp.ttl":300}`,
			Hold: []string{"dns.a == 192.0.2.7", "dns.a == 192.0.2.0/24", `dns.cname == "WEB.example.com"`, `dns.cname matches r"^web\."`,
				"dns.resp.ttl == 300", "dns.resp.ttl > 299", "!dns.aaaa"},
			Fail: []string{"dns.a == 192.0.2.8", "dns.aaaa", "dns.resp.ttl < 300"}},
		{Name: "tcp_aaaa", Frame: tcpFrame(53, 40000, testpkt.DNSOverTCP(aaaa)),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":1,"dns.aaaa":"2001:db8::53","dns.resp.ttl":3600}`,
			Hold: []string{"dns.aaaa == 2001:db8::53", "dns.aaaa == 2001:db8::/32", "!dns.a", "!dns.cname"}},
		{Name: "nxdomain_soa_ttl", Frame: udpFrame(53, 40000, nx),
			Want: `{"dns.flags.rcode":3,"dns.count.answers":0,"dns.resp.ttl":900}`,
			Hold: []string{"dns.flags.rcode == 3", "dns.resp.ttl == 900"}, Fail: []string{"dns.a"}},
		{Name: "opt_has_no_ttl", Frame: udpFrame(53, 40000, opt),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":0}`, Fail: []string{"dns.resp.ttl"}},
		{Name: "odd_a_records", Frame: udpFrame(53, 40000, odd),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":3,"dns.a":"192.0.2.2","dns.resp.ttl":7}`},
		{Name: "forward_pointer", Frame: udpFrame(53, 40000, fwd),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":1,"dns.resp.ttl":1}`, Fail: []string{"dns.cname"}},
		{Name: "pointer_loop", Frame: udpFrame(53, 40000, loop),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":1,"dns.resp.ttl":1}`, Fail: []string{"dns.cname"}},
		{Name: "record_bound", Frame: udpFrame(53, 40000, many),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":16,"dns.a":"192.0.2.15","dns.resp.ttl":5}`, Fail: []string{"dns.aaaa"}},
		{Name: "cut_record", Frame: udpFrame(53, 40000, cut),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":3,"dns.a":"192.0.2.7","dns.cname":"web.example.com","dns.resp.ttl":300}`},
		{Name: "cut_first_record", Frame: udpFrame(53, 40000, aaaa[:len(aaaa)-1]),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":1}`, Fail: []string{"dns.aaaa", "dns.resp.ttl"}},
		{Name: "mdns_cache_flush", Frame: udpFrame(5353, 5353, mdns),
			Want: `{"dns.flags.rcode":0,"dns.count.answers":1,"dns.a":"192.168.1.9","dns.resp.ttl":120}`},
		{Name: "query", Frame: udpFrame(40000, 53, testpkt.DNSMessage(1, 0x0100, 1, 0, qname, 1, 1)),
			Want: `{"dns.count.answers":0}`, Fail: []string{"dns.a", "dns.resp.ttl", "dns.cname", "dns.flags.rcode"}},
	}
	l7RunCases(t, []string{"dns.flags.rcode", "dns.count.answers", "dns.a", "dns.aaaa", "dns.cname", "dns.resp.ttl"}, cases)
}

// ServerHellos: the cipher suite and the version a server chose.
func TestKernelL7TLSServerHello(t *testing.T) {
	kerneltest.Require(t)
	sv := func(v ...byte) testpkt.TLSExt { return testpkt.TLSExt{Type: 43, Data: v} }
	tls13 := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303, SessionID: make([]byte, 32), CipherSuites: []uint16{0x1302},
		Extensions: []testpkt.TLSExt{{Type: 51, Data: make([]byte, 36)}, sv(3, 4), testpkt.ALPNExt("h2")}}.Bytes()
	tls12 := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303, CipherSuites: []uint16{0xc02f}, Extensions: []testpkt.TLSExt{{Type: 65281, Data: []byte{0}}}}.Bytes()
	ch := testpkt.TLSHello{Type: 1, CipherSuites: []uint16{0x1301, 0xc02f}, Extensions: []testpkt.TLSExt{sv(4, 3, 4, 3, 3)}}.Bytes()
	odd := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303, CipherSuites: []uint16{0x009c}, Extensions: []testpkt.TLSExt{sv(3, 4, 0), sv(3, 3)}}.Bytes()
	cases := []l7Case{
		{Name: "tls13", Frame: tcpFrame(443, 40000, tls13),
			Want: `{"tls.handshake.type":2,"tls.handshake.version":"0x0303","tls.handshake.ciphersuite":"0x1302",
				"tls.handshake.extensions.supported_version":"0x0304","tls.handshake.extensions_alpn_str":"h2"}`,
			Hold: []string{"tls.handshake.ciphersuite == 0x1302", "tls.handshake.extensions.supported_version >= 0x0304", "tls.handshake.ciphersuite in {0x1301, 0x1302}"},
			Fail: []string{"tls.handshake.extensions.supported_version < 0x0304", "tls.handshake.ciphersuite == 0x1301"}},
		{Name: "tls12", Frame: tcpFrame(443, 40000, tls12),
			Want: `{"tls.handshake.type":2,"tls.handshake.version":"0x0303","tls.handshake.ciphersuite":"0xc02f"}`,
			Hold: []string{"!tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite == 0xc02f"}},
		{Name: "client_hello_has_neither", Frame: tcpFrame(40000, 443, ch),
			Want: `{"tls.handshake.type":1,"tls.handshake.version":"0x0303"}`,
			Fail: []string{"tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version"}},
		{Name: "cut_before_suite", Frame: tcpFrame(443, 40000, tls12[:44]),
			Want: `{"tls.handshake.type":2,"tls.handshake.version":"0x0303"}`, Fail: []string{"tls.handshake.ciphersuite"}},
		{Name: "cut_in_extensions", Frame: tcpFrame(443, 40000, tls13[:90]),
			Want: `{"tls.handshake.type":2,"tls.handshake.version":"0x0303","tls.handshake.ciphersuite":"0x1302"}`},
		{Name: "odd_supported_versions", Frame: tcpFrame(443, 40000, odd),
			Want: `{"tls.handshake.type":2,"tls.handshake.version":"0x0303","tls.handshake.ciphersuite":"0x009c","tls.handshake.extensions.supported_version":"0x0303"}`},
	}
	l7RunCases(t, []string{"tls.handshake.type", "tls.handshake.version", "tls.handshake.ciphersuite",
		"tls.handshake.extensions.supported_version", "tls.handshake.extensions_alpn_str"}, cases)
}

func TestKernelL7TLS(t *testing.T) {
	kerneltest.Require(t)
	ch := testpkt.TLSHello{Type: 1, CipherSuites: []uint16{0x1301, 0x1302, 0xc02b}, SessionID: make([]byte, 32),
		Extensions: []testpkt.TLSExt{testpkt.PaddingExt(7), testpkt.SNIExt("WWW.Example.net"), testpkt.ALPNExt("h2", "http/1.1")}}.Bytes()
	sh := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303, Extensions: []testpkt.TLSExt{testpkt.ALPNExt("h2"), {Type: 0}}}.Bytes()
	cert := []byte{22, 3, 3, 0, 8, 11, 0, 0, 4, 1, 2, 3, 4}
	appData := []byte{23, 3, 3, 0, 3, 1, 2, 3}
	lying := append([]byte(nil), ch...)
	at := bytes.Index(lying, []byte("WWW.Example.net")) - 5 - 2 // the server_name extension's length
	lying[at], lying[at+1] = 0xff, 0xff                         // past the extensions' end
	cases := []l7Case{
		{Name: "client_hello", Frame: tcpFrame(40000, 443, ch),
			Want: `{"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303",
				"tls.handshake.extensions_server_name":"WWW.Example.net","tls.handshake.extensions_alpn_str":"h2,http/1.1"}`,
			Hold: []string{"tls", `tls.handshake.extensions_server_name == "www.example.NET"`, `tls.handshake.extensions_server_name matches "\\.example\\.net$"`,
				`tls.handshake.extensions_alpn_str == "h2"`, "tls.handshake.type == 1", "tls.handshake.version == 0x0303",
				`tls.handshake.extensions_alpn_str == "http/1.1"`, `tls.handshake.extensions_alpn_str in {"h3", "http/1.1"}`,
				`tls.handshake.extensions_alpn_str matches "^http/"`, `tls.handshake.extensions_alpn_str matches "(?i)/1\\.1$"`,
				`tls.handshake.extensions_alpn_str contains "tp/1"`, `tls.handshake.extensions_alpn_str != "h3"`,
				`all tls.handshake.extensions_alpn_str matches "^h"`, `tls.handshake.extensions_alpn_str ~= "h2"`, `any tls.handshake.extensions_alpn_str != "h2"`,
				`all tls.handshake.extensions_alpn_str != "h3"`, `all lower(tls.handshake.extensions_alpn_str) contains "h"`},
			Fail: []string{"http", "dns", `tls.handshake.extensions_alpn_str == "h2,http/1.1"`, `tls.handshake.extensions_alpn_str contains "2,h"`,
				`tls.handshake.extensions_alpn_str matches "^h2,"`, `tls.handshake.extensions_alpn_str matches ",http/1\\.1$"`,
				`tls.handshake.extensions_alpn_str != "http/1.1"`, `tls.handshake.extensions_alpn_str == "http"`, `tls.handshake.extensions_alpn_str == ""`,
				`all tls.handshake.extensions_alpn_str == "h2"`, `all tls.handshake.extensions_alpn_str != "h2"`, `all tls.handshake.extensions_alpn_str contains "2"`,
				`tls.handshake.extensions_alpn_str ~= "h3" && !tls.handshake.extensions_alpn_str`}},
		{Name: "alpn_long_list", Frame: tcpFrame(40000, 443, testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.ALPNExt("http/1.1", "spdy/3.1", "h2", "h2c", "hq-interop")}}.Bytes()),
			Want: `{"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303",
				"tls.handshake.extensions_alpn_str":"http/1.1,spdy/3.1,h2,h2c,hq-inte","tls.handshake.extensions_alpn_str.truncated":true,"tls.handshake.extensions_alpn_str.len":35}`,
			Hold: []string{`tls.handshake.extensions_alpn_str == "hq-interop"`, `tls.handshake.extensions_alpn_str matches "^hq"`},
			Fail: []string{`tls.handshake.extensions_alpn_str == "hq-inte"`}},
		{Name: "alpn_empty_element", Frame: tcpFrame(40000, 443, testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{{Type: 16, Data: []byte{0, 4, 2, 'h', '2', 0}}}}.Bytes()),
			Want: `{"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303"}`,
			Fail: []string{`tls.handshake.extensions_alpn_str == "h2"`, "tls.handshake.extensions_alpn_str"}},
		{Name: "server_hello", Frame: tcpFrame(443, 40000, sh),
			Want: `{"tls.record.version":"0x0303","tls.handshake.type":2,"tls.handshake.version":"0x0303","tls.handshake.extensions_alpn_str":"h2"}`,
			Fail: []string{"tls.handshake.extensions_server_name"}},
		{Name: "certificate", Frame: tcpFrame(443, 40000, cert), Want: `{"tls.record.version":"0x0303","tls.handshake.type":11}`},
		{Name: "application_data", Frame: tcpFrame(443, 40000, appData), Want: `{"tls.record.version":"0x0303"}`,
			Hold: []string{"tls", "!tls.handshake.type"}},
		{Name: "extension_past_list", Frame: tcpFrame(40000, 443, lying),
			Want: `{"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303"}`},
		{Name: "hello_other_port", Frame: tcpFrame(40000, 8443, ch), Want: `{}`, Fail: []string{"tls"}},
		{Name: "second_client_hello_after_ccs", Frame: tcpFrame(40000, 443, append(append([]byte(nil), testpkt.TLSChangeCipherSpec...), ch...)),
			Want: `{"tls.record.version":"0x0303","tls.handshake.type":1,"tls.handshake.version":"0x0303",
				"tls.handshake.extensions_server_name":"WWW.Example.net","tls.handshake.extensions_alpn_str":"h2,http/1.1"}`,
			Hold: []string{"tls.handshake.type == 1", `tls.handshake.extensions_server_name == "www.example.net"`, "tls.record.version == 0x0303"}},
		{Name: "ccs_then_application_data", Frame: tcpFrame(443, 40000, append(append([]byte(nil), testpkt.TLSChangeCipherSpec...), appData...)),
			Want: `{"tls.record.version":"0x0303"}`, Hold: []string{"tls", "!tls.handshake.type"}},
		{Name: "ccs_of_two_bytes", Frame: tcpFrame(40000, 443, append([]byte{20, 3, 3, 0, 2, 1, 1}, ch...)),
			Want: `{"tls.record.version":"0x0303"}`, Fail: []string{"tls.handshake.type"}},
		{Name: "sslv2_client_hello", Frame: tcpFrame(40000, 443, testpkt.SSLv2ClientHello(0x0301)),
			Want: `{"tls.record.version":"0x0002","tls.handshake.type":1,"tls.handshake.version":"0x0301"}`,
			Hold: []string{"tls", "tls.handshake.type == 1", "tls.record.version == 2", "tls.handshake.version == 0x0301", "!tls.handshake.extensions_server_name"}},
		{Name: "sslv2_not_a_hello", Frame: tcpFrame(40000, 443, []byte{0x80, 3, 2, 3, 1}), Want: `{}`, Fail: []string{"tls"}},
		{Name: "hello_ipv6", Frame: tcp6Frame(40000, 443, ch),
			Want: `{"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303",
				"tls.handshake.extensions_server_name":"WWW.Example.net","tls.handshake.extensions_alpn_str":"h2,http/1.1"}`},
	}
	l7RunCases(t, l7TLSFields, cases)
}
