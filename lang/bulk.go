package lang

import (
	"strings"

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/hdrlog/hdrlog/rules"
)

// Long element lists.
//
// A set written inline may hold a hundred thousand addresses (`ip.src in
// {…}`, `set blocklist {…}`). Parsed by participle, each element is a node
// of its own, captured through reflection, with its tokens copied into it:
// 100,000 elements took 1.6 s and 400 MB. A list of plain elements needs
// none of that: before parsing, collapseLists replaces the tokens of each
// long list between braces by one Bulk token and makes the list's elements
// directly from its tokens, exactly as the converter would have (same
// literals, same spans). The grammar takes a Bulk token where the elements
// go (testNode, setNode); the converter looks the elements up by the
// token's offset.
//
// Only lists that the grammar accepts as they are, of value tokens that
// need no decoding (numbers, addresses, prefixes, words, strings without
// escapes: a watch list of 100,000 host names), are collapsed; anything else, or a syntax error anywhere in the piece, goes
// the ordinary way, so that errors are reported on the original tokens.

// bulkMin is the number of elements from which a list is collapsed.
var bulkMin = 16

// collapseLists returns toks with each long list of plain elements between
// braces replaced by one Bulk token, whose elements it records in s.bulk by
// the token's offset. toks is not modified; when nothing is collapsed, it
// is returned as it is.
func (s *source) collapseLists(toks []lexer.Token) []lexer.Token {
	var out []lexer.Token
	done := 0 // toks[:done] are in out (when out is not nil)
	for i := 0; i < len(toks); i++ {
		if !isPunct(toks[i], "{") {
			continue
		}
		n, end, ok := plainList(toks, i+1)
		if !ok || n < bulkMin {
			continue
		}
		first, last := toks[i+1], toks[end-1]
		lits := make([]rules.Literal, 0, end-i-1)
		elems := make([]rules.SetElem, 0, n)
		lit := func(t lexer.Token) *rules.Literal {
			lits = append(lits, rules.Literal{Kind: litKinds[t.Type], Text: plainText(t), Span: s.tokenSpan(t)})
			return &lits[len(lits)-1]
		}
		for j := i + 1; j < end; j++ {
			t := toks[j]
			switch {
			case isPunct(t, ","):
			case isPunct(t, ".."):
				elems[len(elems)-1].Hi = lit(toks[j+1])
				j++
			default:
				elems = append(elems, rules.SetElem{Lo: lit(t)})
			}
		}
		if s.bulk == nil {
			s.bulk = map[int][]rules.SetElem{}
		}
		s.bulk[first.Pos.Offset] = elems
		if out == nil {
			out = make([]lexer.Token, 0, len(toks)-(end-i-1)+1)
		}
		out = append(out, toks[done:i+1]...)
		out = append(out, lexer.Token{Type: tokBulk, Pos: first.Pos,
			Value: string(s.src[first.Pos.Offset : last.Pos.Offset+len(last.Value)])})
		done = end
		i = end - 1
	}
	if out == nil {
		return toks
	}
	return append(out, toks[done:]...)
}

// plainList reads the elements of a list from toks[i] on, as the grammar
// does (elem ((",")? elem)*, elem = value (".." value)?), and reports how
// many there are and where the closing brace is, if the list is made only
// of plain values and ends at a brace.
func plainList(toks []lexer.Token, i int) (n, end int, ok bool) {
	for {
		if i >= len(toks) || !plainValue(toks[i]) {
			return 0, 0, false
		}
		i++
		n++
		if i+1 < len(toks) && isPunct(toks[i], "..") {
			if !plainValue(toks[i+1]) {
				return 0, 0, false
			}
			i += 2
		}
		if i >= len(toks) {
			return 0, 0, false
		}
		if isPunct(toks[i], "}") {
			return n, i, true
		}
		if isPunct(toks[i], ",") {
			i++
		}
	}
}

// plainValue reports whether t is a value token whose literal needs no
// decoding: its text, or a string's text between its quotes (a string
// with an escape goes the ordinary way, which reports a bad one).
func plainValue(t lexer.Token) bool {
	switch t.Type {
	case tokNumber, tokDotted, tokColon, tokIdent, tokRawString:
		return true
	case tokString:
		return !strings.Contains(t.Value, `\`)
	}
	return false
}

// plainText is the literal text of a plain value token (as the converter
// makes it, convert.go).
func plainText(t lexer.Token) string {
	switch t.Type {
	case tokRawString:
		return t.Value[2 : len(t.Value)-1]
	case tokString:
		return t.Value[1 : len(t.Value)-1]
	}
	return t.Value
}

// bulkElems returns the elements of a collapsed list, given the tokens of
// the node holding it.
func (c *converter) bulkElems(ts []lexer.Token) ([]rules.SetElem, bool) {
	for _, t := range ts {
		if t.Type == tokBulk {
			return c.src.bulk[t.Pos.Offset], true
		}
	}
	return nil, false
}
