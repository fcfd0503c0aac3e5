package reference

import (
	"testing"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// matches ignores case as Wireshark's does (a case-insensitive
// Perl-compatible regular expression); (?-i) opts out and (?i) changes
// nothing. A watch rule must not be bypassed by writing /ADMIN.
func TestMatchesIgnoresCase(t *testing.T) {
	frame := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40000, 80).Seq(1).Flags(testpkt.ACK | testpkt.PSH).
		Payload(testpkt.HTTPRequest("GET", "/ADMIN/x", "HTTP/1.1", "Host: a.test")).Bytes()
	for _, c := range []struct {
		match string
		want  bool
	}{
		{`http.request.uri matches "^/admin"`, true},
		{`http.request.uri matches "(?i)^/admin"`, true},
		{`http.request.uri matches "/x$"`, true},
		{`http.request.uri matches "(?-i)^/admin"`, false},
		{`http.request.uri matches "(?-i)^/ADMIN"`, true},
		{`upper(http.request.uri) matches "^/admin/x$"`, true},
	} {
		src := "rule r {\n    match " + c.match + "\n    log http.request.uri\n}\n"
		f, diags := lang.ParseDSL("m.rules", []byte(src))
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.match, diags)
		}
		rs, diags := rules.Check(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.match, diags)
		}
		e, err := New(rs)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(e.Eval(rules.HookTCIngress, frame)) == 1; got != c.want {
			t.Errorf("%s on /ADMIN/x: %v, want %v", c.match, got, c.want)
		}
	}
}
