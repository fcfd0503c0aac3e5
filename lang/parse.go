package lang

import (
	"errors"
	"fmt"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
	"github.com/hdrlog/hdrlog/rules"
)

// maxNesting bounds how deeply parentheses and negations nest. The parser is
// recursive; the bound keeps a hostile input from exhausting the stack (which
// Go cannot recover from) long before any real rule comes near it.
const maxNesting = 100

// ParseDSL parses a .rules file into the rules syntax tree. It never panics
// and always returns a File, holding the rules that parsed; syntax errors are
// returned as Diagnostics, each with an exact span and, where one helps, a
// hint. A rule with a syntax error is left out of the File, and parsing goes
// on with the next rule, so one run reports an error for every broken rule.
func ParseDSL(filename string, src []byte) (file *rules.File, diags rules.Diagnostics) {
	file = &rules.File{Name: filename}
	s := newSource(filename, src, rules.Pos{File: filename, Line: 1, Column: 1})
	defer func() {
		if r := recover(); r != nil {
			diags = append(diags, internalError(s, r))
			diags.Sort()
		}
	}()
	toks, diags := s.lex()

	// Cut the stream at each "rule" keyword: a keyword can appear nowhere
	// else, so each piece is one rule (or its broken remains).
	var starts []int
	for i, t := range toks {
		// A rule may be called set (rule set { ... }): the word right
		// after "rule" is the rule's name, not a set declaration.
		if isKeyword(t, "rule") || isKeyword(t, "set", "redact") && !(i > 0 && isKeyword(toks[i-1], "rule", "set")) {
			starts = append(starts, i)
		}
	}
	first := len(toks)
	if len(starts) > 0 {
		first = starts[0]
	}
	if first > 0 && !spoiled(toks[:first]) {
		diags = append(diags, s.syntaxError(modeFile, toks[:first], 0, nil))
	}
	for k, start := range starts {
		end := len(toks)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		var next *lexer.Token
		if end < len(toks) {
			next = &toks[end]
		}
		if isKeyword(toks[start], "redact") {
			d, ds := s.parseRedact(toks[start:end], next)
			diags = append(diags, ds...)
			if d != nil {
				file.Redact = append(file.Redact, d)
			}
			continue
		}
		if isKeyword(toks[start], "set") {
			d, ds := s.parseSet(toks[start:end], next)
			diags = append(diags, ds...)
			if d != nil {
				file.Sets = append(file.Sets, d)
			}
			continue
		}
		d, ds := s.parseRule(toks[start:end], next)
		diags = append(diags, ds...)
		if d != nil {
			file.Rules = append(file.Rules, d)
		}
	}
	diags.Sort()
	return file, diags
}

// ParseExpr parses a standalone match expression (the text of a match
// statement) whose first byte sits at base in filename: every span is
// reported in that file's coordinates, lines after the first starting at
// column 1. Spans are exact when src is the file's bytes from base on, as in
// an HCL heredoc or a quoted string without escapes; each escape before a
// position shifts it by the escape's extra bytes. It is how the HCL front
// end reads its match attributes, so that both syntaxes share one
// expression language. On error the Expr is nil. It never panics.
func ParseExpr(filename string, src []byte, base rules.Pos) (expr rules.Expr, diags rules.Diagnostics) {
	s := newSource(filename, src, base)
	defer func() {
		if r := recover(); r != nil {
			expr = nil
			diags = append(diags, internalError(s, r))
			diags.Sort()
		}
	}()
	toks, diags := s.lex()
	if diags.HasErrors() {
		return nil, diags
	}
	if len(toks) == 0 {
		return nil, append(diags, rules.Diagnostic{
			Severity: rules.Error, Span: s.span(0, len(src)),
			Message: "empty match expression", Hint: "write a test, e.g. tcp.dstport == 22",
		})
	}
	if d, ok := s.checkNesting(toks); !ok {
		return nil, append(diags, d)
	}
	n, err := exprParser.ParseFromLexer(upgrade(s.collapseLists(toks), s.eof(nil)))
	if err != nil {
		return nil, append(diags, s.parseFailure(modeExpr, toks, nil, err))
	}
	c := &converter{src: s}
	expr = c.or(n)
	diags = append(diags, c.diags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return expr, diags
}

// parseRule parses the tokens of one rule; next is the token that follows
// them (the next rule's keyword), nil at the end of the file.
func (s *source) parseRule(seg []lexer.Token, next *lexer.Token) (*rules.RuleDecl, rules.Diagnostics) {
	if spoiled(seg) {
		return nil, nil // the lexical errors are reported
	}
	name := ""
	if len(seg) > 1 && seg[1].Type == tokIdent {
		name = seg[1].Value
	}
	withRule := func(ds rules.Diagnostics) rules.Diagnostics {
		for i := range ds {
			ds[i].Rule = name
		}
		return ds
	}
	if d, ok := s.checkNesting(seg); !ok {
		return nil, withRule(rules.Diagnostics{d})
	}
	n, err := ruleParser.ParseFromLexer(upgrade(s.collapseLists(seg), s.eof(next)))
	if err != nil {
		return nil, withRule(rules.Diagnostics{s.parseFailure(modeRule, seg, next, err)})
	}
	c := &converter{src: s}
	d := c.rule(n)
	return d, withRule(c.diags)
}

// parseFailure turns participle's error into a diagnostic.
func (s *source) parseFailure(mode parseMode, seg []lexer.Token, next *lexer.Token, err error) rules.Diagnostic {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return rules.Errorf(s.span(0, 0), "internal error: %v", err)
	}
	off := perr.Position().Offset
	i := len(seg)
	for j, t := range seg {
		if t.Pos.Offset >= off {
			i = j
			break
		}
	}
	return s.syntaxError(mode, seg, i, next)
}

// spoiled reports whether a lexical error lies among the tokens.
func spoiled(ts []lexer.Token) bool {
	for _, t := range ts {
		if t.Type == tokUnknown || t.Type == tokBadString {
			return true
		}
	}
	return false
}

// checkNesting enforces maxNesting: open parentheses plus the prefix
// operators in a row before an operand.
func (s *source) checkNesting(ts []lexer.Token) (rules.Diagnostic, bool) {
	parens, prefix := 0, 0
	for _, t := range ts {
		switch {
		case isPunct(t, "!") || isKeyword(t, "not"):
			prefix++
		case isPunct(t, "("):
			parens++
		case isPunct(t, ")"):
			parens = max(0, parens-1)
			prefix = 0
		default:
			prefix = 0
		}
		if parens+prefix > maxNesting {
			return rules.Diagnostic{
				Severity: rules.Error, Span: s.tokenSpan(t),
				Message: "expression nested too deeply",
				Hint:    fmt.Sprintf("at most %d levels of parentheses and negations are allowed", maxNesting),
			}, false
		}
	}
	return rules.Diagnostic{}, true
}

// eof is the end-of-input token of a piece: at the next rule's keyword, or
// at the end of the source.
func (s *source) eof(next *lexer.Token) lexer.Token {
	off := len(s.src)
	if next != nil {
		off = next.Pos.Offset
	}
	return lexer.EOFToken(lexer.Position{Filename: s.file, Offset: off})
}

// tokenStream feeds already-lexed tokens to participle.
type tokenStream struct {
	toks []lexer.Token
	eof  lexer.Token
}

func (ts *tokenStream) Next() (lexer.Token, error) {
	if len(ts.toks) == 0 {
		return ts.eof, nil
	}
	t := ts.toks[0]
	ts.toks = ts.toks[1:]
	return t, nil
}

func upgrade(toks []lexer.Token, eof lexer.Token) *lexer.PeekingLexer {
	pl, _ := lexer.Upgrade(&tokenStream{toks: toks, eof: eof}) // a tokenStream never fails
	return pl
}

func internalError(s *source, r any) rules.Diagnostic {
	return rules.Diagnostic{
		Severity: rules.Error, Span: s.span(0, 0),
		Message: fmt.Sprintf("internal error: %v", r),
		Hint:    "this is a bug in hdrlog; please report it with the rule file",
	}
}
