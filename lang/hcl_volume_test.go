package lang

import (
	"reflect"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/rules"
)

// TestHCLVolumeSameAsDSL: the volume clauses give HCL the DSL's words,
// sample = "1/N [by flow]", limit = "R/s [burst B]" and count = { by,
// every, sum, top }, and both syntaxes check to the same rules with the
// values written.
func TestHCLVolumeSameAsDSL(t *testing.T) {
	for _, c := range []struct {
		name, dsl, hcl string
		want           func(*rules.Rule) bool
	}{
		{"sample", "sample 1/100", `sample = "1/100"`,
			func(r *rules.Rule) bool { return r.Sample != nil && *r.Sample == rules.Sampling{N: 100} }},
		{"sample by flow", "sample 1/8 by flow", `sample = "1/8 by flow"`,
			func(r *rules.Rule) bool { return r.Sample != nil && *r.Sample == rules.Sampling{N: 8, ByFlow: true} }},
		{"limit", "limit 50/s", `limit = "50/s"`,
			func(r *rules.Rule) bool {
				return r.Limit != nil && *r.Limit == rules.RateLimit{PerSecond: 50, Burst: 50}
			}},
		{"limit burst", "limit 100/s burst 20", `limit = "100/s burst 20"`,
			func(r *rules.Rule) bool {
				return r.Limit != nil && *r.Limit == rules.RateLimit{PerSecond: 100, Burst: 20}
			}},
		{"sample and limit", "sample 1/4 by flow\n    limit 10/s burst 3", "sample = \"1/4 by flow\"\n  limit = \"10/s burst 3\"",
			func(r *rules.Rule) bool {
				return r.Sample != nil && *r.Sample == rules.Sampling{N: 4, ByFlow: true} && r.Limit != nil && *r.Limit == rules.RateLimit{PerSecond: 10, Burst: 3}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsl := "rule r {\n    match udp\n    log ip.src, udp.dstport\n    " + c.dsl + "\n}\n"
			hcl := "rule \"r\" {\n  match = \"udp\"\n  log = [\"ip.src\", \"udp.dstport\"]\n  " + c.hcl + "\n}\n"
			d, h := checkSrc(t, "a.rules", dsl, ParseDSL), checkSrc(t, "a.hcl", hcl, ParseHCL)
			if !c.want(d.Rules[0]) {
				t.Errorf("DSL: sample %+v, limit %+v", d.Rules[0].Sample, d.Rules[0].Limit)
			}
			if !equalModuloPositions(reflect.ValueOf(d.Rules[0]), reflect.ValueOf(h.Rules[0])) {
				t.Errorf("HCL differs: sample %+v, limit %+v", h.Rules[0].Sample, h.Rules[0].Limit)
			}
		})
	}
	t.Run("count", func(t *testing.T) {
		d := checkSrc(t, "a.rules", "rule r {\n    match ip\n    count by ip.src, tcp.dstport every 10s sum frame.len top 5\n}\n", ParseDSL)
		h := checkSrc(t, "a.hcl", "rule \"r\" {\n  match = \"ip\"\n  count = { by = [\"ip.src\", \"tcp.dstport\"], every = \"10s\", sum = \"frame.len\", top = 5 }\n}\n", ParseHCL)
		if a := d.Rules[0].Count; a == nil || *a != (rules.Aggregate{Every: 10 * time.Second, SumLen: true, Top: 5}) {
			t.Errorf("DSL: count %+v", a)
		}
		if !equalModuloPositions(reflect.ValueOf(d.Rules[0]), reflect.ValueOf(h.Rules[0])) {
			t.Errorf("HCL differs: count %+v", h.Rules[0].Count)
		}
	})
}

func checkSrc(t *testing.T, name, src string, parse func(string, []byte) (*rules.File, rules.Diagnostics)) *rules.RuleSet {
	t.Helper()
	f, diags := parse(name, []byte(src))
	if diags.HasErrors() {
		t.Fatalf("%s:\n%s\n%v", name, src, diags)
	}
	rs, cd := rules.Check(f)
	if cd.HasErrors() {
		t.Fatalf("%s:\n%s\n%v", name, src, cd)
	}
	if len(rs.Rules) != 1 {
		t.Fatalf("%s: %d rules", name, len(rs.Rules))
	}
	return rs
}
