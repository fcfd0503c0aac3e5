package rules_test

import (
	"slices"
	"testing"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// TestRedactStatementsBothSyntaxes: the redact statements of the DSL and
// of HCL give a rule set the same redaction: the added query parameters in
// RuleSet.SecretQuery (what the kernel and the reference mask URLs and the
// kept transaction target with), the added header redacted in a rule's
// log, unredact turning a field's masking off. A rule set without them
// has the defaults only.
func TestRedactStatementsBothSyntaxes(t *testing.T) {
	dsl, diags := lang.ParseDSL("r.rules", []byte(`redact header "X-Session-Key"
redact query otp, "Session-Key"
rule r { match http.request log http.request.uri, http.header["X-Session-Key"], http.referer unredact http.referer }
`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	hcl, diags := lang.ParseHCL("r.hcl", []byte(`redact "header" {
  names = ["X-Session-Key"]
}
redact "query" {
  names = ["otp", "Session-Key"]
}
rule "r" {
  match    = "http.request"
  log      = ["http.request.uri", "http.header[\"X-Session-Key\"]", "http.referer"]
  unredact = ["http.referer"]
}
`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plain, diags := lang.ParseDSL("p.rules", []byte(`rule r { match http.request log http.request.uri }`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := rules.QueryHashes(append(append([]string(nil), rules.SecretQuery...), "otp", "session_key"))
	for name, f := range map[string]*rules.File{"dsl": dsl, "hcl": hcl} {
		rs, diags := rules.Check(f)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if !slices.Equal(rs.SecretQuery, want) {
			t.Errorf("%s: SecretQuery %v, want %v", name, rs.SecretQuery, want)
		}
		log := rs.Rules[0].Log
		if !log[0].MaskURL || !slices.Equal(log[0].SecretQuery, want) {
			t.Errorf("%s: http.request.uri not masked with the rule set's list: %+v", name, log[0])
		}
		if !log[1].Redact {
			t.Errorf("%s: X-Session-Key not redacted", name)
		}
		if log[2].MaskURL || log[2].Redact {
			t.Errorf("%s: unredact http.referer left it masked", name)
		}
	}
	rs, diags := rules.Check(plain)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !slices.Equal(rs.SecretQuery, rules.QueryHashes(rules.SecretQuery)) {
		t.Errorf("without redact statements: SecretQuery %v", rs.SecretQuery)
	}
}
