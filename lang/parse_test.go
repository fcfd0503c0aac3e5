package lang

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

// mustParseExpr parses a match expression through the DSL, so that the
// table below exercises ParseDSL's positions: the rule wrapper takes line 1
// and the expression starts at line 2, column 7.
func mustParseExpr(t *testing.T, expr string) (rules.Expr, string) {
	t.Helper()
	src := "rule r {\nmatch " + expr + "\nlog ip.src\n}\n"
	f, diags := ParseDSL("t.rules", []byte(src))
	if len(diags) > 0 || len(f.Rules) != 1 {
		t.Fatalf("%q: %v", expr, diags)
	}
	return f.Rules[0].Match, src
}

// find returns the first node, in pre-order, for which pick returns a span.
func find(e rules.Expr, pick func(rules.Expr) (rules.Span, bool)) (rules.Span, bool) {
	if s, ok := pick(e); ok {
		return s, true
	}
	switch e := e.(type) {
	case *rules.LogicalExpr:
		if s, ok := find(e.Left, pick); ok {
			return s, true
		}
		return find(e.Right, pick)
	case *rules.NotExpr:
		return find(e.X, pick)
	}
	return rules.Span{}, false
}

// Selectors for the span table.
func fieldNamed(name string) func(rules.Expr) (rules.Span, bool) {
	return func(e rules.Expr) (rules.Span, bool) {
		switch e := e.(type) {
		case *rules.TestExpr:
			return e.Field.Span, e.Field.Name == name
		case *rules.CompareExpr:
			return e.Field.Span, e.Field.Name == name
		case *rules.InExpr:
			return e.Field.Span, e.Field.Name == name
		}
		return rules.Span{}, false
	}
}

func literal(text string) func(rules.Expr) (rules.Span, bool) {
	return func(e rules.Expr) (rules.Span, bool) {
		var lits []*rules.Literal
		switch e := e.(type) {
		case *rules.TestExpr:
			lits = append(lits, e.Mask)
		case *rules.CompareExpr:
			lits = append(lits, e.Mask, e.Value)
		case *rules.InExpr:
			lits = append(lits, e.Mask)
			for _, el := range e.Elems {
				lits = append(lits, el.Lo, el.Hi)
			}
		}
		for _, l := range lits {
			if l != nil && l.Text == text {
				return l.Span, true
			}
		}
		return rules.Span{}, false
	}
}

func operator(op rules.CmpOp) func(rules.Expr) (rules.Span, bool) {
	return func(e rules.Expr) (rules.Span, bool) {
		if c, ok := e.(*rules.CompareExpr); ok && c.Op == op {
			return c.OpSpan, true
		}
		return rules.Span{}, false
	}
}

func node[T rules.Expr]() func(rules.Expr) (rules.Span, bool) {
	return func(e rules.Expr) (rules.Span, bool) {
		if _, ok := e.(T); ok {
			return e.ExprSpan(), true
		}
		return rules.Span{}, false
	}
}

func TestSpans(t *testing.T) {
	tests := []struct {
		expr string
		pick func(rules.Expr) (rules.Span, bool)
		want string // start line:col - end line:col, end exclusive
	}{
		{"tcp.dstport == 22", fieldNamed("tcp.dstport"), "2:7-2:18"},
		{"tcp.dstport == 22", operator(rules.CmpEq), "2:19-2:21"},
		{"tcp.dstport == 22", literal("22"), "2:22-2:24"},
		{"tcp.dstport == 22", node[*rules.CompareExpr](), "2:7-2:24"},
		{"tcp.dstport eq 22", operator(rules.CmpEq), "2:19-2:21"},
		{"tcp.dstport contains 22", operator(rules.CmpContains), "2:19-2:27"},
		{"tcp.dstport>=22", operator(rules.CmpGe), "2:18-2:20"},
		{"tcp.dstport>=22", literal("22"), "2:20-2:22"},
		{"vlan.id#2 == 42", fieldNamed("vlan.id#2"), "2:7-2:16"},
		{"vlan.id#2#comment\n  == 42", node[*rules.CompareExpr](), "2:7-3:8"},
		{"vlan.id#2#comment\n  == 42", literal("42"), "3:6-3:8"},
		{"tcp.flags & 0x12", literal("0x12"), "2:19-2:23"},
		{"tcp.flags & 0x12", node[*rules.TestExpr](), "2:7-2:23"},
		{"ip.src == fe80::1", literal("fe80::1"), "2:17-2:24"},
		{"ip.src == ::ffff:1.2.3.4/96", literal("::ffff:1.2.3.4/96"), "2:17-2:34"},
		{"eth.src == 00:11:22:33:44:55", literal("00:11:22:33:44:55"), "2:18-2:35"},
		{"ip.src in {10.0.0.1..10.0.0.9}", literal("10.0.0.1"), "2:18-2:26"},
		{"ip.src in {10.0.0.1..10.0.0.9}", literal("10.0.0.9"), "2:28-2:36"},
		{"ip.src in {10.0.0.1..10.0.0.9}", node[*rules.InExpr](), "2:7-2:37"},
		{"tcp.port in {1..2 3}", literal("2"), "2:23-2:24"},
		{"tcp.port in {1..2 3}", literal("3"), "2:25-2:26"},
		{`http.host == "a\"b"`, literal(`a"b`), "2:20-2:26"},
		{`http.host == "é" || tcp`, fieldNamed("tcp"), "2:28-2:31"}, // columns count bytes
		{"!tcp", node[*rules.NotExpr](), "2:7-2:11"},
		{"not  tcp", node[*rules.NotExpr](), "2:7-2:15"},
		{"(tcp || udp) && icmp", node[*rules.LogicalExpr](), "2:7-2:27"},
		{"(tcp || udp) && icmp", fieldNamed("udp"), "2:15-2:18"},
		{"( ( tcp ) )", node[*rules.TestExpr](), "2:7-2:18"},
		{"tcp &&\n   udp", node[*rules.LogicalExpr](), "2:7-3:7"},
		{"tcp &&\r\n   udp", fieldNamed("udp"), "3:4-3:7"},
	}
	for _, tt := range tests {
		e, src := mustParseExpr(t, tt.expr)
		got, ok := find(e, tt.pick)
		if !ok {
			t.Errorf("%q: node not found", tt.expr)
			continue
		}
		if s := spanString(got); s != tt.want {
			t.Errorf("%q: span %s, want %s", tt.expr, s, tt.want)
		}
		if err := spanError("t.rules", []byte(src), got); err != nil {
			t.Errorf("%q: %v", tt.expr, err)
		}
	}
}

func TestRuleSpans(t *testing.T) {
	src := "# c\nrule  ssh {\n  hook tc  ingress\n  log ip.src,\n      ip.dst\n  match tcp\n}  # end\n"
	f, diags := ParseDSL("r.rules", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	r := f.Rules[0]
	for what, tt := range map[string]struct {
		got  rules.Span
		want string
	}{
		"rule":  {r.Span, "2:1-7:2"},
		"name":  {r.NameSpan, "2:7-2:10"},
		"hook":  {r.Hook.Span, "3:8-3:19"},
		"log":   {r.LogSpan, "4:3-5:13"},
		"match": {r.MatchSpan, "6:9-6:12"},
	} {
		if s := spanString(tt.got); s != tt.want {
			t.Errorf("%s: span %s, want %s", what, s, tt.want)
		}
	}
	if r.Span.Start.Offset != 4 || r.Span.End.Offset != strings.Index(src, "}")+1 {
		t.Errorf("rule offsets %d-%d", r.Span.Start.Offset, r.Span.End.Offset)
	}
	if r.Hook.Text != "tc ingress" {
		t.Errorf("hook text %q", r.Hook.Text)
	}
}

// TestParseExprBase: a match expression embedded in another file (an HCL
// string) reports positions in that file.
func TestParseExprBase(t *testing.T) {
	base := rules.Pos{File: "ignored.hcl", Offset: 100, Line: 5, Column: 12}
	e, diags := ParseExpr("web.hcl", []byte("tcp.dstport == 22 &&\n  udp"), base)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	c := e.(*rules.LogicalExpr).Left.(*rules.CompareExpr)
	want := rules.Span{
		Start: rules.Pos{File: "web.hcl", Offset: 100, Line: 5, Column: 12},
		End:   rules.Pos{File: "web.hcl", Offset: 111, Line: 5, Column: 23},
	}
	if c.Field.Span != want {
		t.Errorf("field span %+v, want %+v", c.Field.Span, want)
	}
	u := e.(*rules.LogicalExpr).Right.(*rules.TestExpr)
	if got := u.Span.Start; got.Line != 6 || got.Column != 3 || got.Offset != 123 {
		t.Errorf("second line starts at %+v, want 6:3 offset 123", got)
	}

	_, diags = ParseExpr("web.hcl", []byte("tcp.dstport =="), base)
	if len(diags) != 1 || diags[0].Message != `expected a value after "==", found the end of the expression` {
		t.Fatalf("diagnostics %v", diags)
	}
	if got := diags[0].Span.Start; got.Line != 5 || got.Column != 26 || got.Offset != 114 {
		t.Errorf("error at %+v, want 5:26 offset 114", got)
	}

	for _, src := range []string{"", "  # only a comment", "tcp udp", "tcp )", "(tcp", "tcp ==", "log", "tcp @"} {
		if e, diags := ParseExpr("x", []byte(src), rules.Pos{}); e != nil || !diags.HasErrors() {
			t.Errorf("ParseExpr(%q) = %v, %v; want an error", src, e, diags)
		}
	}
}

// TestPrecedence: ! binds tighter than &&, which binds tighter than ||;
// both chains group to the left; word forms mean the same as symbols.
func TestPrecedence(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"a || b && !c", "(a || (b && (!c)))"},
		{"a or b and not c", "(a || (b && (!c)))"},
		{"a && b || c", "((a && b) || c)"},
		{"a and b or c", "((a && b) || c)"},
		{"a || b || c", "((a || b) || c)"},
		{"a && b && c", "((a && b) && c)"},
		{"(a || b) && c", "((a || b) && c)"},
		{"!a && b", "((!a) && b)"},
		{"!(a && b)", "(!(a && b))"},
		{"not not a", "(!(!a))"},
		{"!a.b == 1", "(!a.b == 1)"},
		{"a & 0x1 == 1 || b in {1, 2..3}", "(a & 0x1 == 1 || b in {1, 2..3})"},
		{"a eq 1 and b ne 2 or c lt 3 and d le 4 or e gt 5 and f ge 6",
			"(((a == 1 && b != 2) || (c < 3 && d <= 4)) || (e > 5 && f >= 6))"},
	}
	for _, tt := range tests {
		e, diags := ParseExpr("x", []byte(tt.expr), rules.Pos{})
		if len(diags) > 0 {
			t.Errorf("%q: %v", tt.expr, diags)
			continue
		}
		if got := exprString(e); got != tt.want {
			t.Errorf("%q groups as %s, want %s", tt.expr, got, tt.want)
		}
	}

	// Word and symbol forms give the same tree, operator for operator.
	pairs := [][2]string{
		{"tcp.port == 1 && udp.port != 2 || !icmp", "tcp.port eq 1 and udp.port ne 2 or not icmp"},
		{"ip.ttl < 1 || ip.ttl <= 2 || ip.ttl > 3 || ip.ttl >= 4", "ip.ttl lt 1 or ip.ttl le 2 or ip.ttl gt 3 or ip.ttl ge 4"},
	}
	for _, p := range pairs {
		a, da := ParseExpr("x", []byte(p[0]), rules.Pos{})
		b, db := ParseExpr("x", []byte(p[1]), rules.Pos{})
		if len(da)+len(db) > 0 {
			t.Fatal(da, db)
		}
		if exprString(a) != exprString(b) {
			t.Errorf("%q is %s but %q is %s", p[0], exprString(a), p[1], exprString(b))
		}
	}
}

func TestLiteralKinds(t *testing.T) {
	tests := []struct {
		value string
		kind  rules.LitKind
		text  string
	}{
		{"22", rules.LitNumber, "22"},
		{"0x16", rules.LitNumber, "0x16"},
		{"10.0.0.1", rules.LitDotted, "10.0.0.1"},
		{"10.0.0.0/8", rules.LitDotted, "10.0.0.0/8"},
		{"::", rules.LitColon, "::"},
		{"fe80::1", rules.LitColon, "fe80::1"},
		{"ff02::5", rules.LitColon, "ff02::5"},
		{"2001:db8::/32", rules.LitColon, "2001:db8::/32"},
		{"::ffff:1.2.3.4", rules.LitColon, "::ffff:1.2.3.4"},
		{"00:11:22:33:44:55", rules.LitColon, "00:11:22:33:44:55"},
		{"aa:bb:cc:dd:ee:ff", rules.LitColon, "aa:bb:cc:dd:ee:ff"},
		{`"GET"`, rules.LitString, "GET"},
		{`"a\tb\x41\101\u00e9\\\""`, rules.LitString, "a\tbAAé\\\""},
		{`r"a\.b"`, rules.LitString, `a\.b`},
		{"true", rules.LitWord, "true"},
		{"False", rules.LitWord, "False"},
		{"www.example.com", rules.LitWord, "www.example.com"},
		{"face", rules.LitWord, "face"}, // hex letters without a colon are a word
	}
	for _, tt := range tests {
		e, diags := ParseExpr("x", []byte("f == "+tt.value), rules.Pos{})
		if len(diags) > 0 {
			t.Errorf("%s: %v", tt.value, diags)
			continue
		}
		lit := e.(*rules.CompareExpr).Value
		if lit.Kind != tt.kind || lit.Text != tt.text {
			t.Errorf("%s: kind %d text %q, want kind %d text %q", tt.value, lit.Kind, lit.Text, tt.kind, tt.text)
		}
	}
}

func TestRender(t *testing.T) {
	src := []byte("rule a {\n\tmatch tcp.dstprt == 22 &&\n\t      udp\n\tlog ip.src\n}\n")
	d := rules.Diagnostic{
		Span: rules.Span{
			Start: rules.Pos{File: "a.rules", Offset: 16, Line: 2, Column: 8},
			End:   rules.Pos{File: "a.rules", Offset: 26, Line: 2, Column: 18},
		},
		Message: "unknown field tcp.dstprt", Hint: "did you mean tcp.dstport?",
	}
	var b bytes.Buffer
	Render(&b, d, src)
	want := "a.rules:2:8: error: unknown field tcp.dstprt\n" +
		"\tmatch tcp.dstprt == 22 &&\n" +
		"\t      ^~~~~~~~~~\n" +
		"  hint: did you mean tcp.dstport?\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	// A span over several lines is underlined to the end of its first line;
	// an empty span gets a lone caret; a warning says so.
	d.Span.End = rules.Pos{File: "a.rules", Offset: 40, Line: 3, Column: 11}
	d.Severity, d.Hint = rules.Warning, ""
	b.Reset()
	Render(&b, d, src)
	if want := "a.rules:2:8: warning: unknown field tcp.dstprt\n\tmatch tcp.dstprt == 22 &&\n\t      ^~~~~~~~~~~~~~~~~~~\n"; b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	d.Span.End = d.Span.Start
	b.Reset()
	Render(&b, d, src)
	if want := "a.rules:2:8: warning: unknown field tcp.dstprt\n\tmatch tcp.dstprt == 22 &&\n\t      ^\n"; b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}

	// Without the source, or with a position outside it, only the first line.
	for _, src := range [][]byte{nil, []byte("x\n")} {
		b.Reset()
		Render(&b, d, src)
		if want := "a.rules:2:8: warning: unknown field tcp.dstprt\n"; b.String() != want {
			t.Errorf("got %q, want %q", b.String(), want)
		}
	}
}

func TestSourcesRenderAll(t *testing.T) {
	a := []byte("rule dup { log ip.src }\n")
	b := []byte("\nrule dup { log ip.dst }\n")
	fa, da := ParseDSL("a.rules", a)
	fb, db := ParseDSL("b.rules", b)
	if len(da)+len(db) > 0 {
		t.Fatal(da, db)
	}
	_, diags := rules.Check(fa, fb)
	var out bytes.Buffer
	Sources{"a.rules": a, "b.rules": b}.RenderAll(&out, diags)
	want := `b.rules:2:6: error: rule "dup" is already defined at a.rules:1:6
rule dup { log ip.dst }
     ^~~
  hint: rule names must be unique across all files of a run; rename one
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// TestRecovery: after a broken rule, parsing goes on with the next one.
func TestRecovery(t *testing.T) {
	src := "rule a { match tcp = 1 log ip.src }\nrule b { log ip.src }\nrule c { log , }\nrule d { log ip.dst }\n"
	f, diags := ParseDSL("r.rules", []byte(src))
	var names []string
	for _, r := range f.Rules {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "b,d" {
		t.Errorf("rules %v, want b,d", names)
	}
	if len(diags) != 2 || diags[0].Rule != "a" || diags[1].Rule != "c" {
		t.Errorf("diagnostics %v", diags)
	}
}

// TestExprErrors: the messages only a standalone expression (an HCL match
// attribute) can produce, and how the others read there.
func TestExprErrors(t *testing.T) {
	tests := []struct{ src, msg, span string }{
		{"", "empty match expression", "1:1-1:1"},
		{"  # a comment", "empty match expression", "1:1-1:14"},
		{"== 22", `expected a match expression, found "=="`, "1:1-1:3"},
		{"tcp )", `unbalanced parentheses: ")" has no matching "("`, "1:5-1:6"},
		{"tcp udp", `expected && or || before "udp"`, "1:5-1:8"},
		{"tcp.port == 1..2", `unexpected ".." in the match expression`, "1:14-1:16"},
		{"tcp.port == 1 ,", `unexpected "," in the match expression`, "1:15-1:16"},
		{"(tcp || udp", `unbalanced parentheses: "(" is not closed`, "1:1-1:2"},
		{"tcp &&", `expected a field name after "&&", found the end of the expression`, "1:7-1:7"},
		{"tcp in {1,", `expected a value after ",", found the end of the expression`, "1:11-1:11"},
		{"tcp.port == 1 }", `unexpected "}" in the match expression`, "1:15-1:16"},
		{"tcp = 1", `unexpected "="`, "1:5-1:6"},
	}
	for _, tt := range tests {
		_, diags := ParseExpr("x.hcl", []byte(tt.src), rules.Pos{Line: 1, Column: 1})
		if len(diags) != 1 {
			t.Errorf("%q: %d diagnostics %v", tt.src, len(diags), diags)
			continue
		}
		if diags[0].Message != tt.msg || spanString(diags[0].Span) != tt.span {
			t.Errorf("%q: %q at %s, want %q at %s", tt.src, diags[0].Message, spanString(diags[0].Span), tt.msg, tt.span)
		}
	}
}

// The words that start statements or declarations stay usable as rule names:
// rule files written before named sets existed call rules "set".
func TestKeywordsAsRuleNames(t *testing.T) {
	src := "rule set { match tcp.port == 22 log ip.src }\n" +
		"set allowed { 10.0.0.1 }\n" +
		"rule count { match ip.src in $allowed log ip.src }\n" +
		"rule ports { match udp log ip.src }\n"
	f, diags := ParseDSL("t.rules", []byte(src))
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	var names []string
	for _, r := range f.Rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "set,count,ports" || len(f.Sets) != 1 || f.Sets[0].Name != "allowed" {
		t.Fatalf("rules %q, sets %d", got, len(f.Sets))
	}
}
