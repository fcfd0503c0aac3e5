package lang

import (
	"fmt"

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/hdrlog/hdrlog/rules"
)

// The volume statements: `count by … every …` (instead of log), `sample
// 1/N [by flow]` and `limit R/s [burst B]`. The checker (rules/volume.go)
// judges the values; here they keep their text and spans.

func (c *converter) volumeStatement(d *rules.RuleDecl, st *stmtNode, span rules.Span) bool {
	dup := func(kw string) { d.Dups = append(d.Dups, rules.Duplicate{Keyword: kw, Span: span}) }
	switch {
	case st.Count != nil:
		if d.Count != nil {
			dup("count")
			return true
		}
		cd := &rules.CountDecl{Span: span, Every: c.literal(st.Count.Every.Tokens[0])}
		for _, f := range st.Count.By {
			cd.By = append(cd.By, c.field(f))
		}
		if st.Count.Sum != nil {
			f := c.field(st.Count.Sum)
			cd.Sum = &f
		}
		if st.Count.Top != nil {
			cd.Top = c.literal(st.Count.Top.Tokens[0])
		}
		d.Count = cd
	case st.Sample != nil:
		if d.Sample != nil {
			dup("sample")
			return true
		}
		d.Sample = c.sample(st.Sample, span)
	case st.Limit != nil:
		if d.Limit != nil {
			dup("limit")
			return true
		}
		d.Limit = c.limit(st.Limit, span)
	default:
		return false
	}
	return true
}

func (c *converter) sample(n *sampleNode, span rules.Span) *rules.SampleDecl {
	sd := &rules.SampleDecl{One: c.literal(n.One.Tokens[0]), N: c.literal(n.N.Tokens[0]), Span: span}
	if n.By != nil {
		sd.By = c.literal(n.By.Tokens[0])
	}
	return sd
}

func (c *converter) limit(n *limitNode, span rules.Span) *rules.LimitDecl {
	ld := &rules.LimitDecl{Rate: c.literal(n.Rate.Tokens[0]), Unit: c.literal(n.Unit.Tokens[0]), Span: span}
	if n.Burst != nil {
		ld.Burst = c.literal(n.Burst.Tokens[0])
	}
	return ld
}

// volumeStatementError explains a syntax error in a count, sample or limit
// statement.
func volumeStatementError(stmt string, prev *lexer.Token, endOfStatement bool, found string,
	after func(hint, format string, args ...any) rules.Diagnostic) rules.Diagnostic {
	example := statementExamples[stmt]
	switch {
	case stmt == "count" && prev != nil && isKeyword(*prev, "count"):
		return after("e.g. `"+example+"`", `expected "by" after "count", found %s`, found)
	case stmt == "count" && prev != nil && (prev.Value == "by" || isPunct(*prev, ",")):
		return after("e.g. `"+example+"`", "expected a field name after %q, found %s", prev.Value, found)
	case stmt == "count" && prev != nil && prev.Value == "every":
		return after("a duration is a number and a unit, e.g. 10s, 1m, 500ms", `expected a duration after "every", found %s`, found)
	case stmt == "count" && endOfStatement:
		return after("end the key fields with the interval, e.g. `"+example+"`", "expected every DURATION in the count statement, found %s", found)
	case stmt == "count":
		return after("e.g. `"+example+" sum frame.len top 10`; separate the key fields with commas and end them with every DURATION", "unexpected %s in the count statement", found)
	}
	return after("e.g. `"+example+"`", fmt.Sprintf("unexpected %%s in the %s statement", stmt), found)
}
