package compiler_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// TestKernelL7Redaction: by default the kernel masks the userinfo of
// absolute URLs and the values of secret query parameters in every URL
// field and header it logs, and redacts X-Api-Key-like headers whole
// (rules/redact.go); a rule set's redact statements add headers and
// parameters; unredact turns both off for one rule. Rules match the real
// values either way. At tc ingress and XDP.
func TestKernelL7Redaction(t *testing.T) {
	kerneltest.Require(t)
	logged := []string{"http.request.uri", "http.referer", `http.header["X-Api-Key"]`, `http.header["X-Auth-Token"]`,
		`http.header["X-Custom-Secret"]`, `http.header["X-Next"]`}
	var src strings.Builder
	src.WriteString("redact header \"X-Custom-Secret\"\nredact query otp, \"Session-Key\"\n")
	for _, h := range ktHooks {
		fmt.Fprintf(&src, "rule red_%s {\n\t%s\n\tmatch http.request\n\tlog %s\n}\n", h.Suffix, h.Stmt, strings.Join(logged, ", "))
		fmt.Fprintf(&src, "rule open_%s {\n\t%s\n\tmatch http.request\n\tlog http.request.uri, http.header[\"X-Api-Key\"]\n\tunredact http.request.uri, http.header[\"X-Api-Key\"]\n}\n", h.Suffix, h.Stmt)
	}
	out := ktCompile(t, "l7_redact.rules", src.String())
	coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 20})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { coll.Close() })
	k := &ktLoaded{coll: coll, hooks: ktHooks}

	long := strings.Repeat("a", 100)
	cases := []struct {
		name, req string
		red       string // the red rule's event (members compared one by one)
		open      string // the open rule's
		hold      []string
	}{
		{name: "query_values",
			req:  "GET /p?a=1&token=S3CRET-1&Api-Key=S3CRET-2;x=2&SIG=S3CRET-3&b=2#f HTTP/1.1\r\nX-Next: ?otp=S3CRET-4&session_key=S3CRET-5&tokens=kept\r\n\r\n",
			red:  `{"http.request.uri":"/p?a=1&token=[redacted]&Api-Key=[redacted]&SIG=[redacted]&b=2#f","http.header.X-Next":"?otp=[redacted]&session_key=[redacted]&tokens=kept"}`,
			open: `{"http.request.uri":"/p?a=1&token=S3CRET-1&Api-Key=S3CRET-2;x=2&SIG=S3CRET-3&b=2#f"}`,
			hold: []string{`http.request.uri contains "token=S3CRET-1"`, `http.request.uri matches "SIG=S3CRET-3"`}},
		{name: "userinfo_target_and_referer",
			req: "GET http://alice:hunter2@proxy.test/x?id=1 HTTP/1.1\r\nReferer: https://bob:S3CRET-6@ref.test:8443/r?access_token=S3CRET-7&page=2\r\n\r\n",
			red: `{"http.request.uri":"http://[redacted]@proxy.test/x?id=1",
				"http.referer":"https://[redacted]@ref.test:8443/r?access_token=[redacted]&page=2"}`,
			open: `{"http.request.uri":"http://alice:hunter2@proxy.test/x?id=1"}`,
			hold: []string{`http.referer contains "bob:S3CRET-6@"`}},
		{name: "no_userinfo",
			req:  "GET http://proxy.test/a@b?x=1 HTTP/1.1\r\nReferer: mailto:a@b\r\n\r\n",
			red:  `{"http.request.uri":"http://proxy.test/a@b?x=1","http.referer":"mailto:a@b"}`,
			open: `{"http.request.uri":"http://proxy.test/a@b?x=1"}`},
		{name: "secret_headers",
			req:  "GET / HTTP/1.1\r\nX-Api-Key: S3CRET-8\r\nX-AUTH-TOKEN: S3CRET-9x\r\nX-Custom-Secret: S3CRET-10\r\n\r\n",
			red:  `{"http.request.uri":"/","http.header.X-Api-Key":"[redacted]","http.header.X-Api-Key.len":8,"http.header.X-Auth-Token":"[redacted]","http.header.X-Auth-Token.len":9,"http.header.X-Custom-Secret":"[redacted]","http.header.X-Custom-Secret.len":9}`,
			open: `{"http.request.uri":"/","http.header.X-Api-Key":"S3CRET-8"}`,
			hold: []string{`http.header["X-Api-Key"] == "S3CRET-8"`}},
		// The value is cut after the masked run: the event holds its first
		// 128 bytes, the userinfo masked although its '@' lies past them.
		{name: "cut_userinfo",
			req:  "GET http://u:" + long + long + "@h/ HTTP/1.1\r\n\r\n",
			red:  `{"http.request.uri":"http://[redacted]","http.request.uri.truncated":true,"http.request.uri.len":212}`,
			open: fmt.Sprintf(`{"http.request.uri":%q,"http.request.uri.truncated":true,"http.request.uri.len":212}`, ("http://u:" + long + long)[:128])},
		{name: "cut_secret_value",
			req:  "GET /?" + long + "=1&password=" + long + " HTTP/1.1\r\n\r\n",
			red:  fmt.Sprintf(`{"http.request.uri":%q,"http.request.uri.truncated":true,"http.request.uri.len":214}`, "/?"+long+"=1&password=[redacted]"),
			open: fmt.Sprintf(`{"http.request.uri":%q,"http.request.uri.truncated":true,"http.request.uri.len":214}`, ("/?" + long + "=1&password=" + long)[:128])},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := tcpFrame(40000, 80, []byte(c.req))
			for _, h := range ktHooks {
				evs, err := k.run(h, frame)
				if err != nil {
					t.Fatalf("%s: %v", h.Hook, err)
				}
				for rule, want := range map[string]string{"red": c.red, "open": c.open} {
					if len(evs[rule]) != 1 {
						t.Fatalf("%s: rule %s: %d events, want 1", h.Hook, rule, len(evs[rule]))
					}
					ev := evs[rule][0]
					for name, v := range ktWant(want) {
						if got := ev.Fields[name]; !bytes.Equal(got, v) {
							t.Errorf("%s: rule %s: %s = %s, want %s\nevent: %s", h.Hook, rule, name, got, v, ev.Line)
						}
					}
					if rule == "red" && strings.Contains(ev.Line, "S3CRET") {
						t.Errorf("%s: a planted secret in the event: %s", h.Hook, ev.Line)
					}
					if rule == "red" {
						for name, v := range ev.Fields {
							var s string
							if json.Unmarshal(v, &s) == nil && strings.ContainsRune(s, '\n') {
								t.Errorf("%s: %s holds a mask byte: %s", h.Hook, name, v)
							}
						}
					}
				}
			}
			var exprs []ktExpr
			for _, e := range c.hold {
				exprs = append(exprs, ktExpr{e, true})
			}
			if wrong := ktCheckExprs(t, "l7r", frame, exprs); len(wrong) > 0 {
				t.Errorf("match expressions on the real value wrong:\n\t%s", strings.Join(wrong, "\n\t"))
			}
		})
	}
}
