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
