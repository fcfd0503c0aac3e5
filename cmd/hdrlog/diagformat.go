package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// diagnosticFormats are the ways `hdrlog check --format` writes diagnostics.
var diagnosticFormats = map[string]func(w io.Writer, src lang.Sources, ds rules.Diagnostics){
	"text":   func(w io.Writer, src lang.Sources, ds rules.Diagnostics) { src.RenderAll(w, ds) },
	"json":   writeJSONDiagnostics,
	"github": writeGitHubDiagnostics,
}

// jsonDiagnostic is one line of --format json. Lines and columns are
// 1-based, columns count bytes, and the end is exclusive; a diagnostic that
// belongs to no place in a file (a kernel limit of a whole program) has
// line 0.
type jsonDiagnostic struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	EndLine   int    `json:"end_line"`
	EndColumn int    `json:"end_column"`
	Severity  string `json:"severity"`
	Rule      string `json:"rule"`
	Message   string `json:"message"`
	Hint      string `json:"hint"`
}

func writeJSONDiagnostics(w io.Writer, _ lang.Sources, ds rules.Diagnostics) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range ds {
		s, e := d.Span.Start, d.Span.End
		enc.Encode(jsonDiagnostic{
			File: s.File, Line: s.Line, Column: s.Column, EndLine: e.Line, EndColumn: e.Column,
			Severity: d.Severity.String(), Rule: d.Rule, Message: d.Message, Hint: d.Hint,
		})
	}
}

// writeGitHubDiagnostics writes GitHub Actions workflow commands, which
// GitHub shows as annotations on the lines of the pull request:
//
//	::error file=rules/ssh.hcl,line=4,col=12,endLine=4,endColumn=30,title=hdrlog::message
func writeGitHubDiagnostics(w io.Writer, _ lang.Sources, ds rules.Diagnostics) {
	for _, d := range ds {
		var props []string
		s, e := d.Span.Start, d.Span.End
		if s.File != "" {
			props = append(props, "file="+githubProperty(s.File))
		}
		if s.IsValid() {
			props = append(props, fmt.Sprintf("line=%d", s.Line), fmt.Sprintf("col=%d", s.Column))
			if e.IsValid() {
				props = append(props, fmt.Sprintf("endLine=%d", e.Line), fmt.Sprintf("endColumn=%d", e.Column))
			}
		}
		props = append(props, "title=hdrlog")
		msg := d.Message
		if d.Hint != "" {
			msg += "\nhint: " + d.Hint
		}
		fmt.Fprintf(w, "::%s %s::%s\n", d.Severity, strings.Join(props, ","), githubData(msg))
	}
}

// githubData escapes a workflow command's message: %, CR and LF.
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a workflow command's property value: as a message,
// and also : and , that would end it.
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
