package lang

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/rules"
)

// dumpFile writes a stable, indented text form of a syntax tree with the
// span of every node, for golden files.
func dumpFile(f *rules.File) string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %q\n", f.Name)
	for _, r := range f.Rules {
		fmt.Fprintf(&b, "rule %s %s name %s\n", r.Name, spanString(r.Span), spanString(r.NameSpan))
		if r.Hook != nil {
			fmt.Fprintf(&b, "  hook %q %s\n", r.Hook.Text, spanString(r.Hook.Span))
		}
		if r.Match != nil {
			fmt.Fprintf(&b, "  match %s\n", spanString(r.MatchSpan))
			dumpExpr(&b, r.Match, 4)
		}
		if r.HasLog {
			fmt.Fprintf(&b, "  log %s\n", spanString(r.LogSpan))
			for _, fn := range r.Log {
				fmt.Fprintf(&b, "    field %s %s\n", fn.Name, spanString(fn.Span))
			}
		}
		for _, d := range r.Dups {
			fmt.Fprintf(&b, "  duplicate %s %s\n", d.Keyword, spanString(d.Span))
		}
		for _, p := range r.Ports {
			fmt.Fprintf(&b, "  ports %s %s proto %s\n", p.Proto, spanString(p.Span), spanString(p.ProtoSpan))
			for _, l := range p.Ports {
				fmt.Fprintf(&b, "    port %s\n", litString(l))
			}
		}
		for _, m := range r.MaxLen {
			fmt.Fprintf(&b, "  maxlen %s %s %s\n", m.Field.Name, spanString(m.Field.Span), litString(m.Value))
		}
		for _, u := range r.Unredact {
			fmt.Fprintf(&b, "  unredact %s %s\n", u.Name, spanString(u.Span))
		}
	}
	for _, d := range f.Redact {
		fmt.Fprintf(&b, "redact %s %s %s\n", d.Kind, spanString(d.KindSpan), spanString(d.Span))
		for _, n := range d.Names {
			fmt.Fprintf(&b, "  %s\n", litString(n))
		}
	}
	return b.String()
}

func dumpExpr(b *strings.Builder, e rules.Expr, indent int) {
	pad := strings.Repeat(" ", indent)
	field := func(fn rules.FieldName, mask *rules.Literal) {
		fmt.Fprintf(b, "%s  field %s %s\n", pad, fn.Name, spanString(fn.Span))
		if fn.Func != "" {
			fmt.Fprintf(b, "%s  function %s %s\n", pad, fn.Func, spanString(fn.FuncSpan))
		}
		if mask != nil {
			fmt.Fprintf(b, "%s  mask %s\n", pad, litString(mask))
		}
	}
	quant := func(q rules.Quantifier, span rules.Span) {
		if q != rules.QuantNone {
			fmt.Fprintf(b, "%s  quantifier %s %s\n", pad, map[rules.Quantifier]string{rules.QuantAny: "any", rules.QuantAll: "all"}[q], spanString(span))
		}
	}
	switch e := e.(type) {
	case *rules.LogicalExpr:
		fmt.Fprintf(b, "%s%s %s\n", pad, e.Op, spanString(e.Span))
		dumpExpr(b, e.Left, indent+2)
		dumpExpr(b, e.Right, indent+2)
	case *rules.NotExpr:
		fmt.Fprintf(b, "%s! %s\n", pad, spanString(e.Span))
		dumpExpr(b, e.X, indent+2)
	case *rules.TestExpr:
		fmt.Fprintf(b, "%stest %s\n", pad, spanString(e.Span))
		field(e.Field, e.Mask)
	case *rules.CompareExpr:
		fmt.Fprintf(b, "%scompare %s %s op %s\n", pad, e.Op, spanString(e.Span), spanString(e.OpSpan))
		quant(e.Quant, e.QuantSpan)
		field(e.Field, e.Mask)
		fmt.Fprintf(b, "%s  value %s\n", pad, litString(e.Value))
	case *rules.InExpr:
		fmt.Fprintf(b, "%sin %s\n", pad, spanString(e.Span))
		quant(e.Quant, e.QuantSpan)
		field(e.Field, e.Mask)
		for _, el := range e.Elems {
			if el.Hi == nil {
				fmt.Fprintf(b, "%s  elem %s\n", pad, litString(el.Lo))
			} else {
				fmt.Fprintf(b, "%s  range %s .. %s\n", pad, litString(el.Lo), litString(el.Hi))
			}
		}
	default:
		fmt.Fprintf(b, "%s%T\n", pad, e)
	}
}

var litKindNames = map[rules.LitKind]string{
	rules.LitNumber: "number", rules.LitDotted: "dotted", rules.LitColon: "colon",
	rules.LitString: "string", rules.LitWord: "word",
}

func litString(l *rules.Literal) string {
	return fmt.Sprintf("%s %s %s", litKindNames[l.Kind], strconv.Quote(l.Text), spanString(l.Span))
}

func spanString(s rules.Span) string {
	return fmt.Sprintf("%d:%d-%d:%d", s.Start.Line, s.Start.Column, s.End.Line, s.End.Column)
}

// exprString prints e fully parenthesised, to test grouping.
func exprString(e rules.Expr) string {
	lhs := func(fn rules.FieldName, mask *rules.Literal) string {
		if mask != nil {
			return fn.Name + " & " + mask.Text
		}
		return fn.Name
	}
	switch e := e.(type) {
	case *rules.LogicalExpr:
		return "(" + exprString(e.Left) + " " + e.Op.String() + " " + exprString(e.Right) + ")"
	case *rules.NotExpr:
		return "(!" + exprString(e.X) + ")"
	case *rules.TestExpr:
		return lhs(e.Field, e.Mask)
	case *rules.CompareExpr:
		return lhs(e.Field, e.Mask) + " " + e.Op.String() + " " + e.Value.Text
	case *rules.InExpr:
		var elems []string
		for _, el := range e.Elems {
			if el.Hi != nil {
				elems = append(elems, el.Lo.Text+".."+el.Hi.Text)
			} else {
				elems = append(elems, el.Lo.Text)
			}
		}
		return lhs(e.Field, e.Mask) + " in {" + strings.Join(elems, ", ") + "}"
	}
	return fmt.Sprintf("%T", e)
}

// allSpans lists the span of every node of f, with what it is.
func allSpans(f *rules.File) map[string]rules.Span {
	out := map[string]rules.Span{}
	n := 0
	add := func(what string, s rules.Span) {
		n++
		out[fmt.Sprintf("%04d %s", n, what)] = s
	}
	var expr func(e rules.Expr)
	lit := func(l *rules.Literal) {
		if l != nil {
			add("literal "+l.Text, l.Span)
		}
	}
	expr = func(e rules.Expr) {
		add(fmt.Sprintf("%T", e), e.ExprSpan())
		switch e := e.(type) {
		case *rules.LogicalExpr:
			expr(e.Left)
			expr(e.Right)
		case *rules.NotExpr:
			expr(e.X)
		case *rules.TestExpr:
			add("field "+e.Field.Name, e.Field.Span)
			lit(e.Mask)
		case *rules.CompareExpr:
			if e.Quant != rules.QuantNone {
				add("quantifier", e.QuantSpan)
			}
			add("field "+e.Field.Name, e.Field.Span)
			add("op", e.OpSpan)
			lit(e.Mask)
			lit(e.Value)
		case *rules.InExpr:
			if e.Quant != rules.QuantNone {
				add("quantifier", e.QuantSpan)
			}
			add("field "+e.Field.Name, e.Field.Span)
			lit(e.Mask)
			for _, el := range e.Elems {
				lit(el.Lo)
				lit(el.Hi)
			}
		}
	}
	for _, d := range f.Redact {
		add("redact kind", d.KindSpan)
		for _, n := range d.Names {
			lit(n)
		}
	}
	for _, r := range f.Rules {
		add("rule", r.Span)
		add("name", r.NameSpan)
		if r.Hook != nil {
			add("hook", r.Hook.Span)
		}
		if r.Match != nil {
			add("match", r.MatchSpan)
			expr(r.Match)
		}
		if r.HasLog {
			add("log", r.LogSpan)
		}
		for _, fn := range r.Log {
			add("logged "+fn.Name, fn.Span)
		}
		for _, d := range r.Dups {
			add("dup", d.Span)
		}
	}
	return out
}

// spanError checks that s lies within src (named file) and that its line
// and column agree with its offset.
func spanError(file string, src []byte, s rules.Span) error {
	lines := strings.Count(string(src), "\n") + 1
	for _, p := range []rules.Pos{s.Start, s.End} {
		if p.File != file {
			return fmt.Errorf("position %v names file %q, want %q", p, p.File, file)
		}
		if p.Line < 1 || p.Line > lines || p.Offset < 0 || p.Offset > len(src) || p.Column < 1 {
			return fmt.Errorf("position %v (offset %d) outside the input (%d lines, %d bytes)", p, p.Offset, lines, len(src))
		}
		lineStart := strings.LastIndexByte(string(src[:p.Offset]), '\n') + 1
		if line := strings.Count(string(src[:p.Offset]), "\n") + 1; line != p.Line || p.Offset-lineStart+1 != p.Column {
			return fmt.Errorf("position %v does not match offset %d (line %d, column %d)", p, p.Offset, line, p.Offset-lineStart+1)
		}
	}
	if s.End.Offset < s.Start.Offset {
		return fmt.Errorf("span %v-%v ends before it starts", s.Start, s.End)
	}
	return nil
}
