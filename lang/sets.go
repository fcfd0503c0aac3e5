package lang

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

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
	n, err := setParser.ParseFromLexer(upgrade(s.collapseLists(seg), s.eof(next)))
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
		d.Elems = c.elems(n.Tokens, n.Elems)
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
			var se *setFileError
			switch {
			case errors.As(err, &se):
				hint = se.hint
			case errors.As(err, &pe):
				msg, hint = pe.Err.Error(), "a relative name is relative to the directory of the rule file"
			}
			diags = append(diags, rules.Diagnostic{Severity: rules.Error, Span: d.FileSpan,
				Message: fmt.Sprintf("cannot read the elements of set %s from %s: %s", d.Name, path, msg),
				Hint:    hint})
			continue
		}
		srcs[path] = src
		elems, ds := ParseSetElems(path, src)
		d.FileElems = elems
		diags = append(diags, ds...)
	}
	return srcs, diags
}

// readAll reads r to its end, appending to b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// setFileError is a set file hdrlog refuses to read, with a hint.
type setFileError struct{ msg, hint string }

func (e *setFileError) Error() string { return e.msg }

// readSetFile reads a set file, uncompressing it when its name ends in .gz.
// Only a regular file is read (opened without blocking, so that a FIFO is
// refused rather than waited on), of at most rules.MaxSetFileBytes, and so
// is what it uncompresses to: a link to /dev/zero or a gzip bomb is an
// error, not the end of the host's memory.
func readSetFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &setFileError{fmt.Sprintf("not a regular file (%s)", st.Mode().Type()), "a set file is a regular file of one element per line"}
	}
	const limit = rules.MaxSetFileBytes
	tooBig := &setFileError{fmt.Sprintf("more than the %d MiB hdrlog reads of one set file", limit>>20), "split the set into several named sets, each from its own file"}
	// Into a buffer of the file's size (and a byte more, to see the end):
	// io.ReadAll would copy a large file a dozen times on the way.
	src, err := readAll(io.LimitReader(f, limit+1), make([]byte, 0, min(st.Size(), limit)+1))
	if err != nil {
		return nil, err
	}
	if len(src) > limit {
		return nil, tooBig
	}
	if !strings.HasSuffix(path, ".gz") {
		return src, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("not a gzip file (the name ends in .gz): %w", err)
	}
	// A gzip file ends with its (last member's) uncompressed size modulo
	// 2^32: room for that much, bounded, spares regrowing the buffer.
	size := 4 * len(src)
	if len(src) >= 4 {
		size = max(size, int(binary.LittleEndian.Uint32(src[len(src)-4:])))
	}
	out, err := readAll(io.LimitReader(zr, limit+1), make([]byte, 0, min(size, limit)+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(out) > limit {
		return nil, tooBig
	}
	return out, nil
}

// ParseSetElems reads a set file: one element per line (a value, a prefix,
// or a range lo..hi), blank lines and # comments allowed. The elements are
// kept as offsets into the file's text (rules.SetFileElems), from which
// the checker makes each element's literal, with its position, when it
// types it by the field the set is compared with. src must not change
// afterwards: the elements' text is src's.
func ParseSetElems(path string, src []byte) (*rules.SetFileElems, rules.Diagnostics) {
	var diags rules.Diagnostics
	if len(src) > rules.MaxSetFileBytes {
		diags = append(diags, rules.Diagnostic{Severity: rules.Error,
			Span:    rules.Span{Start: rules.Pos{File: path}, End: rules.Pos{File: path}},
			Message: fmt.Sprintf("set file of %d bytes: the most hdrlog reads is %d", len(src), rules.MaxSetFileBytes),
			Hint:    "split the set into several files (several named sets), or keep its prefixes rather than every address"})
		return nil, diags
	}
	whole := unsafe.String(unsafe.SliceData(src), len(src))
	fe := &rules.SetFileElems{Path: path, Src: whole,
		Elems: make([]rules.SetFileElem, 0, bytes.Count(src, []byte{'\n'})+1)}
	off := 0
	for line := 1; off < len(src); line++ {
		end := bytes.IndexByte(src[off:], '\n')
		if end < 0 {
			end = len(src) - off
		}
		text := src[off : off+end]
		start := off
		off += end + 1
		lead := len(text) - len(bytes.TrimLeft(text, " \t"))
		pos := func(i int) rules.Pos {
			return rules.Pos{File: path, Offset: start + i, Line: line, Column: i + 1}
		}
		if lead < len(text) && text[lead] == '"' {
			// A quoted string (a user agent, a target with spaces): the
			// element is its value; a comment may follow it.
			el, d := quotedSetLine(text, start, lead, line, pos)
			if d != nil {
				diags = append(diags, *d)
			} else {
				fe.Elems = append(fe.Elems, el)
			}
			continue
		}
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		word := bytes.TrimRight(text[lead:], " \t\r")
		if len(word) == 0 {
			continue
		}
		if i := bytes.IndexAny(word, " \t,"); i >= 0 {
			diags = append(diags, rules.Diagnostic{Severity: rules.Error,
				Span:    rules.Span{Start: pos(lead + i), End: pos(lead + len(word))},
				Message: fmt.Sprintf("one element per line: %q", string(word)),
				Hint:    "put each value, prefix or range on a line of its own; # starts a comment; a string with spaces goes in double quotes"})
			continue
		}
		lo := start + lead
		el := rules.SetFileElem{Lo: uint32(lo), LoEnd: uint32(lo + len(word)), Line: uint32(line), LineStart: uint32(start)}
		if i := bytes.Index(word, []byte("..")); i >= 0 {
			el.LoEnd = uint32(lo + i)
			el.Hi, el.HiEnd = uint32(lo+i+2), uint32(lo+len(word))
		}
		el.Kind = uint8(rules.SetLitKind(whole[el.Lo:el.LoEnd]))
		fe.Elems = append(fe.Elems, el)
	}
	return fe, diags
}

// quotedSetLine reads a line of a set file that starts with a double quote
// (after blanks): a string as Go writes it (\" and \\ inside, \x41 and
// the other escapes), then only blanks or a # comment.
func quotedSetLine(text []byte, start, lead, line int, pos func(int) rules.Pos) (rules.SetFileElem, *rules.Diagnostic) {
	q, err := strconv.QuotedPrefix(string(text[lead:]))
	if err == nil {
		if _, err = strconv.Unquote(q); err == nil {
			rest := bytes.TrimLeft(text[lead+len(q):], " \t\r")
			if len(rest) > 0 && rest[0] != '#' {
				return rules.SetFileElem{}, &rules.Diagnostic{Severity: rules.Error,
					Span:    rules.Span{Start: pos(len(text) - len(rest)), End: pos(len(bytes.TrimRight(text, " \t\r")))},
					Message: fmt.Sprintf("one element per line: %q follows the string", string(bytes.TrimRight(rest, " \t\r"))),
					Hint:    "put each string on a line of its own; # starts a comment"}
			}
			lo := start + lead
			return rules.SetFileElem{Lo: uint32(lo), LoEnd: uint32(lo + len(q)), Line: uint32(line), LineStart: uint32(start),
				Kind: uint8(rules.LitString)}, nil
		}
	}
	end := len(bytes.TrimRight(text, " \t\r"))
	return rules.SetFileElem{}, &rules.Diagnostic{Severity: rules.Error,
		Span:    rules.Span{Start: pos(lead), End: pos(end)},
		Message: fmt.Sprintf("not a string: %s", string(text[lead:end])),
		Hint:    `close the string with a double quote; write \" for a quote and \\ for a backslash inside it`}
}
