package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

func init() {
	register(&command{
		name:    "check",
		args:    "[flags] FILE|DIR...",
		summary: "parse, type-check, compile and kernel-verify rule files (for CI)",
		detail: `
Check parses and type-checks the rule files, compiles them, and loads every
program into the kernel so that the verifier checks it, without attaching
anything. It reports every problem it finds, in every file: errors, and
warnings about rules that are legal but suspicious (a match that can never
hold, a logged field the match proves absent, a rule identical to another).
For each program it prints the hook, its rules, its instruction count and
the number of instructions the verifier processed. A program over a kernel
limit is reported with the rules that weigh most in it.

Exit status: 0 when there is no error (warnings alone do not fail, unless
--strict), 1 when there is any, 2 for a mistake on the command line.

--format text (the default) writes each diagnostic as file:line:col, the
source line, a caret and a hint, on standard error; json writes one JSON
object per diagnostic and line (file, line, column, end_line, end_column,
severity, rule, message, hint) and github writes GitHub Actions workflow
commands (::error file=...,line=...::message), both on standard output.

Loading needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (root); --no-kernel
stops after compiling.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			var o checkOptions
			fs.BoolVar(&o.noKernel, "no-kernel", false, "compile only; do not load into the kernel verifier")
			fs.StringVar(&o.format, "format", "text", "how to write diagnostics: text, json or github")
			fs.BoolVar(&o.strict, "strict", false, "exit with status 1 on warnings too")
			return func(args []string) error { return runCheck(args, o) }
		},
	})
}

type checkOptions struct {
	noKernel bool
	format   string
	strict   bool
}

// reportDiagnostics writes diagnostics, errors and warnings alike, each
// with its position, source line, caret and hint. It is the one place that
// formats them, so that other formats can be added here.
func reportDiagnostics(w io.Writer, rs *ruleSources) {
	if len(rs.Diags) == 0 {
		return
	}
	rs.Sources.RenderAll(w, rs.Diags)
}

// diagnosticsError summarises the error diagnostics after they have been
// reported.
func diagnosticsError(ds rules.Diagnostics) error {
	return &reportedError{summary: plural(ds.ErrorCount(), "error") + " in rule files"}
}

// loadAndCompile is the part every command shares: read, check (reporting
// diagnostics on w), compile.
func loadAndCompile(w io.Writer, args []string, opts compiler.Options) (*ruleSources, *compiler.Output, error) {
	return loadAndCompileInput(w, ruleInput{args: args}, opts)
}

// loadAndCompileInput is loadAndCompile with inline rules too.
func loadAndCompileInput(w io.Writer, in ruleInput, opts compiler.Options) (*ruleSources, *compiler.Output, error) {
	rs, err := loadRuleInput(in)
	if err != nil {
		return nil, nil, err
	}
	reportDiagnostics(w, rs)
	if rs.RuleSet == nil {
		return nil, nil, diagnosticsError(rs.Diags)
	}
	out, err := compiler.Compile(rs.RuleSet, opts)
	if err != nil {
		return nil, nil, err
	}
	return rs, out, nil
}

func runCheck(args []string, o checkOptions) error {
	write, ok := diagnosticFormats[o.format]
	if !ok {
		return usagef("--format %q is not one of text, json, github", o.format)
	}
	// Machine formats keep standard output for the diagnostics alone; the
	// program table then goes to standard error.
	diagOut, tableOut := stdout, stdout
	if o.format == "text" {
		diagOut = stderr
	}
	if o.format == "json" {
		tableOut = stderr
	}
	rs, err := loadRules(args)
	if err != nil {
		return err
	}
	all := rs.Diags
	write(diagOut, rs.Sources, rs.Diags)
	if rs.RuleSet == nil {
		return checkVerdict(all, o)
	}
	out, err := compiler.Compile(rs.RuleSet, compiler.Options{})
	if err != nil {
		return err
	}
	results, err := verifyPrograms(rs.RuleSet, out, !o.noKernel)
	if err != nil {
		return err
	}
	var kdiags rules.Diagnostics
	for _, r := range results {
		if r.diag != nil {
			kdiags = append(kdiags, *r.diag)
		}
	}
	write(diagOut, rs.Sources, kdiags)
	all = append(all, kdiags...)
	tw := tabwriter.NewWriter(tableOut, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "hook\tprogram\tinstructions\tverifier processed\trules\n")
	for i, p := range out.Programs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Hook, p.Flavour.Name, rawLen(p), results[i].processed, ruleNames(out, p))
	}
	tw.Flush()
	if all.HasErrors() {
		return checkVerdict(all, o)
	}
	verdict := "verified by the kernel"
	if o.noKernel {
		verdict = "compiled (not loaded: --no-kernel)"
	}
	warnings := ""
	if n := len(all.Warnings()); n > 0 {
		warnings = ", " + plural(n, "warning")
	}
	fmt.Fprintf(tableOut, "ok: %s in %s, %s %s%s\n", plural(len(rs.RuleSet.Rules), "rule"), plural(len(rs.Paths), "file"),
		plural(len(out.Programs), "program"), verdict, warnings)
	return checkVerdict(all, o)
}

// checkVerdict is check's exit status: an error for errors, and for
// warnings under --strict.
func checkVerdict(ds rules.Diagnostics, o checkOptions) error {
	switch {
	case ds.HasErrors():
		return diagnosticsError(ds)
	case o.strict && len(ds.Warnings()) > 0:
		return &reportedError{summary: plural(len(ds.Warnings()), "warning") + " (--strict)"}
	}
	return nil
}

// rawLen is a program's length in raw instructions (as the kernel counts).
func rawLen(p *compiler.Program) int {
	n := 0
	for _, ins := range p.Insns {
		n += int(ins.Size()) / 8
	}
	return n
}

// ruleNames lists a program's rules, the first few of a long list.
func ruleNames(out *compiler.Output, p *compiler.Program) string {
	const shown = 8
	var names []string
	for i, r := range p.Rules {
		if i == shown && len(p.Rules) > shown+1 {
			names = append(names, fmt.Sprintf("and %d more", len(p.Rules)-shown))
			break
		}
		names = append(names, out.Schema.Rules[r].Name)
	}
	return strings.Join(names, ", ")
}

// plural writes a count with its noun: "1 rule", "2 rules".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
