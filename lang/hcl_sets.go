package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hdrlog/hdrlog/rules"
)

// Named sets in HCL, the DSL's `set` in block form:
//
//	set "blocklist" {
//	  elements = ["192.0.2.1", "198.51.100.0/24", "2001:db8::/32", 22, "1024..2047"]
//	}
//	set "feed" {
//	  file = "feed.txt"
//	}
//	rule "blocked" {
//	  match = "ip.src in $blocklist"
//	  log   = ["ip.src"]
//	}

var hclSetSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "elements"}, {Name: "file"}},
}

// set converts one set block. A set with an error is kept (with the
// elements that could be read), so that its uses are not reported as
// unknown sets; the error stops the run.
func (p *hclParser) set(b *hcl.Block) *rules.SetDecl {
	name := b.Labels[0]
	d := &rules.SetDecl{Name: name, NameSpan: p.span(unquotedRange(p.src, b.LabelRanges[0])), Span: p.span(b.DefRange)}
	if body, ok := b.Body.(*hclsyntax.Body); ok {
		d.Span = p.span(hcl.RangeBetween(b.TypeRange, body.SrcRange))
	}
	content, cdiags := b.Body.Content(hclSetSchema)
	p.report("", cdiags)
	elems, file := content.Attributes["elements"], content.Attributes["file"]
	switch {
	case elems != nil && file != nil:
		p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(file.NameRange),
			Message: fmt.Sprintf("set %q has both elements and a file", name),
			Hint:    "keep one: the elements inline, or a file of them"})
		d.Elems = p.setElems(elems)
	case file != nil:
		if text, rng, ok := p.stringValue("", file, `file = "blocklist.txt"`); ok {
			d.File, d.FileSpan = text, p.span(rng)
		}
	case elems != nil:
		d.Elems = p.setElems(elems)
	default:
		p.add(rules.Diagnostic{Severity: rules.Error, Span: d.NameSpan,
			Message: fmt.Sprintf("set %q has no elements attribute and no file", name),
			Hint:    `e.g. elements = ["192.0.2.1", "198.51.100.0/24"], or file = "blocklist.txt"`})
		d.Elems = []rules.SetElem{}
	}
	return d
}

// setElems reads the elements attribute: a list of values, each a quoted
// string (an address, a prefix, a range "lo..hi") or a number.
func (p *hclParser) setElems(a *hcl.Attribute) []rules.SetElem {
	const example = `elements = ["192.0.2.1", "198.51.100.0/24", 22]`
	tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(a.Expr.Range()),
			Message: "elements must be a list of values", Hint: "write them in brackets, e.g. " + example})
		return nil
	}
	out := []rules.SetElem{}
	for _, e := range tuple.Exprs {
		v, diags := e.Value(nil)
		rng := unquotedRange(p.src, e.Range())
		var text string
		switch {
		case diags.HasErrors():
			p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(e.Range()),
				Message: "a set element must be a quoted value or a number", Hint: example})
			continue
		case v.IsKnown() && !v.IsNull() && v.Type() == cty.Number:
			text = v.AsBigFloat().Text('f', -1)
		case v.IsKnown() && !v.IsNull() && v.Type() == cty.String:
			text = v.AsString()
		default:
			p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(e.Range()),
				Message: "a set element must be a quoted value or a number, not " + typeName(v), Hint: example})
			continue
		}
		lit := func(from, to int) *rules.Literal {
			t := text[from:to]
			return &rules.Literal{Kind: rules.SetLitKind(t), Text: t,
				Span: rules.Span{Start: p.pos(rng.Start.Byte + from), End: p.pos(rng.Start.Byte + to)}}
		}
		if lo, hi, ok := strings.Cut(text, ".."); ok {
			out = append(out, rules.SetElem{Lo: lit(0, len(lo)), Hi: lit(len(lo)+2, len(lo)+2+len(hi))})
			continue
		}
		out = append(out, rules.SetElem{Lo: lit(0, len(text))})
	}
	return out
}
