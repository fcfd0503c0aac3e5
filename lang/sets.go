package lang

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/hdrlog/hdrlog/rules"
)

// Named sets in the DSL:
//
//	set blocklist { 192.0.2.1, 198.51.100.0/24, 2001:db8::/32 }
//	set blocklist file "blocklist.txt"
//	rule r { match ip.src in $blocklist || ipv6.src in $blocklist  log ip.src, ipv6.src }
//
// A set file holds one element per line (a value, a prefix or a range
// lo..hi), with blank lines and # comments; ReadSetFiles reads the files a
// rule file names, relative to the rule file's directory. A file whose name
// ends in .gz is gzip-compressed (as feeds are often published): a million
// addresses take 18 MB as text, 3.3 MB compressed.

// parseSet parses one set declaration.
func (s *source) parseSet(seg []lexer.Token, next *lexer.Token) (*rules.SetDecl, rules.Diagnostics) {
	if spoiled(seg) {
		return nil, nil
	}
	n, err := setParser.ParseFromLexer(upgrade(seg, s.eof(next)))
	if err != nil {
		return nil, rules.Diagnostics{s.setSyntaxError(seg, next, err)}
	}
	c := &converter{src: s}
	d := &rules.SetDecl{Name: n.Name, NameSpan: s.tokenSpan(n.Tokens[1]), Span: s.tokensSpan(n.Tokens)}
	if n.File != nil {
		t := n.File.Tokens[0]
		d.FileSpan = s.tokenSpan(t)
		if t.Type != tokString && t.Type != tokRawString {
			return nil, rules.Diagnostics{{Severity: rules.Error, Span: d.FileSpan,
				Message: fmt.Sprintf("expected the set file's name in double quotes, found %s", t.Value),
				Hint:    fmt.Sprintf(`e.g. set %s file "%s.txt"`, n.Name, n.Name)}}
		}
		d.File = c.literal(t).Text
	} else {
		d.Elems = c.elems(n.Elems)
	}
	return d, c.diags
}

// setSyntaxError explains why a set declaration did not parse.
func (s *source) setSyntaxError(seg []lexer.Token, next *lexer.Token, err error) rules.Diagnostic {
	var perr participle.Error
	off := len(s.src)
	if errors.As(err, &perr) {
		off = perr.Position().Offset
	}
	i := len(seg)
	for j, t := range seg {
		if t.Pos.Offset >= off {
			i = j
			break
		}
	}
	var tok *lexer.Token
	if i < len(seg) {
		tok = &seg[i]
	} else if next != nil {
		tok = next
	}
	var prev *lexer.Token
	if i > 0 {
		prev = &seg[i-1]
	}
	found := s.describe(tok, modeRule)
	span := s.failSpan(tok, prev)
	d := rules.Diagnostic{Severity: rules.Error, Span: span}
	switch {
	case i <= 1:
		d.Message = fmt.Sprintf("expected the set's name after set, found %s", found)
		d.Hint = "e.g. set blocklist { 192.0.2.1, 198.51.100.0/24 }"
	case i == 2:
		d.Message = fmt.Sprintf(`expected "{" or file after set %s, found %s`, seg[1].Value, found)
		d.Hint = fmt.Sprintf(`list the elements, set %s { 192.0.2.1, 198.51.100.0/24 }, or name a file of them, set %s file "%s.txt"`, seg[1].Value, seg[1].Value, seg[1].Value)
	default:
		d.Message = fmt.Sprintf(`expected a value or "}" in set %s, found %s`, seg[1].Value, found)
		d.Hint = "elements are values, prefixes or ranges lo..hi, separated by commas"
	}
	return d
}

// ReadSetFiles reads the element files of f's named sets: a relative name
// is relative to the directory of the rule file f (dir). It returns the
// files' contents by the path read (for rendering diagnostics) and the
// problems found, with the element file's line and column.
func ReadSetFiles(f *rules.File, dir string) (map[string][]byte, rules.Diagnostics) {
	srcs := map[string][]byte{}
	var diags rules.Diagnostics
	for _, d := range f.Sets {
		if d.File == "" {
			continue
		}
		path := d.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		d.Path = path
		src, err := readSetFile(path)
		if err != nil {
			msg, hint := err.Error(), "a file named .gz is read as gzip-compressed; give an uncompressed file another name"
			var pe *os.PathError
			if errors.As(err, &pe) {
				msg, hint = pe.Err.Error(), "a relative name is relative to the directory of the rule file"
			}
			diags = append(diags, rules.Diagnostic{Severity: rules.Error, Span: d.FileSpan,
				Message: fmt.Sprintf("cannot read the elements of set %s from %s: %s", d.Name, path, msg),
				Hint:    hint})
			continue
		}
		srcs[path] = src
		elems, ds := ParseSetElems(path, src)
		d.Elems = elems
		diags = append(diags, ds...)
	}
	return srcs, diags
}

// readSetFile reads a set file, uncompressing it when its name ends in .gz.
func readSetFile(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(path, ".gz") {
		return src, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("not a gzip file (the name ends in .gz): %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return out, nil
}

// ParseSetElems reads a set file: one element per line (a value, a prefix,
// or a range lo..hi), blank lines and # comments allowed. Each element's
// literal carries its position in the file; the checker types it by the
// field the set is compared with.
func ParseSetElems(path string, src []byte) ([]rules.SetElem, rules.Diagnostics) {
	n := bytes.Count(src, []byte{'\n'}) + 1
	elems := make([]rules.SetElem, 0, n)
	// One allocation for all the literals and one for their text: a
	// blocklist may have millions of lines.
	lits := make([]rules.Literal, 0, n)
	whole := string(src)
	var diags rules.Diagnostics
	off := 0
	for line := 1; off < len(src); line++ {
		end := bytes.IndexByte(src[off:], '\n')
		if end < 0 {
			end = len(src) - off
		}
		text := src[off : off+end]
		start := off
		off += end + 1
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		lead := len(text) - len(bytes.TrimLeft(text, " \t"))
		word := bytes.TrimRight(text[lead:], " \t\r")
		if len(word) == 0 {
			continue
		}
		pos := func(i int) rules.Pos {
			return rules.Pos{File: path, Offset: start + i, Line: line, Column: i + 1}
		}
		lit := func(from, to int) *rules.Literal {
			t := whole[start+from : start+to]
			if len(lits) == cap(lits) {
				lits = make([]rules.Literal, 0, n)
			}
			lits = append(lits, rules.Literal{Kind: setLitKind(t), Text: t, Span: rules.Span{Start: pos(from), End: pos(to)}})
			return &lits[len(lits)-1]
		}
		if i := bytes.IndexAny(word, " \t,"); i >= 0 {
			diags = append(diags, rules.Diagnostic{Severity: rules.Error,
				Span:    rules.Span{Start: pos(lead + i), End: pos(lead + len(word))},
				Message: fmt.Sprintf("one element per line: %q", string(word)),
				Hint:    "put each value, prefix or range on a line of its own; # starts a comment"})
			continue
		}
		if lo, hi, ok := strings.Cut(string(word), ".."); ok {
			elems = append(elems, rules.SetElem{Lo: lit(lead, lead+len(lo)), Hi: lit(lead+len(lo)+2, lead+len(lo)+2+len(hi))})
			continue
		}
		elems = append(elems, rules.SetElem{Lo: lit(lead, lead+len(word))})
	}
	return elems, diags
}

// setLitKind classifies an element of a set file as the DSL's lexer would.
func setLitKind(t string) rules.LitKind {
	switch {
	case t == "":
		return rules.LitWord
	case strings.IndexByte(t, ':') >= 0:
		return rules.LitColon
	case t[0] >= '0' && t[0] <= '9' && strings.IndexByte(t, '.') >= 0:
		return rules.LitDotted
	case t[0] >= '0' && t[0] <= '9':
		return rules.LitNumber
	}
	return rules.LitWord
}
