package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a rule file. Line and Column are 1-based; Column counts
// bytes. Offset is the 0-based byte offset in the file.
type Pos struct {
	File   string
	Offset int
	Line   int
	Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// IsValid reports whether p points into a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Span is the half-open source range [Start, End) of a syntax element.
type Span struct {
	Start, End Pos
}

// Severity of a diagnostic.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a rule file, with the range it covers,
// the rule it belongs to (when known) and an optional hint on how to fix it.
type Diagnostic struct {
	Severity Severity
	Span     Span
	Rule     string
	Message  string
	Hint     string
	// Hidden is, on the diagnostic that sums up those Capped left out, how
	// many errors it stands for.
	Hidden int
}

func (d Diagnostic) Error() string {
	s := fmt.Sprintf("%s: %s: %s", d.Span.Start, d.Severity, d.Message)
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// Diagnostics is a list of diagnostics; as an error it stands for the whole list.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// HasErrors reports whether any diagnostic is an error (not a warning).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// ErrorCount is the number of errors, those a Capped summary stands for
// included.
func (ds Diagnostics) ErrorCount() int {
	n := 0
	for _, d := range ds {
		switch {
		case d.Hidden > 0:
			n += d.Hidden
		case d.Severity == Error:
			n++
		}
	}
	return n
}

// Errors returns only the error diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Warning {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, then position.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Span.Start, ds[j].Span.Start
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Offset < b.Offset
	})
}

// Errorf builds an error diagnostic over span.
func Errorf(span Span, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Error, Span: span, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns d with a hint attached.
func (d Diagnostic) WithHint(format string, args ...any) Diagnostic {
	d.Hint = fmt.Sprintf(format, args...)
	return d
}

// MaxPerFile is how many diagnostics Capped keeps for one file. A garbage
// file can hold a syntax error every few bytes; past this many, more of them
// tell a reader nothing and only make the output grow with the file.
const MaxPerFile = 50

// Capped returns the diagnostics of ds, sorted, with at most max of them per
// file. The ones left out of a file are summed up in one diagnostic at the
// file's last kept position ("and N more errors in FILE"), an error when any
// of them was: dropping diagnostics never turns a failing check into a
// passing one.
func (ds Diagnostics) Capped(max int) Diagnostics {
	ds.Sort()
	var out Diagnostics
	for i := 0; i < len(ds); {
		j := i
		for j < len(ds) && ds[j].Span.Start.File == ds[i].Span.Start.File {
			j++
		}
		file := ds[i:j:j]
		if len(file) <= max {
			out = append(out, file...)
			i = j
			continue
		}
		out = append(out, file[:max]...)
		rest := file[max:]
		errs := len(rest.Errors())
		more := Diagnostic{Severity: Warning, Span: Span{Start: file[max-1].Span.Start}}
		if errs > 0 {
			more.Severity, more.Hidden = Error, errs
		}
		name := ds[i].Span.Start.File
		more.Span.Start.Line, more.Span.Start.Column = 0, 0 // the summary belongs to the file, not to a place in it
		more.Message = fmt.Sprintf("and %d more diagnostics in %s (%d errors, %d warnings) not shown", len(rest), name, errs, len(rest)-errs)
		more.Hint = fmt.Sprintf("hdrlog shows the first %d of each file; fix those and check again", max)
		out = append(out, more)
		i = j
	}
	return out
}
