package lang

import (
	"fmt"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/hdrlog/hdrlog/rules"
)

// A rule set's redact statement (rules/redact.go), outside rules:
//
//	redact header "X-Session-Key", "X-Tenant-Secret"
//	redact query session_key, "otp"
//
// Names are words or quoted strings (a header name with '-' is quoted).

// parseRedact parses the tokens of one redact statement; next is the token
// that follows them.
func (s *source) parseRedact(seg []lexer.Token, next *lexer.Token) (*rules.RedactDecl, rules.Diagnostics) {
	if spoiled(seg) {
		return nil, nil
	}
	const hint = `e.g. redact header "X-Session-Key", or redact query session_key`
	fail := func(i int, what string) (*rules.RedactDecl, rules.Diagnostics) {
		var tok, prev *lexer.Token
		if i < len(seg) {
			tok = &seg[i]
		} else if next != nil {
			tok = next
		}
		if i > 0 {
			prev = &seg[i-1]
		}
		return nil, rules.Diagnostics{{Severity: rules.Error, Span: s.failSpan(tok, prev),
			Message: fmt.Sprintf("expected %s, found %s", what, s.describe(tok, modeRule)), Hint: hint}}
	}
	if len(seg) < 2 || seg[1].Type != tokIdent || seg[1].Value != "header" && seg[1].Value != "query" {
		return fail(1, "header or query after redact")
	}
	c := &converter{src: s}
	d := &rules.RedactDecl{Kind: seg[1].Value, KindSpan: s.tokenSpan(seg[1]), Span: s.tokensSpan(seg)}
	for i := 2; ; i++ {
		if i >= len(seg) || seg[i].Type != tokIdent && seg[i].Type != tokString {
			return fail(i, "a "+d.Kind+" name (a word or a quoted string)")
		}
		d.Names = append(d.Names, c.literal(seg[i]))
		i++
		if i == len(seg) {
			break
		}
		if seg[i].Type != tokPunct || seg[i].Value != "," {
			return fail(i, `"," or the end of the redact statement`)
		}
	}
	return d, c.diags
}
