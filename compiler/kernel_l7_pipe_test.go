package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
)

// Pipelined HTTP requests: one event per request per matching rule, up to
// rules.MaxHTTPRequests requests per segment; rules that use no HTTP field
// fire once per packet.
func TestKernelL7Pipelined(t *testing.T) {
	kerneltest.Require(t)
	k := l7Load(t, "l7_pipe", []l7Rule{
		{Name: "req", Log: []string{"http.request.method", "http.request.uri", "http.request.version", "http.host"}},
		{Name: "admin", Match: `http.request.uri matches "^/admin"`, Log: []string{"http.request.uri", "http.host"}},
		{Name: "plain", Match: "tcp.dstport == 80", Log: []string{"tcp.len"}},
		{Name: "gated", Stmts: []string{"ports http 9000"}, Match: "http.request", Log: []string{"http.request.uri"}},
	}, ktHooks)
	req := func(method, uri, host string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, uri, host)
	}
	three := req("GET", "/a", "a.test") + req("GET", "/admin/users", "b.test") + "POST /c\r\n\r\n"
	var six string
	for i := range 6 {
		six += req("GET", fmt.Sprintf("/%d", i), "six.test")
	}
	cases := []struct {
		name    string
		payload string
		port    uint16
		uris    []string // the req rule's events, in order
		admin   []string
		gated   int
	}{
		{"three", three, 80, []string{"/a", "/admin/users", "/c"}, []string{"/admin/users"}, 3},
		{"bound", six, 80, []string{"/0", "/1", "/2", "/3"}, nil, 4},
		{"other_port", three, 9000, []string{"/a", "/admin/users", "/c"}, []string{"/admin/users"}, 3},
		{"body_ends_the_pipeline", "POST /form HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /admin HTTP/1.1\r\n\r\n", 80, []string{"/form"}, nil, 1},
		{"then_a_response", req("GET", "/x", "x.test") + "HTTP/1.1 200 OK\r\n\r\n", 80, []string{"/x"}, nil, 1},
		{"cut_second", req("GET", "/x", "x.test") + "GET /admin HT", 80, []string{"/x", ""}, nil, 1},
	}
	if rules.MaxHTTPRequests != 4 {
		t.Fatalf("the cases assume a bound of 4 requests, not %d", rules.MaxHTTPRequests)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := tcpFrame(40000, c.port, []byte(c.payload))
			for _, h := range ktHooks {
				evs, err := k.run(h, frame)
				if err != nil {
					t.Fatal(err)
				}
				var uris, admin []string
				for _, ev := range evs["req"] {
					uris = append(uris, strings.Trim(string(ev.Fields["http.request.uri"]), `"`))
				}
				for _, ev := range evs["admin"] {
					admin = append(admin, strings.Trim(string(ev.Fields["http.request.uri"]), `"`))
				}
				want := strings.Join(c.uris, " ")
				if c.name == "cut_second" {
					want = "/x null" // the second request is HTTP, its request line is cut
				}
				if got := strings.Join(uris, " "); got != want {
					t.Errorf("%s: req events for %s, want %s", h.Hook, got, want)
				}
				if got, want := strings.Join(admin, " "), strings.Join(c.admin, " "); got != want {
					t.Errorf("%s: admin events for %q, want %q", h.Hook, got, want)
				}
				if n := len(evs["plain"]); c.port == 80 && n != 1 {
					t.Errorf("%s: %d events of a rule without HTTP fields, want 1", h.Hook, n)
				}
				// A request is HTTP on any port, for a rule with ports of
				// its own too (its method says so).
				if n := len(evs["gated"]); n != c.gated {
					t.Errorf("%s: %d events of the rule with ports http 9000, want %d", h.Hook, n, c.gated)
				}
			}
		})
	}
}
