package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hdrlog/hdrlog/rules"
)

// The DSL's redact statement in HCL (rules/redact.go):
//
//	redact "header" {
//	  names = ["X-Session-Key"]
//	}
//	redact "query" {
//	  names = ["session_key", "otp"]
//	}

var hclRedactSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "names", Required: true}}}

// redact converts one redact block; nil when it has an error.
func (p *hclParser) redact(b *hcl.Block) *rules.RedactDecl {
	const example = `redact "header" { names = ["X-Session-Key"] }`
	d := &rules.RedactDecl{Kind: b.Labels[0], KindSpan: p.span(unquotedRange(p.src, b.LabelRanges[0])), Span: p.span(b.DefRange)}
	content, cdiags := b.Body.Content(hclRedactSchema)
	p.report("", cdiags)
	a := content.Attributes["names"]
	if a == nil {
		return nil
	}
	tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(a.Expr.Range()),
			Message: "names must be a list of quoted names", Hint: example})
		return nil
	}
	for _, e := range tuple.Exprs {
		v, diags := e.Value(nil)
		if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(e.Range()),
				Message: "a name is a quoted string", Hint: example})
			return nil
		}
		d.Names = append(d.Names, &rules.Literal{Kind: rules.LitString, Text: v.AsString(), Span: p.span(unquotedRange(p.src, e.Range()))})
	}
	return d
}
