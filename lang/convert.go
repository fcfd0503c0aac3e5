package lang

import (
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/hdrlog/hdrlog/rules"
)

// converter turns participle's parse tree into the rules syntax tree.
type converter struct {
	src   *source
	diags rules.Diagnostics
}

var cmpOps = map[string]rules.CmpOp{
	"==": rules.CmpEq, "eq": rules.CmpEq,
	"!=": rules.CmpNe, "ne": rules.CmpNe,
	"~=": rules.CmpAnyNe,
	"<":  rules.CmpLt, "lt": rules.CmpLt,
	"<=": rules.CmpLe, "le": rules.CmpLe,
	">": rules.CmpGt, "gt": rules.CmpGt,
	">=": rules.CmpGe, "ge": rules.CmpGe,
	"contains": rules.CmpContains,
	"matches":  rules.CmpMatches,
}

func (c *converter) rule(n *ruleNode) *rules.RuleDecl {
	d := &rules.RuleDecl{
		Name:     n.Name,
		NameSpan: c.src.tokenSpan(n.Tokens[1]),
		Span:     c.src.tokensSpan(n.Tokens),
	}
	for _, st := range n.Stmts {
		keyword := st.Tokens[0].Value
		span := c.src.tokensSpan(st.Tokens)
		dup := func() { d.Dups = append(d.Dups, rules.Duplicate{Keyword: keyword, Span: span}) }
		switch {
		case st.Hook != nil:
			if d.Hook != nil {
				dup()
				continue
			}
			d.Hook = &rules.HookDecl{Text: strings.Join(st.Hook.Words, " "), Span: c.src.tokensSpan(st.Hook.Tokens)}
			if p := st.Hook.Path; p != nil {
				if path, err := strconv.Unquote(*p); err == nil {
					d.Hook.Cgroup = path
				} else {
					d.Hook.Cgroup = strings.Trim(*p, `"`)
				}
			}
		case st.Match != nil:
			if d.Match != nil {
				dup()
				continue
			}
			d.Match = c.or(st.Match)
			d.MatchSpan = d.Match.ExprSpan()
		case st.Log != nil:
			if d.HasLog {
				dup()
				continue
			}
			d.HasLog = true
			d.LogSpan = span
			d.Log = make([]rules.FieldName, 0, len(st.Log.Fields))
			for _, f := range st.Log.Fields {
				d.Log = append(d.Log, c.field(f))
			}
		default:
			if !c.volumeStatement(d, st, span) {
				c.l7Statement(d, st, span)
			}
		}
	}
	return d
}

func (c *converter) field(f *fieldNode) rules.FieldName {
	fn := rules.FieldName{Name: f.Name, Span: c.src.tokenSpan(f.Tokens[0])}
	if f.Arg != "" {
		fn = rules.FieldName{Name: f.Arg, Span: c.src.tokenSpan(f.Tokens[2]), Func: f.Name, FuncSpan: c.src.tokensSpan(f.Tokens[:4])}
	}
	if f.Slice != nil {
		fn.Slice = c.slice(fn, f.Slice)
	}
	return fn
}

// or and and fold left: a || b || c is (a || b) || c.
func (c *converter) or(n *orNode) rules.Expr {
	e := c.and(n.Left)
	for _, r := range n.Rest {
		right := c.and(r)
		e = &rules.LogicalExpr{Op: rules.OpOr, Left: e, Right: right, Span: join(e, right)}
	}
	return e
}

func (c *converter) and(n *andNode) rules.Expr {
	e := c.unary(n.Left)
	for _, r := range n.Rest {
		right := c.unary(r)
		e = &rules.LogicalExpr{Op: rules.OpAnd, Left: e, Right: right, Span: join(e, right)}
	}
	return e
}

func join(a, b rules.Expr) rules.Span {
	return rules.Span{Start: a.ExprSpan().Start, End: b.ExprSpan().End}
}

func (c *converter) unary(n *unaryNode) rules.Expr {
	span := c.src.tokensSpan(n.Tokens)
	switch {
	case n.Not != nil:
		return &rules.NotExpr{X: c.unary(n.Not), Span: span}
	case n.Paren != nil:
		// The tree has no node for parentheses; the expression inside takes
		// their span, so that (a || b) && c covers its first "(".
		e := c.or(n.Paren)
		setSpan(e, span)
		return e
	}
	return c.test(n.Test)
}

func setSpan(e rules.Expr, span rules.Span) {
	switch e := e.(type) {
	case *rules.LogicalExpr:
		e.Span = span
	case *rules.NotExpr:
		e.Span = span
	case *rules.CompareExpr:
		e.Span = span
	case *rules.InExpr:
		e.Span = span
	case *rules.TestExpr:
		e.Span = span
	}
}

func (c *converter) test(n *testNode) rules.Expr {
	span := c.src.tokensSpan(n.Tokens)
	field := c.field(n.Field)
	quant, quantSpan := quantifiers[n.Quant], rules.Span{}
	if n.Quant != "" {
		quantSpan = c.src.tokenSpan(n.Tokens[0])
	}
	var mask *rules.Literal
	if n.Mask != nil {
		mask = c.literal(n.Mask.Tokens[0])
	}
	switch {
	case n.Op != nil:
		return &rules.CompareExpr{
			Quant: quant, QuantSpan: quantSpan,
			Field: field, Mask: mask,
			Op: cmpOps[n.Op.Op], OpSpan: c.src.tokenSpan(n.Op.Tokens[0]),
			Value: c.literal(n.Value.Tokens[0]),
			Span:  span,
		}
	case n.In:
		e := &rules.InExpr{Quant: quant, QuantSpan: quantSpan, Field: field, Mask: mask, Span: span, Elems: c.elems(n.Tokens, n.Elems)}
		if n.SetRef != "" {
			e.SetRef = n.SetRef[1:]
			e.SetRefSpan = c.src.tokenSpan(n.Tokens[len(n.Tokens)-1])
		}
		return e
	}
	if n.Quant != "" {
		c.diags = append(c.diags, rules.Diagnostic{
			Severity: rules.Error, Span: quantSpan,
			Message: n.Quant + " applies to a comparison, not to a bare field",
			Hint:    "compare the field, e.g. " + n.Quant + " vlan.id == 5; a bare field tests presence",
		})
	}
	return &rules.TestExpr{Field: field, Mask: mask, Span: span}
}

func (c *converter) elems(ts []lexer.Token, ns []*elemNode) []rules.SetElem {
	if es, ok := c.bulkElems(ts); ok {
		return es
	}
	out := []rules.SetElem{}
	for _, el := range ns {
		se := rules.SetElem{Lo: c.literal(el.Lo.Tokens[0])}
		if el.Hi != nil {
			se.Hi = c.literal(el.Hi.Tokens[0])
		}
		out = append(out, se)
	}
	return out
}

var quantifiers = map[string]rules.Quantifier{"": rules.QuantNone, "any": rules.QuantAny, "all": rules.QuantAll}

var litKinds = map[lexer.TokenType]rules.LitKind{
	tokNumber:    rules.LitNumber,
	tokDotted:    rules.LitDotted,
	tokColon:     rules.LitColon,
	tokString:    rules.LitString,
	tokRawString: rules.LitString,
	tokIdent:     rules.LitWord,
}

func (c *converter) literal(t lexer.Token) *rules.Literal {
	lit := &rules.Literal{Kind: litKinds[t.Type], Text: t.Value, Span: c.src.tokenSpan(t)}
	switch t.Type {
	case tokRawString:
		lit.Text = t.Value[2 : len(t.Value)-1]
	case tokString:
		text, diags := c.src.unquote(t)
		lit.Text = text
		c.diags = append(c.diags, diags...)
	}
	return lit
}
