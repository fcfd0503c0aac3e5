package rules_test

import (
	"testing"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// What `hdrlog compile` shows for string tests: matches ignores case as in
// Wireshark, so a case-insensitive test shows as a plain matches, a
// case-exact anchored one with (?-i); functions fold into it.
func TestTextPredicateString(t *testing.T) {
	for _, c := range []struct{ match, want string }{
		{`http.request.uri matches "^/Admin"`, `http.request.uri matches "^/admin"`},
		{`http.request.uri matches "(?i)^/admin"`, `http.request.uri matches "^/admin"`},
		{`http.request.uri matches "(?-i)^/Admin"`, `http.request.uri matches "(?-i)^/Admin"`},
		{`http.request.uri matches "(?-i)x\\.y$"`, `http.request.uri matches "(?-i)x\\.y$"`},
		{`http.request.uri matches "(?-i)^/a$"`, `http.request.uri == "/a"`},
		{`http.request.uri matches "(?-i)adm"`, `http.request.uri contains "adm"`},
		{`lower(http.host) == "a.example"`, `http.host matches "^a\\.example$"`},
		{`upper(http.request.uri) matches "^/admin"`, `http.request.uri matches "^/admin"`},
		{`http.request.uri == "/A"`, `http.request.uri == "/A"`},
	} {
		f, diags := lang.ParseDSL("m.rules", []byte("rule r {\n    match "+c.match+"\n    log ip.src\n}\n"))
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.match, diags)
		}
		rs, diags := rules.Check(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.match, diags)
		}
		if got := rules.PredString(rs.Rules[0].Match); got != c.want {
			t.Errorf("%s: shown as %s, want %s", c.match, got, c.want)
		}
	}
}
