package lang

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/hdrlog/hdrlog/rules"
)

// The DSL's tokens. The rules are tried in order and the first that matches
// wins, so the order is part of the grammar:
//   - Colon before Number and Ident: IPv6 addresses may start with digits or
//     with letters (fe80::1) and MACs with digits; a colon is what tells them apart.
//   - Dotted before Number, with a digit required after each dot, so that
//     10.0.0.1..10.0.0.9 is an address, a range and an address, and 1..2 is
//     a number, a range and a number.
//   - Number swallows letters that follow digits (12abc, 0x1G) so the checker
//     reports one invalid number rather than the parser a puzzling token pair.
//   - RawString (r"a\.b", backslashes kept, as in Wireshark) before Ident.
//   - Ident before comment: vlan.id#2 is a field with a layer suffix; # starts
//     a comment only at a token boundary. An Ident may end in a quoted key,
//     the header accessor http.header["X-Request-Id"] (the checker reads it).
//   - BadString and Unknown make the lexer total: it never fails, and
//     lexical errors become diagnostics with exact spans (source.lex).
//
// Lower-case rule names are dropped by the lexer.
var dslLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "Colon", Pattern: `[0-9A-Fa-f]*(?::[0-9A-Fa-f]*)+(?:\.[0-9]+)*(?:/[0-9]+)?`},
	{Name: "Dotted", Pattern: `[0-9]+(?:\.[0-9]+)+(?:/[0-9]+)?`},
	{Name: "Number", Pattern: `[0-9][0-9A-Za-z_]*`},
	{Name: "RawString", Pattern: `[rR]"[^"\n]*"`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*(?:\["(?:\\.|[^"\\\n])*"\])?(?:#[0-9]+)?`},
	{Name: "comment", Pattern: `#[^\n]*`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\\n])*"`},
	{Name: "BadString", Pattern: `"[^\n]*`},
	{Name: "SetRef", Pattern: `\$[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `==|!=|~=|<=|>=|&&|\|\||\.\.|[!<>=&|(){},\[\]/-]`},
	{Name: "Unknown", Pattern: `.`},
})

// keywords are the reserved words. They are lexed as Ident and retyped to
// Keyword (source.lex), so that `@Ident` never captures one as a field or rule
// name: `log ip.src` followed by `match ...` can then not be read as logging
// a field called "match".
var keywords = map[string]bool{
	"rule": true, "hook": true, "match": true, "log": true,
	"and": true, "or": true, "not": true, "in": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"contains": true, "matches": true, "any": true, "all": true,
	"ports": true, "maxlen": true, "unredact": true, "set": true, "redact": true,
	// count is also a Wireshark function, count(field): followed by "(" it
	// stays a word (source.lex), so that the checker can say it is not run.
	"count": true, "sample": true, "limit": true,
}

// tokenDefinition is dslLexer with two more symbols that no lexer rule
// produces: Keyword, which source.lex assigns, and Bulk, a long list of
// elements collapsed into one token (bulk.go).
type tokenDefinition struct {
	*lexer.StatefulDefinition
	symbols map[string]lexer.TokenType
}

func (d *tokenDefinition) Symbols() map[string]lexer.TokenType { return d.symbols }

var tokens = func() *tokenDefinition {
	syms := map[string]lexer.TokenType{}
	min := lexer.TokenType(0)
	for name, t := range dslLexer.Symbols() {
		syms[name] = t
		if t < min {
			min = t
		}
	}
	syms["Keyword"] = min - 1
	syms["Bulk"] = min - 2
	return &tokenDefinition{StatefulDefinition: dslLexer, symbols: syms}
}()

var (
	tokColon     = tokens.symbols["Colon"]
	tokDotted    = tokens.symbols["Dotted"]
	tokNumber    = tokens.symbols["Number"]
	tokIdent     = tokens.symbols["Ident"]
	tokString    = tokens.symbols["String"]
	tokRawString = tokens.symbols["RawString"]
	tokBadString = tokens.symbols["BadString"]
	tokPunct     = tokens.symbols["Punct"]
	tokUnknown   = tokens.symbols["Unknown"]
	tokKeyword   = tokens.symbols["Keyword"]
	tokBulk      = tokens.symbols["Bulk"]
)

// isValue reports whether t can only be a value (a literal other than a bare word).
func isValue(t lexer.Token) bool {
	switch t.Type {
	case tokNumber, tokDotted, tokColon, tokString, tokRawString:
		return true
	}
	return false
}

func isKeyword(t lexer.Token, words ...string) bool {
	if t.Type != tokKeyword {
		return false
	}
	if len(words) == 0 {
		return true
	}
	for _, w := range words {
		if t.Value == w {
			return true
		}
	}
	return false
}

func isPunct(t lexer.Token, values ...string) bool {
	if t.Type != tokPunct {
		return false
	}
	for _, v := range values {
		if t.Value == v {
			return true
		}
	}
	return false
}

// source is one text being parsed: a whole .rules file, or a match
// expression embedded in another file at base.
type source struct {
	file  string
	src   []byte
	base  rules.Pos
	lines []int // byte offsets (in src) where lines start
	// bulk holds the elements of the lists collapsed into Bulk tokens,
	// by the token's offset (bulk.go).
	bulk map[int][]rules.SetElem
}

func newSource(file string, src []byte, base rules.Pos) *source {
	if base.Line < 1 {
		base.Line = 1
	}
	if base.Column < 1 {
		base.Column = 1
	}
	if base.Offset < 0 {
		base.Offset = 0
	}
	s := &source{file: file, src: src, base: base, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

// pos maps a byte offset in src to a position in the file.
func (s *source) pos(off int) rules.Pos {
	off = max(0, min(off, len(s.src)))
	lo, hi := 0, len(s.lines) // find the last line start <= off
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if s.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	col := off - s.lines[lo] + 1
	if lo == 0 {
		col += s.base.Column - 1
	}
	return rules.Pos{File: s.file, Offset: s.base.Offset + off, Line: s.base.Line + lo, Column: col}
}

func (s *source) span(from, to int) rules.Span {
	return rules.Span{Start: s.pos(from), End: s.pos(to)}
}

func (s *source) tokenSpan(t lexer.Token) rules.Span {
	return s.span(t.Pos.Offset, t.Pos.Offset+len(t.Value))
}

// tokensSpan covers a non-empty run of tokens.
func (s *source) tokensSpan(ts []lexer.Token) rules.Span {
	last := ts[len(ts)-1]
	return s.span(ts[0].Pos.Offset, last.Pos.Offset+len(last.Value))
}

// lex splits the source into significant tokens (no white space, no
// comments), keywords retyped, and reports lexical errors: unknown
// characters (a run of them as one diagnostic) and unterminated strings. The
// error tokens stay in the stream so that the caller knows which rule they
// spoil.
func (s *source) lex() ([]lexer.Token, rules.Diagnostics) {
	var diags rules.Diagnostics
	lx, err := dslLexer.LexString(s.file, string(s.src))
	if err != nil {
		return nil, rules.Diagnostics{rules.Errorf(s.span(0, 0), "internal error: %v", err)}
	}
	// Room for a token every four bytes: a long list of addresses needs
	// no regrowing (memory the list does not use is never touched).
	toks := make([]lexer.Token, 0, len(s.src)/4+16)
	for {
		t, err := lx.Next()
		if err != nil {
			// The Unknown rule matches any character, so this is a lexer bug;
			// the empty Unknown token marks the rest of the input as spoiled.
			off := len(s.src)
			if pe, ok := err.(interface{ Position() lexer.Position }); ok {
				off = pe.Position().Offset
			}
			diags = append(diags, rules.Errorf(s.span(off, off), "internal error: %v", err))
			toks = append(toks, lexer.Token{Type: tokUnknown, Pos: lexer.Position{Offset: off}})
			break
		}
		if t.EOF() {
			break
		}
		switch t.Type {
		case tokIdent:
			if keywords[t.Value] {
				t.Type = tokKeyword
			}
		case tokUnknown:
			// Merge a run of unknown characters into one token.
			if n := len(toks); n > 0 && toks[n-1].Type == tokUnknown && toks[n-1].Pos.Offset+len(toks[n-1].Value) == t.Pos.Offset {
				toks[n-1].Value += t.Value
				continue
			}
		}
		toks = append(toks, t)
	}
	for i := range toks {
		if isKeyword(toks[i], "count") && i+1 < len(toks) && isPunct(toks[i+1], "(") {
			toks[i].Type = tokIdent
		}
	}
	for _, t := range toks {
		switch t.Type {
		case tokUnknown:
			if t.Value == "" {
				continue // the internal error above
			}
			diags = append(diags, s.unknownChar(t))
		case tokBadString:
			diags = append(diags, rules.Diagnostic{
				Severity: rules.Error, Span: s.tokenSpan(t), Message: "unterminated string",
				Hint: `close the string with " on the same line`,
			})
		}
	}
	return toks, diags
}

// unknownHints explains characters that people coming from other languages
// or filter syntaxes write.
var unknownHints = map[rune]string{
	'\'': `strings are written in double quotes, e.g. "GET"`,
	';':  "statements need no separator: remove the ;",
	'~':  "write matches for a regular-expression match",
	'/':  "a prefix length follows its address without spaces, e.g. 10.0.0.0/8",
	'$':  "a named set is written $name (letters, digits and _), e.g. ip.src in $blocklist; other variables and macros are not supported",
	'%':  "zone indices (fe80::1%eth0) are not supported",
}

var invisibleChars = map[rune]string{
	'\u00a0': "no-break space",
	'\u200b': "zero width space",
	'\ufeff': "byte order mark",
}

func (s *source) unknownChar(t lexer.Token) rules.Diagnostic {
	r, size := utf8.DecodeRuneInString(t.Value)
	var what string
	switch {
	case r == utf8.RuneError && size <= 1:
		what = fmt.Sprintf("byte 0x%02X (the file is not valid UTF-8)", t.Value[0])
	case r < utf8.RuneSelf && unicode.IsPrint(r):
		what = fmt.Sprintf("character %q", string(r))
	case unicode.IsPrint(r):
		what = fmt.Sprintf("character %q (U+%04X)", string(r), r)
	default:
		what = fmt.Sprintf("character U+%04X", r)
	}
	hint := unknownHints[r]
	if name, ok := invisibleChars[r]; ok {
		what = fmt.Sprintf("character U+%04X (%s)", r, name)
		hint = "an invisible character, often pasted from a web page or a word processor: delete it"
	}
	return rules.Diagnostic{
		Severity: rules.Error, Span: s.tokenSpan(t), Hint: hint,
		Message: "unexpected " + what,
	}
}

// unquote resolves the escapes of a string token (quotes included), after
// Wireshark's display-filter strings: \\ \" \' \a \b \f \n \r \t \v, \xhh,
// octal \ooo, \uhhhh and \Uhhhhhhhh. An invalid escape is reported with its
// span and kept as written.
func (s *source) unquote(t lexer.Token) (string, rules.Diagnostics) {
	body := t.Value[1 : len(t.Value)-1]
	var b strings.Builder
	var diags rules.Diagnostics
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(body) {
			b.WriteByte(c) // cannot happen: the token regexp pairs backslashes
			break
		}
		esc := body[i+1]
		n := 2 // bytes consumed
		switch esc {
		case '\\', '"', '\'':
			b.WriteByte(esc)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			want := map[byte]int{'x': 2, 'u': 4, 'U': 8}[esc]
			j := i + 2
			for j < len(body) && j < i+2+want && isHex(body[j]) {
				j++
			}
			if j == i+2 || (esc != 'x' && j-i-2 != want) {
				off := t.Pos.Offset + 1 + i
				diags = append(diags, rules.Diagnostic{
					Severity: rules.Error, Span: s.span(off, t.Pos.Offset+1+j),
					Message: fmt.Sprintf(`invalid escape sequence \%c: expected %d hexadecimal digits`, esc, want),
					Hint:    `write \\ for a backslash`,
				})
				b.WriteString(body[i:j])
				n = j - i
				break
			}
			var v uint64
			for _, h := range body[i+2 : j] {
				v = v<<4 | uint64(unhex(byte(h)))
			}
			if esc == 'x' {
				b.WriteByte(byte(v))
			} else if v > unicode.MaxRune {
				off := t.Pos.Offset + 1 + i
				diags = append(diags, rules.Errorf(s.span(off, t.Pos.Offset+1+j), `invalid escape sequence %s: not a Unicode code point`, body[i:j]))
				b.WriteString(body[i:j])
			} else {
				b.WriteRune(rune(v))
			}
			n = j - i
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i + 1
			v := 0
			for j < len(body) && j < i+4 && body[j] >= '0' && body[j] <= '7' {
				v = v*8 + int(body[j]-'0')
				j++
			}
			if v > 0xff {
				off := t.Pos.Offset + 1 + i
				diags = append(diags, rules.Errorf(s.span(off, t.Pos.Offset+1+j), `invalid escape sequence %s: an octal escape is at most \377`, body[i:j]))
				b.WriteString(body[i:j])
			} else {
				b.WriteByte(byte(v))
			}
			n = j - i
		default:
			_, size := utf8.DecodeRuneInString(body[i+1:])
			n = 1 + size
			off := t.Pos.Offset + 1 + i
			diags = append(diags, rules.Diagnostic{
				Severity: rules.Error, Span: s.span(off, off+n),
				Message: fmt.Sprintf("invalid escape sequence %s in string", body[i:i+n]),
				Hint:    `write \\ for a backslash, or use a raw string, in which \ is kept: r"a\.b"`,
			})
			b.WriteString(body[i : i+n])
		}
		i += n
	}
	return b.String(), diags
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
