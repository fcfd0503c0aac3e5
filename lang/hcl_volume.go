package lang

import (
	"fmt"

	"github.com/alecthomas/participle/v2"
	"github.com/hashicorp/hcl/v2"

	"github.com/hdrlog/hdrlog/rules"
)

// The volume attributes of a rule block, with the DSL's words:
//
//	count  = { by = ["ip.src", "tcp.dstport"], every = "10s", sum = "frame.len", top = 10 }
//	sample = "1/100 by flow"
//	limit  = "100/s burst 20"
//
// sample and limit are read by the DSL's own grammar, from the string.
func (p *hclParser) volumeAttributes(rule string, content *hcl.BodyContent, d *rules.RuleDecl) {
	if a := content.Attributes["count"]; a != nil {
		p.countAttribute(rule, a, d)
	}
	if a := content.Attributes["sample"]; a != nil {
		if n, span, ok := parseClause(p, rule, a, sampleParser, `sample = "1/100 by flow"`); ok {
			c := &converter{src: n.src}
			d.Sample = c.sample(n.node, span)
		}
	}
	if a := content.Attributes["limit"]; a != nil {
		if n, span, ok := parseClause(p, rule, a, limitParser, `limit = "100/s burst 20"`); ok {
			c := &converter{src: n.src}
			d.Limit = c.limit(n.node, span)
		}
	}
}

func (p *hclParser) countAttribute(rule string, a *hcl.Attribute, d *rules.RuleDecl) {
	const example = `count = { by = ["ip.src"], every = "10s" }`
	cd := &rules.CountDecl{Span: p.span(a.Range)}
	for _, item := range p.object(rule, a, example) {
		key, keySpan, ok := p.objectKey(rule, item.KeyExpr, false)
		if !ok {
			continue
		}
		value := &hcl.Attribute{Name: "count." + key, Expr: item.ValueExpr, Range: item.ValueExpr.Range()}
		switch key {
		case "by":
			cd.By = p.log(rule, value)
		case "every":
			if text, rng, ok := p.stringValue(rule, value, `every = "10s"`); ok {
				cd.Every = &rules.Literal{Kind: rules.LitNumber, Text: text, Span: p.span(rng)}
			}
		case "sum":
			if text, rng, ok := p.stringValue(rule, value, `sum = "frame.len"`); ok {
				cd.Sum = &rules.FieldName{Name: text, Span: p.span(rng)}
			}
		case "top":
			if lit, ok := p.number(rule, item.ValueExpr, "top"); ok {
				cd.Top = lit
			}
		default:
			p.add(rules.Diagnostic{Severity: rules.Error, Span: keySpan, Rule: rule,
				Message: fmt.Sprintf("unknown count setting %q", key), Hint: "count takes by, every, sum and top, e.g. " + example})
		}
	}
	switch {
	case len(cd.By) == 0:
		p.add(rules.Diagnostic{Severity: rules.Error, Span: cd.Span, Rule: rule,
			Message: "count needs the fields to count by", Hint: "e.g. " + example})
	case cd.Every == nil:
		p.add(rules.Diagnostic{Severity: rules.Error, Span: cd.Span, Rule: rule,
			Message: "count needs an interval", Hint: "e.g. " + example})
	default:
		d.Count = cd
	}
}

type parsedClause[T any] struct {
	node *T
	src  *source
}

// parseClause reads a sample or limit string with the DSL's grammar, its
// spans in the file.
func parseClause[T any](p *hclParser, rule string, a *hcl.Attribute, parser *participle.Parser[T], example string) (parsedClause[T], rules.Span, bool) {
	text, rng, ok := p.stringValue(rule, a, example)
	if !ok {
		return parsedClause[T]{}, rules.Span{}, false
	}
	start := p.pos(rng.Start.Byte)
	s := newSource(p.file, []byte(text), start)
	toks, diags := s.lex()
	if !diags.HasErrors() {
		n, err := parser.ParseFromLexer(upgrade(toks, s.eof(nil)))
		if err == nil {
			return parsedClause[T]{node: n, src: s}, p.span(rng), true
		}
	}
	p.add(rules.Diagnostic{Severity: rules.Error, Span: p.span(rng), Rule: rule,
		Message: fmt.Sprintf("invalid %s %q", a.Name, text), Hint: "e.g. " + example})
	return parsedClause[T]{}, rules.Span{}, false
}
