package lang

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// A match string's value differs from its source text: a quoted string has
// escapes (\" \\ \n \t \uXXXX, $${ and %%{), a heredoc has no quotes and a
// flush heredoc (<<-) loses the indentation common to its lines. ParseExpr
// reports positions in the value; mapString tells where in the file each
// byte of the value was written, so that a diagnostic points at the exact
// character the user typed.

// mapString returns, for a string literal at r in src whose value is value,
// the file offset of each byte of the value, plus one entry for the end of
// the value. Where the source cannot be decoded to value (which would be a
// bug here), offsets fall back to the start of the literal's text, clamped,
// so that diagnostics still point into the attribute.
func mapString(src []byte, r hcl.Range, value string) []int {
	var got []byte
	var m []int
	start, end := r.Start.Byte, r.End.Byte
	if start < 0 || end > len(src) || start >= end {
		return fallbackMap(start, start, value)
	}
	raw := src[start:end]
	switch {
	case raw[0] == '"' && len(raw) >= 2:
		got, m = decodeQuoted(raw[1:len(raw)-1], start+1)
	case bytes.HasPrefix(raw, []byte("<<")):
		got, m = decodeHeredoc(raw, start)
	}
	if m == nil || string(got) != value {
		return fallbackMap(start, end, value)
	}
	return m
}

func fallbackMap(start, end int, value string) []int {
	m := make([]int, len(value)+1)
	for i := range m {
		m[i] = min(start+i, max(start, end-1))
	}
	return m
}

// decodeQuoted decodes the text of a quoted string (without its quotes)
// found at file offset base, as hclsyntax does.
func decodeQuoted(text []byte, base int) ([]byte, []int) {
	var out []byte
	var m []int
	emit := func(b []byte, at int) {
		out = append(out, b...)
		for range b {
			m = append(m, at)
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\\' && i+1 < len(text):
			n, dec := 2, []byte(nil)
			switch text[i+1] {
			case 'n':
				dec = []byte{'\n'}
			case 'r':
				dec = []byte{'\r'}
			case 't':
				dec = []byte{'\t'}
			case '"', '\\':
				dec = []byte{text[i+1]}
			case 'u', 'U':
				n = 6
				if text[i+1] == 'U' {
					n = 10
				}
				if i+n > len(text) {
					return nil, nil
				}
				v, err := strconv.ParseUint(string(text[i+2:i+n]), 16, 32)
				if err != nil || !utf8.ValidRune(rune(v)) {
					return nil, nil
				}
				dec = utf8.AppendRune(nil, rune(v))
			default:
				return nil, nil
			}
			emit(dec, base+i)
			i += n
		case (c == '$' || c == '%') && i+2 < len(text) && text[i+1] == c && text[i+2] == '{':
			emit([]byte{c, '{'}, base+i)
			m[len(m)-1] = base + i + 2 // the brace was written once, after the doubled sign
			i += 3
		default:
			emit([]byte{c}, base+i)
			i++
		}
	}
	m = append(m, base+len(text))
	return out, m
}

// decodeHeredoc decodes a heredoc (<<EOT or <<-EOT, from the marker to the
// closing delimiter) found at file offset base. A heredoc has no backslash
// escapes; $${ and %%{ still stand for ${ and %{. A flush heredoc loses, on
// each line that is not blank, the smallest indentation of such lines.
func decodeHeredoc(raw []byte, base int) ([]byte, []int) {
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 {
		return nil, nil
	}
	flush := bytes.HasPrefix(raw, []byte("<<-"))
	body := raw[nl+1:]
	// The closing delimiter is on the last line.
	last := bytes.LastIndexByte(body, '\n')
	if last < 0 {
		return []byte{}, []int{base + nl + 1}
	}
	body = body[:last+1]
	bodyBase := base + nl + 1

	type line struct {
		off  int // offset of the line in body
		text []byte
	}
	var lines []line
	for off := 0; off < len(body); {
		e := bytes.IndexByte(body[off:], '\n')
		lines = append(lines, line{off, body[off : off+e+1]})
		off += e + 1
	}
	blank := func(l []byte) bool { return len(bytes.TrimLeft(l, " \t\r\n\v\f")) == 0 }
	strip := 0
	if flush {
		strip = -1
		for _, l := range lines {
			if blank(l.text) {
				continue
			}
			n := len(l.text) - len(bytes.TrimLeft(l.text, " \t"))
			if strip < 0 || n < strip {
				strip = n
			}
		}
		strip = max(strip, 0)
	}
	var text []byte
	var where []int
	for _, l := range lines {
		skip := 0
		if flush && !blank(l.text) {
			skip = strip
		}
		for i := skip; i < len(l.text); i++ {
			text = append(text, l.text[i])
			where = append(where, bodyBase+l.off+i)
		}
	}
	// Undo the $${ and %%{ escapes.
	var out []byte
	var m []int
	for i := 0; i < len(text); i++ {
		c := text[i]
		if (c == '$' || c == '%') && i+2 < len(text) && text[i+1] == c && text[i+2] == '{' {
			out = append(out, c, '{')
			m = append(m, where[i], where[i+2])
			i += 2
			continue
		}
		out = append(out, c)
		m = append(m, where[i])
	}
	m = append(m, bodyBase+len(body))
	return out, m
}
