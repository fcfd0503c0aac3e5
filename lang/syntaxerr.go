package lang

import (
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/hdrlog/hdrlog/rules"
)

// Participle reports where a parse stopped and which grammar node it was in,
// in grammar terms ("unexpected token "}" (expected <ident>)"). People need
// to hear it in terms of the rule they wrote, so syntaxError looks at the
// tokens around the failure instead: the grammar is LL(1) and participle
// stops at the first token that cannot continue the text, so what the token
// before it is (and which statement, parenthesis or set we are in) says what
// was expected.

type parseMode int

const (
	modeFile parseMode = iota // tokens before the first rule
	modeRule                  // one rule
	modeExpr                  // a standalone match expression (ParseExpr)
)

// syntaxContext is where the parse stood just before the failing token.
type syntaxContext struct {
	name   string      // the rule's name, when written
	body   bool        // inside the rule's braces
	open   lexer.Token // the rule's "{"
	closed bool        // after the rule's "}"
	stmt   string      // the statement being parsed: "hook", "match", "log" or ""
	parens []lexer.Token
	set    bool // inside the braces of a set
}

func scanContext(mode parseMode, ts []lexer.Token) syntaxContext {
	var c syntaxContext
	if mode == modeExpr {
		c.stmt = "match"
	}
	for j, t := range ts {
		switch {
		case mode == modeRule && j == 1 && t.Type == tokIdent:
			c.name = t.Value
		case mode == modeRule && j == 2 && isPunct(t, "{"):
			c.body, c.open = true, t
		case mode == modeRule && (!c.body || c.closed):
		case isKeyword(t, statementKeywords...):
			c.stmt, c.parens, c.set = t.Value, nil, false
		case isPunct(t, "("):
			c.parens = append(c.parens, t)
		case isPunct(t, ")"):
			if len(c.parens) > 0 {
				c.parens = c.parens[:len(c.parens)-1]
			}
		case isPunct(t, "{") && j > 0 && isKeyword(ts[j-1], "in"):
			c.set = true
		case isPunct(t, "}"):
			if c.set {
				c.set = false
			} else if mode == modeRule {
				c.closed, c.stmt = true, ""
			}
		}
	}
	return c
}

var (
	logicalOps = []string{"&&", "||", "!", "(", "and", "or", "not"}
	compareOps = []string{"==", "!=", "~=", "<", "<=", ">", ">=", "eq", "ne", "lt", "le", "gt", "ge", "contains", "matches"}
)

func isOneOf(t lexer.Token, values []string) bool {
	if t.Type != tokPunct && t.Type != tokKeyword {
		return false
	}
	for _, v := range values {
		if t.Value == v {
			return true
		}
	}
	return false
}

// statementExamples shows each statement without the "=" people bring from HCL.
var statementExamples = map[string]string{
	"hook":  "hook tc ingress",
	"match": "match tcp.dstport == 22",
	"log":   "log ip.src, ip.dst",
}

// syntaxError explains why the parse of seg stopped at seg[i] (i == len(seg):
// at the end of the piece, where next, if not nil, is the next rule).
func (s *source) syntaxError(mode parseMode, seg []lexer.Token, i int, next *lexer.Token) rules.Diagnostic {
	c := scanContext(mode, seg[:i])
	var prev, tok *lexer.Token
	if i > 0 {
		prev = &seg[i-1]
	}
	if i < len(seg) {
		tok = &seg[i]
	} else if next != nil {
		tok = next
	}
	end := tok == nil // the end of the input
	found := s.describe(tok, mode)
	span := s.failSpan(tok, prev)
	diag := func(hint, format string, args ...any) rules.Diagnostic {
		return rules.Diagnostic{Severity: rules.Error, Span: span, Message: fmt.Sprintf(format, args...), Hint: hint}
	}
	// "expected X after Y" points just after Y when the token found is on a
	// later line: the mistake is at the end of Y's line, not at the start of
	// the next statement.
	foundAfter, spanAfter := found, span
	if tok != nil && prev != nil {
		prevEnd := prev.Pos.Offset + len(prev.Value)
		if line := s.pos(tok.Pos.Offset).Line; line > s.pos(prevEnd).Line {
			foundAfter = fmt.Sprintf("%s on line %d", found, line)
			spanAfter = s.span(prevEnd, prevEnd)
		}
	}
	after := func(hint, format string, args ...any) rules.Diagnostic {
		d := diag(hint, format, args...)
		d.Span = spanAfter
		return d
	}
	is := func(t *lexer.Token, values ...string) bool {
		return t != nil && isOneOf(*t, values)
	}
	kw := func(t *lexer.Token, words ...string) bool { return t != nil && isKeyword(*t, words...) }
	endOfStatement := end || is(tok, "}") || kw(tok, append(statementKeywords, "rule")...)

	// Operators carried over from other languages.
	switch {
	case is(tok, "=") && kw(prev, statementKeywords...):
		return diag(fmt.Sprintf("statements take no \"=\": write `%s`", statementExamples[prev.Value]),
			`unexpected "=" after %q`, prev.Value)
	case is(tok, "="):
		return diag("use == to compare", `unexpected "="`)
	case is(tok, "|"):
		return diag("use || (or `or`) to join tests", `unexpected "|"`)
	}

	switch {
	case mode == modeFile:
		hint := "a rule file is a sequence of `rule NAME { ... }` blocks"
		if kw(tok, "hook", "match", "log") {
			hint = "statements go inside a rule: `rule NAME { " + tok.Value + " ... }`"
		}
		return diag(hint, `expected "rule", found %s`, found)
	case mode == modeRule && i == 1:
		hint := "a rule name is a letter or _ followed by letters, digits or _"
		if !end && tok.Type == tokKeyword {
			hint = fmt.Sprintf("%q is a reserved word", tok.Value)
		}
		return after(hint, `expected a rule name after "rule", found %s`, foundAfter)
	case mode == modeRule && i == 2:
		return after("a rule's statements go in braces: `rule NAME { match ... log ... }`",
			`expected "{" after the rule name %q, found %s`, c.name, foundAfter)
	case prev == nil && mode == modeExpr:
		return after(fieldHint(tok), "expected a match expression, found %s", foundAfter)
	case prev == nil:
		return diag("", "unexpected %s", found)
	}

	switch {
	case kw(prev, "hook"):
		hint := "hooks are: xdp, tc ingress, tc egress"
		if !end && tok.Type == tokString {
			hint = "write the hook without quotes; " + hint
		}
		return after(hint, `expected a hook after "hook", found %s`, foundAfter)
	case kw(prev, "log"):
		return after(fieldHintLog(tok), `expected a field to log after "log", found %s`, foundAfter)
	case is(prev, ",") && c.stmt == "log" && !c.set:
		if endOfStatement {
			return after("remove the trailing comma", `expected a field name after ",", found %s`, foundAfter)
		}
		return after(fieldHintLog(tok), `expected a field name after ",", found %s`, foundAfter)
	case kw(prev, "match"):
		return after(fieldHint(tok), `expected a match expression after "match", found %s`, foundAfter)
	case is(prev, logicalOps...):
		return after(fieldHint(tok), "expected a field name after %q, found %s", prev.Value, foundAfter)
	case is(prev, compareOps...):
		hint := `a value is a number (22, 0x16), an address (10.0.0.0/8, fe80::1, 00:11:22:33:44:55), a "string" or a word (true)`
		if is(tok, "{") {
			hint = "to test against a set, write `in {...}`, e.g. tcp.dstport in {22, 2222}"
		}
		return after(hint, "expected a value after %q, found %s", prev.Value, foundAfter)
	case is(prev, "&"):
		hint := "a mask is a number, e.g. tcp.flags & 0x12"
		if !end && (tok.Type == tokIdent || is(tok, "!", "(", "not")) {
			hint = "to join tests use && (a single & tests bits, e.g. tcp.flags & 0x12)"
		}
		return after(hint, `expected a mask after "&", found %s`, foundAfter)
	case is(prev, "in"):
		return after("write the set in braces, e.g. tcp.dstport in {22, 80, 443}", `expected "{" after "in", found %s`, foundAfter)
	case is(prev, ".."):
		return after("a range is written lo..hi, e.g. 1024..65535", `expected a value after "..", found %s`, foundAfter)
	case c.set && is(prev, "{"):
		return after("e.g. {22, 80, 1024..65535}", `expected a value or "}" after "{", found %s`, foundAfter)
	case c.set && is(prev, ","):
		if is(tok, "}") {
			return after("remove the trailing comma", `expected a value after ",", found %s`, foundAfter)
		}
		return after("e.g. {22, 80, 1024..65535}", `expected a value after ",", found %s`, foundAfter)
	case c.set:
		hint := "separate the values with commas, e.g. {22, 80, 1024..65535}"
		if endOfStatement {
			hint = `close the set with "}"`
		}
		return after(hint, `expected "," or "}" in the set, found %s`, foundAfter)
	case c.stmt == "match":
		if d, ok := s.matchError(mode, c, seg, i, tok, found, diag); ok {
			return d
		}
	case c.stmt == "hook" && !endOfStatement:
		return diag("hooks are: xdp, tc ingress, tc egress", "unexpected %s in the hook statement", found)
	case c.stmt == "ports" || c.stmt == "maxlen" || c.stmt == "unredact":
		return l7StatementError(c.stmt, prev, tok, endOfStatement, foundAfter, after)
	case c.stmt == "count" || c.stmt == "sample" || c.stmt == "limit":
		return volumeStatementError(c.stmt, prev, endOfStatement, foundAfter, after)
	case c.stmt == "log" && !endOfStatement:
		switch {
		case tok.Type == tokIdent:
			return diag("separate the fields with commas, e.g. `log ip.src, ip.dst`", `expected "," between logged fields, found %s`, found)
		case is(tok, "&&", "||", "and", "or", "==", "!=", "(", "!", "not", "in"):
			return diag("log takes field names only; conditions go in the match statement", "unexpected %s in the log statement", found)
		}
		return diag("log takes field names separated by commas, e.g. `log ip.src, ip.dst`", "unexpected %s in the log statement", found)
	}

	switch {
	case mode == modeRule && c.closed:
		hint := "statements go inside the rule's braces"
		if is(tok, "}") {
			hint = `remove it: the rule is already closed`
		}
		return diag(hint, "unexpected %s after the end of rule %q", found, c.name)
	case mode == modeRule && c.body && (end || kw(tok, "rule")):
		hint := `add "}" after the rule's last statement`
		if !end {
			hint = fmt.Sprintf(`add "}" before the next rule (line %d)`, s.pos(tok.Pos.Offset).Line)
		}
		d := diag(hint, `rule %q is not closed: missing "}"`, c.name)
		d.Span = s.tokenSpan(c.open)
		return d
	case mode == modeRule && c.body:
		hint := "a rule holds hook, match and log statements"
		if tok.Type == tokIdent || isValue(*tok) || is(tok, "(", "!", "not") {
			hint = "start a match expression with `match`, e.g. `match tcp.dstport == 22`"
		}
		return diag(hint, `expected hook, match, log or "}", found %s`, found)
	}
	return diag("", "unexpected %s", found)
}

// matchError explains a failure after a complete operand of a match
// expression: what may follow is an operator, a ")" or the next statement.
func (s *source) matchError(mode parseMode, c syntaxContext, seg []lexer.Token, i int, tok *lexer.Token, found string,
	diag func(hint, format string, args ...any) rules.Diagnostic) (rules.Diagnostic, bool) {
	unclosed := func() (rules.Diagnostic, bool) {
		if len(c.parens) == 0 {
			return rules.Diagnostic{}, false
		}
		hint := `add ")" at the end of the expression`
		if tok != nil {
			hint = fmt.Sprintf(`add ")" before %s`, found)
		}
		d := diag(hint, `unbalanced parentheses: "(" is not closed`)
		d.Span = s.tokenSpan(c.parens[len(c.parens)-1])
		return d, true
	}
	if tok == nil {
		return unclosed()
	}
	prev := seg[i-1]
	// The previous token is a field (not a value) when no comparison
	// operator or mask operator precedes it.
	prevIsField := prev.Type == tokIdent && (i < 2 || !isOneOf(seg[i-2], compareOps) && !isPunct(seg[i-2], "&"))
	switch {
	case isPunct(*tok, ")") && len(c.parens) == 0:
		return diag(`remove it, or add the matching "(" before it`, `unbalanced parentheses: ")" has no matching "("`), true
	case prevIsField && isValue(*tok):
		return diag("e.g. tcp.dstport == 22; the operators are == != ~= < <= > >= contains matches in",
			"expected a comparison operator between %q and %s", prev.Value, found), true
	case prevIsField && isPunct(*tok, "{"):
		return diag("test membership with in, e.g. tcp.dstport in {22, 80}", `expected "in" before "{"`), true
	case tok.Type == tokIdent || isValue(*tok) || isPunct(*tok, "(", "!") || isKeyword(*tok, "not"):
		hint := "join tests with && (and) or || (or)"
		if w := strings.ToLower(tok.Value); tok.Type == tokIdent && keywords[w] {
			hint = fmt.Sprintf("operators are lower case: write %s", w)
		}
		return diag(hint, "expected && or || before %s", found), true
	case len(c.parens) > 0:
		return unclosed()
	case mode == modeRule && (isPunct(*tok, "}") || isKeyword(*tok, append(statementKeywords, "rule")...)):
		return rules.Diagnostic{}, false // the end of the statement: not a match problem
	}
	hint := "join tests with && (and) or || (or)"
	if isPunct(*tok, "..") {
		hint = "ranges are written in sets, e.g. tcp.dstport in {1024..65535}"
	}
	return diag(hint, "unexpected %s in the match expression", found), true
}

// fieldHint helps where a test must start.
func fieldHint(tok *lexer.Token) string {
	switch {
	case tok == nil || isPunct(*tok, "}"):
		return "e.g. tcp.dstport == 22, or a protocol name such as tcp"
	case isValue(*tok):
		return "a test starts with a field name, e.g. tcp.dstport == 22"
	case tok.Type == tokKeyword && !keywordStartsStatement(tok.Value):
		return fmt.Sprintf("%q is a reserved word, not a field name", tok.Value)
	case isPunct(*tok, ")"):
		return "the parentheses are empty or end too early"
	}
	return "e.g. tcp.dstport == 22, or a protocol name such as tcp"
}

func fieldHintLog(tok *lexer.Token) string {
	if tok != nil && tok.Type == tokKeyword && !keywordStartsStatement(tok.Value) {
		return fmt.Sprintf("%q is a reserved word, not a field name", tok.Value)
	}
	return "name the fields to log, e.g. `log ip.src, ip.dst`"
}

func keywordStartsStatement(w string) bool {
	return w == "rule" || isKeyword(lexer.Token{Type: tokKeyword, Value: w}, statementKeywords...)
}

// describe names a token for a message.
func (s *source) describe(t *lexer.Token, mode parseMode) string {
	switch {
	case t == nil && mode == modeExpr:
		return "the end of the expression"
	case t == nil:
		return "the end of the file"
	case t.Type == tokString || t.Type == tokRawString:
		return "string " + shorten(t.Value)
	}
	return `"` + shorten(t.Value) + `"`
}

func shorten(v string) string {
	const max = 32
	if len(v) <= max {
		return v
	}
	cut := max
	for cut > 0 && !utf8RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// failSpan is the token where the parse stopped, or, at the end of the
// input, the empty span just after the last token.
func (s *source) failSpan(tok, prev *lexer.Token) rules.Span {
	switch {
	case tok != nil:
		return s.tokenSpan(*tok)
	case prev != nil:
		end := prev.Pos.Offset + len(prev.Value)
		return s.span(end, end)
	}
	return s.span(0, 0)
}
