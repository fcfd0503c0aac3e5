package lang

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

// FuzzParseDSL: on any input, ParseDSL and then rules.Check never panic
// (nor report an internal error, which is how ParseDSL reports a recovered
// panic), and every span, of diagnostics and of syntax-tree nodes, lies
// within the input with a line and column that agree with its offset.
// Seeds: every file in testdata; inputs the fuzzer found are kept in
// testdata/fuzz/FuzzParseDSL.
func FuzzParseDSL(f *testing.F) {
	for _, dir := range []string{"parse", "errors"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.rules"))
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "fuzz.rules"
		file, diags := ParseDSL(name, src)
		if file == nil {
			t.Fatal("nil file")
		}
		for what, s := range allSpans(file) {
			if err := spanError(name, src, s); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		_, cdiags := rules.Check(file)
		all := append(diags, cdiags...)
		for _, d := range all {
			if strings.HasPrefix(d.Message, "internal error") {
				t.Fatalf("%s", d.Error())
			}
			if err := spanError(name, src, d.Span); err != nil {
				t.Fatalf("%q: %v", d.Message, err)
			}
		}
		Sources{name: src}.RenderAll(io.Discard, all)
	})
}

// FuzzParseExpr: the same for standalone expressions at an offset, as the
// HCL front end calls it.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"tcp.dstport == 22 && !(ip.src in {10.0.0.0/8, 192.168.0.0/16})",
		"vlan.id#2 in {1..2 3} || eth.src == 00:11:22:33:44:55 || ipv6.src == fe80::1",
		`http.host matches r"^a\.b$" or http.host contains "x\"y"`,
		"tcp.flags & 0x12 == 0x02 and not udp",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		prefix := "match = \"" // as if embedded in an HCL attribute
		file := append([]byte(prefix), src...)
		base := rules.Pos{File: "x.hcl", Offset: len(prefix), Line: 1, Column: len(prefix) + 1}
		e, diags := ParseExpr("x.hcl", src, base)
		if (e == nil) != diags.HasErrors() {
			t.Fatalf("expr %v with diagnostics %v", e, diags)
		}
		var spans []rules.Span
		for _, d := range diags {
			if strings.HasPrefix(d.Message, "internal error") {
				t.Fatalf("%s", d.Error())
			}
			spans = append(spans, d.Span)
		}
		if e != nil {
			for _, s := range allSpans(&rules.File{Rules: []*rules.RuleDecl{{Match: e, MatchSpan: e.ExprSpan()}}}) {
				spans = append(spans, s)
			}
		}
		for _, s := range spans {
			if s == (rules.Span{}) {
				continue // the RuleDecl wrapper's own spans
			}
			if err := spanError("x.hcl", file, s); err != nil {
				t.Fatal(err)
			}
			if s.Start.Offset < base.Offset {
				t.Fatalf("span %v starts before the expression", s)
			}
		}
	})
}
