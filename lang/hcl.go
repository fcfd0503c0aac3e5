package lang

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hdrlog/hdrlog/rules"
)

// The HCL front end reads the same rules as the DSL, written as HCL blocks:
//
//	rule "ssh_syn" {
//	  hook  = "tc ingress"
//	  match = "tcp.dstport == 22 && tcp.flags.syn == 1"
//	  log   = ["ip.src", "tcp.dstport"]
//	}
//
// hcl/v2 parses the file and checks its structure (unknown blocks and
// arguments, missing labels, repeated arguments); the match string is parsed
// by ParseExpr, the DSL's own expression parser, so both syntaxes share one
// expression language and build the same rules.File.

var hclFileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "rule", LabelNames: []string{"name"}}, {Type: "set", LabelNames: []string{"name"}}, {Type: "redact", LabelNames: []string{"kind"}}},
}

var hclRuleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "hook"}, {Name: "match"}, {Name: "log"},
		{Name: "ports"}, {Name: "maxlen"}, {Name: "unredact"}, // hcl_l7.go
		{Name: "count"}, {Name: "sample"}, {Name: "limit"}}, // hcl_volume.go
}

// ParseHCL parses a .hcl rule file into the rules syntax tree. Like ParseDSL
// it never panics, always returns a File holding the rules that parsed, and
// reports every problem it finds as Diagnostics with exact spans: an error
// inside a match string points at the character in the file, escapes and
// heredoc indentation accounted for. A rule with an error is left out of the
// File; the checker then judges the others.
func ParseHCL(filename string, src []byte) (file *rules.File, diags rules.Diagnostics) {
	file = &rules.File{Name: filename}
	p := &hclParser{file: filename, src: src, lines: lineStarts(src)}
	defer func() {
		if r := recover(); r != nil {
			diags = append(diags, rules.Diagnostic{
				Severity: rules.Error, Span: p.span(hcl.Range{}),
				Message: fmt.Sprintf("internal error: %v", r),
				Hint:    "this is a bug in hdrlog; please report it with the rule file",
			})
			diags.Sort()
		}
	}()
	f, hdiags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	p.report("", hdiags)
	if f != nil {
		content, cdiags := f.Body.Content(hclFileSchema)
		p.report("", cdiags)
		for _, b := range content.Blocks {
			if b.Type == "redact" {
				if d := p.redact(b); d != nil {
					file.Redact = append(file.Redact, d)
				}
				continue
			}
			if b.Type == "set" {
				if d := p.set(b); d != nil {
					file.Sets = append(file.Sets, d)
				}
				continue
			}
			if d := p.rule(b); d != nil {
				file.Rules = append(file.Rules, d)
			}
		}
	}
	p.diags.Sort()
	return file, p.diags
}

type hclParser struct {
	file  string
	src   []byte
	lines []int // byte offsets where lines start
	diags rules.Diagnostics
}

// rule converts one rule block; nil when it has an error.
func (p *hclParser) rule(b *hcl.Block) *rules.RuleDecl {
	name := b.Labels[0]
	nerr := len(p.diags.Errors())
	d := &rules.RuleDecl{
		Name:     name,
		NameSpan: p.span(unquotedRange(p.src, b.LabelRanges[0])),
		Span:     p.span(b.DefRange),
	}
	if body, ok := b.Body.(*hclsyntax.Body); ok {
		d.Span = p.span(hcl.RangeBetween(b.TypeRange, body.SrcRange))
	}
	content, cdiags := b.Body.Content(hclRuleSchema)
	p.report(name, cdiags)

	if a := content.Attributes["hook"]; a != nil {
		if text, rng, ok := p.stringValue(name, a, `hook = "tc ingress"`); ok {
			d.Hook = &rules.HookDecl{Text: text, Span: p.span(rng)}
		}
	}
	if a := content.Attributes["match"]; a != nil {
		if e := p.match(name, a); e != nil {
			d.Match = e
			d.MatchSpan = e.ExprSpan()
		}
	}
	if a := content.Attributes["log"]; a != nil {
		d.HasLog = true
		d.LogSpan = p.span(a.Range)
		d.Log = p.log(name, a)
	} else if content.Attributes["count"] == nil {
		p.add(rules.Diagnostic{
			Severity: rules.Error, Span: d.NameSpan, Rule: name,
			Message: fmt.Sprintf("rule %q has no log attribute", name),
			Hint:    `name the fields to log, e.g. log = ["ip.src", "ip.dst"]`,
		})
	}
	p.l7Attributes(name, content, d)
	p.volumeAttributes(name, content, d)
	if len(p.diags.Errors()) > nerr {
		return nil
	}
	return d
}

// stringValue evaluates an attribute that must be a constant string and
// returns it with the range of its text (inside the quotes).
func (p *hclParser) stringValue(rule string, a *hcl.Attribute, example string) (string, hcl.Range, bool) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		p.report(rule, constantOnly(diags))
		return "", hcl.Range{}, false
	}
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		p.add(rules.Diagnostic{
			Severity: rules.Error, Span: p.span(a.Expr.Range()), Rule: rule,
			Message: fmt.Sprintf("%s must be a string, not %s", a.Name, typeName(v)),
			Hint:    "write it in quotes, e.g. " + example,
		})
		return "", hcl.Range{}, false
	}
	return v.AsString(), unquotedRange(p.src, a.Expr.Range()), true
}

// match parses the match attribute with the shared expression parser and
// maps every position back into the file.
func (p *hclParser) match(rule string, a *hcl.Attribute) rules.Expr {
	const example = `match = "tcp.dstport == 22"`
	text, _, ok := p.stringValue(rule, a, example)
	if !ok {
		return nil
	}
	t, isTemplate := a.Expr.(*hclsyntax.TemplateExpr)
	if isTemplate {
		for _, part := range t.Parts {
			if _, lit := part.(*hclsyntax.LiteralValueExpr); !lit {
				isTemplate = false
			}
		}
	}
	if !isTemplate {
		p.add(rules.Diagnostic{
			Severity: rules.Error, Span: p.span(a.Expr.Range()), Rule: rule,
			Message: "match must be a literal string",
			Hint:    "write the expression in quotes or in a heredoc; ${...} templates are not supported, e.g. " + example,
		})
		return nil
	}
	m := mapString(p.src, a.Expr.Range(), text)
	e, diags := ParseExpr(p.file, []byte(text), rules.Pos{File: p.file, Line: 1, Column: 1})
	for i := range diags {
		diags[i].Span = p.remap(m, diags[i].Span)
		diags[i].Rule = rule
	}
	p.diags = append(p.diags, diags...)
	if e == nil {
		return nil
	}
	remapExpr(e, func(s rules.Span) rules.Span { return p.remap(m, s) })
	return e
}

// log reads the list of field names.
func (p *hclParser) log(rule string, a *hcl.Attribute) []rules.FieldName {
	const example = `log = ["ip.src", "ip.dst"]`
	tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		v, diags := a.Expr.Value(nil)
		msg := "log must be a list of field names"
		if !diags.HasErrors() {
			msg += ", not " + typeName(v)
		}
		p.add(rules.Diagnostic{
			Severity: rules.Error, Span: p.span(a.Expr.Range()), Rule: rule,
			Message: msg,
			Hint:    "write the names in quotes, in brackets, e.g. " + example,
		})
		return nil
	}
	out := make([]rules.FieldName, 0, len(tuple.Exprs))
	for _, e := range tuple.Exprs {
		v, diags := e.Value(nil)
		switch {
		case diags.HasErrors():
			hint := `field names are strings in HCL: write "ip.src", in quotes`
			p.add(rules.Diagnostic{
				Severity: rules.Error, Span: p.span(e.Range()), Rule: rule,
				Message: "a logged field must be a quoted name", Hint: hint,
			})
		case v.IsNull() || !v.IsKnown() || v.Type() != cty.String:
			p.add(rules.Diagnostic{
				Severity: rules.Error, Span: p.span(e.Range()), Rule: rule,
				Message: "a logged field must be a quoted name, not " + typeName(v),
				Hint:    "write the names in quotes, e.g. " + example,
			})
		default:
			out = append(out, rules.FieldName{Name: v.AsString(), Span: p.span(unquotedRange(p.src, e.Range()))})
		}
	}
	return out
}

// constantOnly rewrites hcl's evaluation errors (variables and functions
// have no scope in a rule file) to say what to write instead.
func constantOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		switch d.Summary {
		case "Variables not allowed", "Function calls not allowed":
			d.Detail = "A rule file holds constants only: write the value as a quoted string."
		}
	}
	return diags
}

func typeName(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case !v.IsKnown():
		return "an unknown value"
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a boolean"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "an object"
	}
	return t.FriendlyName()
}

// report converts hcl's diagnostics: the summary becomes the message and the
// detail the hint.
func (p *hclParser) report(rule string, diags hcl.Diagnostics) {
	for _, d := range diags {
		sev := rules.Error
		if d.Severity == hcl.DiagWarning {
			sev = rules.Warning
		}
		var span rules.Span
		switch {
		case d.Subject != nil:
			span = p.span(*d.Subject)
		case d.Context != nil:
			span = p.span(*d.Context)
		default:
			span = p.span(hcl.Range{})
		}
		p.add(rules.Diagnostic{
			Severity: sev, Span: span, Rule: rule,
			Message: lowerFirst(strings.TrimSuffix(d.Summary, ".")),
			Hint:    d.Detail,
		})
	}
}

func (p *hclParser) add(d rules.Diagnostic) { p.diags = append(p.diags, d) }

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || (len(s) > n && unicode.IsUpper(rune(s[n]))) {
		return s // an acronym: keep it
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// lineStarts lists the byte offsets where lines start.
func lineStarts(src []byte) []int {
	lines := []int{0}
	for i, b := range src {
		if b == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// pos turns a byte offset of the file into a position; columns count bytes,
// as everywhere in hdrlog (hcl counts characters).
func (p *hclParser) pos(off int) rules.Pos {
	off = max(0, min(off, len(p.src)))
	lo, hi := 0, len(p.lines)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if p.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return rules.Pos{File: p.file, Offset: off, Line: lo + 1, Column: off - p.lines[lo] + 1}
}

func (p *hclParser) span(r hcl.Range) rules.Span {
	return rules.Span{Start: p.pos(r.Start.Byte), End: p.pos(max(r.Start.Byte, r.End.Byte))}
}

// remap moves a span reported by ParseExpr, in offsets of the decoded match
// string, to the file.
func (p *hclParser) remap(m []int, s rules.Span) rules.Span {
	at := func(off int) rules.Pos { return p.pos(m[max(0, min(off, len(m)-1))]) }
	return rules.Span{Start: at(s.Start.Offset), End: at(s.End.Offset)}
}

// unquotedRange is the range of a quoted string's text, without its quotes;
// other ranges are returned unchanged.
func unquotedRange(src []byte, r hcl.Range) hcl.Range {
	if r.End.Byte-r.Start.Byte >= 2 && r.End.Byte <= len(src) && src[r.Start.Byte] == '"' && src[r.End.Byte-1] == '"' {
		r.Start.Byte++
		r.Start.Column++
		r.End.Byte--
		r.End.Column--
	}
	return r
}

// remapExpr applies f to every span in an expression tree.
func remapExpr(e rules.Expr, f func(rules.Span) rules.Span) {
	lit := func(l *rules.Literal) {
		if l != nil {
			l.Span = f(l.Span)
		}
	}
	field := func(fn *rules.FieldName) {
		fn.Span = f(fn.Span)
		if fn.Func != "" {
			fn.FuncSpan = f(fn.FuncSpan)
		}
	}
	switch e := e.(type) {
	case *rules.LogicalExpr:
		remapExpr(e.Left, f)
		remapExpr(e.Right, f)
		e.Span = f(e.Span)
	case *rules.NotExpr:
		remapExpr(e.X, f)
		e.Span = f(e.Span)
	case *rules.TestExpr:
		field(&e.Field)
		lit(e.Mask)
		e.Span = f(e.Span)
	case *rules.CompareExpr:
		if e.Quant != rules.QuantNone {
			e.QuantSpan = f(e.QuantSpan)
		}
		field(&e.Field)
		lit(e.Mask)
		e.OpSpan = f(e.OpSpan)
		lit(e.Value)
		e.Span = f(e.Span)
	case *rules.InExpr:
		if e.Quant != rules.QuantNone {
			e.QuantSpan = f(e.QuantSpan)
		}
		field(&e.Field)
		lit(e.Mask)
		for _, el := range e.Elems {
			lit(el.Lo)
			lit(el.Hi)
		}
		if e.SetRef != "" {
			e.SetRefSpan = f(e.SetRefSpan)
		}
		e.Span = f(e.Span)
	}
}
