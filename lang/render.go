package lang

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hdrlog/hdrlog/rules"
)

// Render writes d as text: "file:line:col: error: message", the source line
// the span starts on, a caret line (^ under the start, ~ to the end of the
// span on that line), then "  hint: ..." when d has a hint. src is the
// content of the file the span points into; without it (or with a span that
// has no position) only the first line is written.
func Render(w io.Writer, d rules.Diagnostic, src []byte) {
	start, end := d.Span.Start, d.Span.End
	fmt.Fprintf(w, "%s: %s: %s\n", start, d.Severity, d.Message)
	if line, ok := sourceLine(src, start); ok {
		// Tabs are kept so the caret lines up however the terminal expands
		// them; a multi-byte character takes one column.
		from := start.Column - 1
		to := from // an empty span gets a lone caret
		switch {
		case end.Line > start.Line:
			to = len(line) // a span running onto later lines is underlined to the end of this one
		case end.Line == start.Line && end.Column > start.Column:
			to = min(end.Column-1, len(line))
		}
		line, from, to, cutLeft, cutRight := window(line, from, to)
		var shown, caret strings.Builder
		if cutLeft {
			shown.WriteString(ellipsis)
			caret.WriteString(strings.Repeat(" ", utf8.RuneCountInString(ellipsis)))
		}
		shown.WriteString(printable(line))
		if cutRight {
			shown.WriteString(ellipsis)
		}
		for _, r := range string(line[:from]) {
			if r == '\t' {
				caret.WriteByte('\t')
			} else {
				caret.WriteByte(' ')
			}
		}
		caret.WriteByte('^')
		if n := utf8.RuneCount(line[from:to]); n > 1 {
			caret.WriteString(strings.Repeat("~", n-1))
		}
		fmt.Fprintf(w, "%s\n%s\n", shown.String(), caret.String())
	}
	if d.Hint != "" {
		fmt.Fprintf(w, "  hint: %s\n", d.Hint)
	}
}

// The longest source line Render shows whole, in bytes, and how much of a
// longer one it shows before and after the span's start. A one-line rule
// file of many kilobytes would otherwise be printed once per diagnostic.
const (
	maxShownLine = 160
	shownBefore  = 60
	shownAfter   = 80
	ellipsis     = "…"
)

// window cuts a long line down to the part around [from, to), on character
// boundaries, and returns the offsets of the span in the cut line and which
// ends were cut.
func window(line []byte, from, to int) ([]byte, int, int, bool, bool) {
	if len(line) <= maxShownLine {
		return line, from, to, false, false
	}
	lo, hi := max(from-shownBefore, 0), min(from+shownAfter, len(line))
	for lo > 0 && !utf8.RuneStart(line[lo]) {
		lo--
	}
	for hi < len(line) && !utf8.RuneStart(line[hi]) {
		hi++
	}
	return line[lo:hi], from - lo, min(to, hi) - lo, lo > 0, hi < len(line)
}

// printable shows invalid UTF-8 and control characters (but tabs) as U+FFFD,
// one for each, so that the caret stays aligned and a rule file cannot send
// escape sequences to the terminal.
func printable(line []byte) string {
	var b strings.Builder
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		if r == utf8.RuneError && size <= 1 || r < ' ' && r != '\t' || r == 0x7f {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		line = line[size:]
	}
	return b.String()
}

// sourceLine returns the line p points into, without its line ending.
func sourceLine(src []byte, p rules.Pos) ([]byte, bool) {
	if !p.IsValid() || src == nil || p.Column < 1 {
		return nil, false
	}
	rest := src
	for n := 1; n < p.Line; n++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return nil, false
		}
		rest = rest[i+1:]
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	line := bytes.TrimSuffix(rest, []byte("\r"))
	if p.Column-1 > len(line) {
		return nil, false
	}
	return line, true
}

// Sources maps file names to their contents, to render diagnostics that
// span several files (rule names are unique across the files of a run).
type Sources map[string][]byte

// RenderAll renders each diagnostic against the file it points into.
func (s Sources) RenderAll(w io.Writer, ds rules.Diagnostics) {
	for _, d := range ds {
		Render(w, d, s[d.Span.Start.File])
	}
}
