package rules

import (
	"strings"
)

// Comparisons between two fields (ip.src == ip.dst, tcp.srcport >
// tcp.dstport), as in Wireshark: both sides must have the same type (any
// two integers compare), and the comparison is false when either side is
// absent. A field with several occurrences (ip.addr, vlan.id) stands for
// any of them with ==, and with != for "every pair of present occurrences
// differs" (Wireshark's all-not-equal); the quantifiers any and all and ~=
// choose.

// fieldOperand reports whether the value of a comparison names a field: a
// bare word that is a catalogue field (with an optional layer suffix), a
// Wireshark field hdrlog does not offer, or a dotted name under a protocol's
// name (a misspelt field). Other words stay values (true, false, and the
// unquoted strings the checker explains).
func (c *checker) fieldOperand(lit *Literal) (FieldName, bool) {
	if lit == nil || lit.Kind != LitWord {
		return FieldName{}, false
	}
	name := lit.Text
	if i := strings.IndexAny(name, "#["); i >= 0 {
		name = name[:i]
	}
	if _, ok := LookupField(name); !ok {
		// A dotted word under a protocol's name is a field, misspelt or not
		// offered: resolving it says which, with a hint.
		proto, _, dotted := strings.Cut(name, ".")
		p, isProto := LookupField(proto)
		if !dotted || !(isProto && p.Type == TypeProto) && !IsWiresharkField(name) {
			return FieldName{}, false
		}
	}
	return FieldName{Name: lit.Text, Span: lit.Span}, true
}

func (c *checker) compareFields(e *CompareExpr, f *Field, layer int, rhs FieldName, all bool) Pred {
	g, glayer, ok := c.fieldForValue(rhs)
	if !ok {
		return &PredConst{}
	}
	switch {
	case e.Field.Func != "":
		c.errorf(e.Field.FuncSpan, "compare the field itself with the other field", "%s() cannot be compared with another field", e.Field.Func)
		return &PredConst{}
	case e.Mask != nil:
		c.errorf(e.Mask.Span, "a mask applies to a comparison with a value, e.g. tcp.flags & 0x12 == 0x12", "a masked field cannot be compared with another field")
		return &PredConst{}
	case f.Type != g.Type:
		c.errorf(Span{Start: e.Field.Span.Start, End: rhs.Span.End},
			"Wireshark compares two fields only when they have the same type",
			"%s is %s and %s is %s: they cannot be compared", f.Name, aType(f.Type), g.Name, aType(g.Type))
		return &PredConst{}
	case f.Type == TypeString:
		c.errorf(rhs.Span, "compare each with a literal string", "hdrlog does not compare two string fields")
		return &PredConst{}
	}
	switch e.Op {
	case CmpContains, CmpMatches:
		c.errorf(e.OpSpan, "compare two fields with ==, !=, <, <=, > or >=", "%s does not apply to two fields", e.Op)
		return &PredConst{}
	case CmpLt, CmpLe, CmpGt, CmpGe:
		if f.Type == TypeBool {
			c.errorf(e.OpSpan, "compare booleans with == or !=", "%s is a boolean; %s does not apply", f.Name, e.Op)
			return &PredConst{}
		}
	}
	left, right := occurrences(f, layer), occurrences(g, glayer)
	mk := func(l, r FieldRef) Pred { return &PredFieldCompare{Left: l, Right: r, Op: e.Op} }
	if !all {
		or := &PredOr{}
		for _, l := range left {
			for _, r := range right {
				or.Terms = append(or.Terms, mk(l, r))
			}
		}
		if len(or.Terms) == 1 {
			return or.Terms[0]
		}
		return or
	}
	// All (and all not equal): the first occurrence of each side is
	// present, and every pair of present occurrences satisfies the
	// operator. Inner layers count only when present; both fields of an
	// either-direction pair are present together.
	optional := func(f *Field, i int) bool { return i > 0 && !f.IsEither() }
	and := &PredAnd{}
	if len(left) > 1 {
		and.Terms = append(and.Terms, &PredExists{Ref: left[0]})
	}
	if len(right) > 1 {
		and.Terms = append(and.Terms, &PredExists{Ref: right[0]})
	}
	for i, l := range left {
		for j, r := range right {
			var term Pred = mk(l, r)
			var absent []Pred
			if optional(f, i) {
				absent = append(absent, &PredNot{X: &PredExists{Ref: l}})
			}
			if optional(g, j) {
				absent = append(absent, &PredNot{X: &PredExists{Ref: r}})
			}
			if len(absent) > 0 {
				term = &PredOr{Terms: append(absent, term)}
			}
			and.Terms = append(and.Terms, term)
		}
	}
	if len(and.Terms) == 1 {
		return and.Terms[0]
	}
	return and
}
