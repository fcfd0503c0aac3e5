package lang

import (
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/hdrlog/hdrlog/rules"
)

// l7Statement converts the statements of L7 rules: ports, maxlen and
// unredact. Each may be given more than once (the checker rejects a
// protocol's ports given twice).
func (c *converter) l7Statement(d *rules.RuleDecl, st *stmtNode, span rules.Span) {
	switch {
	case st.Ports != nil:
		pd := rules.PortsDecl{Proto: st.Ports.Proto, ProtoSpan: c.src.tokenSpan(st.Ports.Tokens[0]), Span: span}
		for _, v := range st.Ports.Ports {
			pd.Ports = append(pd.Ports, c.literal(v.Tokens[0]))
		}
		d.Ports = append(d.Ports, pd)
	case st.MaxLen != nil:
		for _, it := range st.MaxLen.Items {
			d.MaxLen = append(d.MaxLen, rules.MaxLenDecl{Field: c.field(it.Field), Value: c.literal(it.Value.Tokens[0])})
		}
	case st.Unredact != nil:
		for _, f := range st.Unredact.Fields {
			d.Unredact = append(d.Unredact, c.field(f))
		}
	}
}

// statementKeywords start the statements of a rule.
var statementKeywords = []string{"hook", "match", "log", "ports", "maxlen", "unredact", "count", "sample", "limit"}

func init() {
	statementExamples["ports"] = "ports http 8081, 9000"
	statementExamples["maxlen"] = "maxlen http.request.uri 512"
	statementExamples["unredact"] = "unredact http.cookie"
	statementExamples["count"] = "count by ip.src, tcp.dstport every 10s"
	statementExamples["sample"] = "sample 1/100 by flow"
	statementExamples["limit"] = "limit 100/s burst 20"
}

// l7StatementError explains a syntax error in a ports, maxlen or unredact
// statement.
func l7StatementError(stmt string, prev, tok *lexer.Token, endOfStatement bool, found string,
	after func(hint, format string, args ...any) rules.Diagnostic) rules.Diagnostic {
	example := statementExamples[stmt]
	switch {
	case prev != nil && isKeyword(*prev, stmt) && stmt == "ports":
		return after("name the protocol (http, dns or tls), then its ports: `"+example+"`", `expected a protocol after "ports", found %s`, found)
	case prev != nil && isKeyword(*prev, stmt):
		return after("e.g. `"+example+"`", "expected a field name after %q, found %s", stmt, found)
	case prev != nil && isPunct(*prev, ",") && endOfStatement:
		return after("remove the trailing comma", `expected more after ",", found %s`, found)
	case endOfStatement:
		return after("e.g. `"+example+"`", "incomplete %s statement before %s", stmt, found)
	}
	return after("e.g. `"+example+"`; separate items with commas", "unexpected %s in the %s statement", found, stmt)
}
