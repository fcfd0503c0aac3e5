package compiler_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// Evasion leaves a trace: where an L7 decoder gives up at a limit (docs/l7.md,
// "When a decoder gives up"), the event carries the protocol's truncated
// field and the rule set counts the limit (l7_limits). Each case is a
// padding that hides a field a monitoring rule looks at; the kernel at tc
// ingress and XDP, and the reference evaluator, must give the flag, the
// kernel must count the limit once per hook, and the cases right at the
// bounds must give neither.

// l7LimitCase is a frame, the members its event must have (the rule logs
// the protocol's fields and its truncated field), and the limit it hits
// (-1: none).
type l7LimitCase struct {
	name  string
	frame []byte
	want  string
	limit rules.L7Limit
}

// runLimitCases runs the cases through a rule logging fields at tc ingress
// and XDP, and checks the events, the counters and the reference.
func runLimitCases(t *testing.T, match string, fields []string, cases []l7LimitCase) {
	k := l7Load(t, "limits_"+t.Name(), []l7Rule{{Name: "all", Match: match, Log: fields}}, ktHooks)
	src := l7Source([]l7Rule{{Name: "all", Match: match, Log: fields}}, ktHooks)
	f, diags := lang.ParseDSL("limits.rules", []byte(src))
	rs, cdiags := rules.Check(f)
	if diags = append(diags, cdiags...); diags.HasErrors() {
		t.Fatal(diags)
	}
	eval, err := reference.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := k.coll.L7Limits()
			if err != nil {
				t.Fatal(err)
			}
			want := ktWant(c.want)
			for _, h := range ktHooks {
				evs, err := k.run(h, c.frame)
				if err != nil {
					t.Fatalf("%s: %v", h.Hook, err)
				}
				if len(evs["all"]) != 1 {
					t.Fatalf("%s: %d events, want 1", h.Hook, len(evs["all"]))
				}
				ktCheckFields(t, h.Hook.String(), evs["all"][0], fields, want)
				ref := eval.Eval(h.Hook, c.frame)
				if len(ref) != 1 {
					t.Fatalf("%s: the reference gives %d events, want 1", h.Hook, len(ref))
				}
				for i, f := range fields {
					kv := evs["all"][0].Fields[f]
					if present := !bytes.Equal(kv, []byte("null")); present != ref[0].Values[i].Present {
						t.Errorf("%s: %s: kernel %s, reference present %v", h.Hook, f, kv, ref[0].Values[i].Present)
					}
				}
			}
			after, err := k.coll.L7Limits()
			if err != nil {
				t.Fatal(err)
			}
			for l := range after {
				n := after[l].Count - before[l].Count
				wantN := uint64(0)
				if rules.L7Limit(l) == c.limit {
					wantN = uint64(len(ktHooks))
				}
				if n != wantN {
					t.Errorf("limit %s %s counted %d times, want %d", after[l].Proto, after[l].Reason, n, wantN)
				}
			}
		})
	}
}

func TestKernelL7LimitsTLS(t *testing.T) {
	kerneltest.Require(t)
	hello := func(pad int, more ...testpkt.TLSExt) []byte {
		var exts []testpkt.TLSExt
		for range pad {
			exts = append(exts, testpkt.PaddingExt(0))
		}
		return testpkt.TLSHello{Type: 1, Extensions: append(exts, more...)}.Bytes()
	}
	sni := testpkt.SNIExt("watched.example")
	big := testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.PaddingExt(2800), sni}}.Bytes()
	const fixed = `"tls.record.version":"0x0301","tls.handshake.type":1,"tls.handshake.version":"0x0303"`
	runLimitCases(t, "tls", []string{"tls.record.version", "tls.handshake.type", "tls.handshake.version",
		"tls.handshake.extensions_server_name", "tls.truncated"}, []l7LimitCase{
		{"sni_after_70_extensions", tcpFrame(40000, 443, hello(70, sni)), `{` + fixed + `,"tls.truncated":true}`, rules.LimitTLSExtensions},
		{"sni_as_64th_extension", tcpFrame(40000, 443, hello(63, sni)),
			`{` + fixed + `,"tls.handshake.extensions_server_name":"watched.example"}`, -1},
		{"64_extensions_then_nothing", tcpFrame(40000, 443, hello(64)), `{` + fixed + `}`, -1},
		// 2,500 bytes of a 2,850-byte hello: not held (more than 2 KiB),
		// its server name past the segment.
		{"sni_past_the_segment", tcpFrame(40000, 443, big[:2500]), `{` + fixed + `,"tls.truncated":true}`, rules.LimitTLSCut},
		{"whole_big_hello", tcpFrame(40000, 443, big), `{` + fixed + `,"tls.handshake.extensions_server_name":"watched.example"}`, -1},
	})
}

func TestKernelL7LimitsDNS(t *testing.T) {
	kerneltest.Require(t)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	qname := testpkt.DNSName("watched.example")
	ptr := []byte{0xc0, 12}
	addr := netip.MustParseAddr("192.0.2.7").AsSlice()
	// n TXT records, then the A record.
	padded := func(n int) []byte {
		m := testpkt.DNSMessage(0x1234, 0x8180, 1, uint16(n+1), qname, 1, 1)
		for range n {
			m = append(m, testpkt.DNSRR(ptr, 16, 1, 5, []byte{1, 'x'})...)
		}
		return append(m, testpkt.DNSRR(ptr, 1, 1, 60, addr)...)
	}
	// Records whose owner names have 40 labels: 42 steps each, 13 of
	// them need more than 512.
	long := bytes.Repeat([]byte{1, 'a'}, 40)
	steps := testpkt.DNSMessage(0x4321, 0x8180, 1, 13, qname, 1, 1)
	for range 12 {
		steps = append(steps, testpkt.DNSRR(cat(long, []byte{0}), 16, 1, 5, []byte{1, 'x'})...)
	}
	steps = append(steps, testpkt.DNSRR(cat(long, []byte{0}), 1, 1, 60, addr)...)
	// Over TCP: a message of 3,000 bytes (its length says so), of which
	// the segment holds the first 1,500: the A record is in the rest.
	tcpMsg := testpkt.DNSMessage(0x5555, 0x8180, 1, 2, qname, 1, 1)
	tcpMsg = append(tcpMsg, testpkt.DNSRR(ptr, 16, 1, 5, append([]byte{255}, make([]byte, 2900)...))...)
	tcpMsg = append(tcpMsg, testpkt.DNSRR(ptr, 1, 1, 60, addr)...)
	tcpDNS := testpkt.DNSOverTCP(tcpMsg)
	const hdr = `"dns.id":"0x1234","dns.qry.name":"watched.example"`
	runLimitCases(t, "dns", []string{"dns.id", "dns.qry.name", "dns.a", "dns.truncated"}, []l7LimitCase{
		{"a_after_16_entries", udpFrame(53, 40000, padded(15)), `{` + hdr + `,"dns.truncated":true}`, rules.LimitDNSEntries},
		{"a_as_16th_entry", udpFrame(53, 40000, padded(14)), `{` + hdr + `,"dns.a":"192.0.2.7"}`, -1},
		{"a_after_512_steps", udpFrame(53, 40000, steps), `{"dns.id":"0x4321","dns.qry.name":"watched.example","dns.truncated":true}`, rules.LimitDNSSteps},
		{"a_past_the_segment", tcpFrame(53, 40000, tcpDNS[:1500]), `{"dns.id":"0x5555","dns.qry.name":"watched.example","dns.truncated":true}`, rules.LimitDNSCut},
		{"whole_tcp_message", tcpFrame(53, 40000, tcpDNS), `{"dns.id":"0x5555","dns.qry.name":"watched.example","dns.a":"192.0.2.7"}`, -1},
		{"record_past_the_message", udpFrame(53, 40000, padded(2)[:12+21+26+5]), `{` + hdr + `}`, -1},
	})
}

func TestKernelL7LimitsHTTP(t *testing.T) {
	kerneltest.Require(t)
	padded := func(n int) []byte {
		var hs []string
		for i := range n {
			hs = append(hs, fmt.Sprintf("X-Pad-%d: x", i))
		}
		return testpkt.HTTPRequest("GET", "/admin", "HTTP/1.1", append(hs, "Host: watched.example")...)
	}
	const req = `"http.request.uri":"/admin"`
	runLimitCases(t, "http", []string{"http.request.uri", "http.host", "http.truncated"}, []l7LimitCase{
		{"host_after_200_headers", tcpFrame(40000, 80, padded(200)), `{` + req + `,"http.truncated":true}`, rules.LimitHTTPLines},
		{"host_as_128th_header", tcpFrame(40000, 80, padded(127)), `{` + req + `,"http.host":"watched.example"}`, -1},
		{"host_after_128_lines_then_end", tcpFrame(40000, 80, padded(128)), `{` + req + `,"http.truncated":true}`, rules.LimitHTTPLines},
		// A request line longer than the segment: its line feed is in a
		// later one (over 4 KiB, past the window, the same).
		{"request_line_past_the_segment", tcpFrame(40000, 80, []byte("GET /admin"+strings.Repeat("a", 3000))), `{"http.truncated":true}`, rules.LimitHTTPCut},
		{"headers_past_the_segment", tcpFrame(40000, 80, []byte("GET /admin HTTP/1.1\r\nX-Pad: x\r\n")), `{` + req + `,"http.truncated":true}`, rules.LimitHTTPCut},
		{"host_line_past_the_segment", tcpFrame(40000, 80, []byte("GET /admin HTTP/1.1\r\nX-Pad: x\r\nHost: watched.exa")), `{` + req + `,"http.truncated":true}`, rules.LimitHTTPCut},
		// White space after the colon is skipped however long it is: no
		// limit to pass a rule by.
		{"17_spaces_after_the_colon", tcpFrame(40000, 80, testpkt.HTTPRequest("GET", "/admin", "HTTP/1.1", "Host:"+strings.Repeat(" ", 17)+"watched.example")),
			`{` + req + `,"http.host":"watched.example"}`, -1},
		{"2000_tabs_after_the_colon", tcpFrame(40000, 80, testpkt.HTTPRequest("GET", "/admin", "HTTP/1.1", "Host:"+strings.Repeat("\t", 2000)+"watched.example")),
			`{` + req + `,"http.host":"watched.example"}`, -1},
	})
}

// TestKernelL7LimitsPipelined: five requests in a segment give four
// events (the bound), the fourth one with http.truncated, and the requests
// limit counted once per hook (issue 12's counter of requests past the
// bound); four requests give four events and no limit.
func TestKernelL7LimitsPipelined(t *testing.T) {
	kerneltest.Require(t)
	k := l7Load(t, "limits_pipe", []l7Rule{{Name: "all", Match: "http.request", Log: []string{"http.request.uri", "http.truncated"}}}, ktHooks)
	reqs := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, testpkt.HTTPRequest("GET", fmt.Sprintf("/%d", i+1), "HTTP/1.1", "Host: a")...)
		}
		return b
	}
	for _, c := range []struct {
		n       int
		counted uint64
	}{{5, 1}, {4, 0}, {8, 1}} {
		before, err := k.coll.L7Limits()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range ktHooks {
			evs, err := k.run(h, tcpFrame(40000, 80, reqs(c.n)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs["all"] {
				got = append(got, string(ev.Fields["http.request.uri"])+"/"+string(ev.Fields["http.truncated"]))
			}
			want := `"/1"/null "/2"/null "/3"/null "/4"/null`
			if c.counted > 0 {
				want = `"/1"/null "/2"/null "/3"/null "/4"/true`
			}
			if strings.Join(got, " ") != want {
				t.Errorf("%d requests, %s: events %v, want %s", c.n, h.Hook, got, want)
			}
		}
		after, err := k.coll.L7Limits()
		if err != nil {
			t.Fatal(err)
		}
		for l := range after {
			want := uint64(0)
			if rules.L7Limit(l) == rules.LimitHTTPRequests {
				want = c.counted * uint64(len(ktHooks))
			}
			if n := after[l].Count - before[l].Count; n != want {
				t.Errorf("%d requests: limit %s %s counted %d times, want %d", c.n, after[l].Proto, after[l].Reason, n, want)
			}
		}
	}
}
