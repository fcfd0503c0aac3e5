package lang

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hdrlog/hdrlog/rules"
)

// The L7 attributes of a rule block, the DSL's ports, maxlen and unredact
// statements:
//
//	ports    = { http = [8081, 9000], dns = [5353] }
//	maxlen   = { "http.request.uri" = 512, "http.header.X-Request-Id" = 32 }
//	unredact = ["http.cookie"]
func (p *hclParser) l7Attributes(rule string, content *hcl.BodyContent, d *rules.RuleDecl) {
	if a := content.Attributes["ports"]; a != nil {
		for _, item := range p.object(rule, a, `ports = { http = [8081, 9000] }`) {
			key, keySpan, ok := p.objectKey(rule, item.KeyExpr, false)
			if !ok {
				continue
			}
			pd := rules.PortsDecl{Proto: key, ProtoSpan: keySpan, Span: p.span(hcl.RangeBetween(item.KeyExpr.Range(), item.ValueExpr.Range()))}
			tuple, isTuple := item.ValueExpr.(*hclsyntax.TupleConsExpr)
			if !isTuple {
				p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(item.ValueExpr.Range()), Rule: rule,
					Message: "the ports of " + key + " must be a list of numbers", Hint: `e.g. ports = { http = [8081, 9000] }`})
				continue
			}
			for _, e := range tuple.Exprs {
				if lit, ok := p.number(rule, e, "a port"); ok {
					pd.Ports = append(pd.Ports, lit)
				}
			}
			d.Ports = append(d.Ports, pd)
		}
	}
	if a := content.Attributes["maxlen"]; a != nil {
		for _, item := range p.object(rule, a, `maxlen = { "http.request.uri" = 512 }`) {
			key, keySpan, ok := p.objectKey(rule, item.KeyExpr, true)
			if !ok {
				continue
			}
			if lit, ok := p.number(rule, item.ValueExpr, "a length"); ok {
				d.MaxLen = append(d.MaxLen, rules.MaxLenDecl{Field: rules.FieldName{Name: key, Span: keySpan}, Value: lit})
			}
		}
	}
	if a := content.Attributes["unredact"]; a != nil {
		if _, ok := a.Expr.(*hclsyntax.TupleConsExpr); !ok {
			p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(a.Expr.Range()), Rule: rule,
				Message: "unredact must be a list of field names", Hint: `write the names in quotes, in brackets, e.g. unredact = ["http.cookie"]`})
		} else {
			d.Unredact = append(d.Unredact, p.log(rule, a)...)
		}
	}
}

// object returns the items of an object attribute, or reports it.
func (p *hclParser) object(rule string, a *hcl.Attribute, example string) []hclsyntax.ObjectConsItem {
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(a.Expr.Range()), Rule: rule,
			Message: a.Name + " must be an object", Hint: "e.g. " + example})
		return nil
	}
	return obj.Items
}

// objectKey reads a key: a bare word, or (for field names, which have dots)
// a quoted string.
func (p *hclParser) objectKey(rule string, e hcl.Expression, field bool) (string, rules.Span, bool) {
	if w := hcl.ExprAsKeyword(e); w != "" && !field {
		return w, p.span(e.Range()), true
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		hint := `write the protocol as a word: http, dns or tls`
		if field {
			hint = `write the field name in quotes: "http.request.uri"`
		}
		p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(e.Range()), Rule: rule, Message: "invalid key", Hint: hint})
		return "", rules.Span{}, false
	}
	return v.AsString(), p.span(unquotedRange(p.src, e.Range())), true
}

// number reads a whole number as a literal the checker validates.
func (p *hclParser) number(rule string, e hcl.Expression, what string) (*rules.Literal, bool) {
	v, diags := e.Value(nil)
	if !diags.HasErrors() && !v.IsNull() && v.IsKnown() && v.Type() == cty.Number {
		if i, acc := v.AsBigFloat().Int(nil); acc == big.Exact {
			return &rules.Literal{Kind: rules.LitNumber, Text: i.String(), Span: p.span(e.Range())}, true
		}
	}
	p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(e.Range()), Rule: rule,
		Message: fmt.Sprintf("%s is a whole number, not %s", what, typeName(v)), Hint: "write it without quotes, e.g. 8081"})
	return nil, false
}
