package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

func init() {
	register(&command{
		name:    "check",
		args:    "[flags] FILE|DIR...",
		summary: "parse, type-check, compile and kernel-verify rule files (for CI)",
		detail: `
Check parses and type-checks the rule files (printing warnings too),
compiles them, and loads every program into the kernel so that the verifier
checks it, without attaching anything. For each program it prints the hook,
its rules, its instruction count and the number of instructions the
verifier processed. Any error exits with status 1.

Loading needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (root); --no-kernel
stops after compiling.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			noKernel := fs.Bool("no-kernel", false, "compile only; do not load into the kernel verifier")
			return func(args []string) error { return runCheck(args, *noKernel) }
		},
	})
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
	return &reportedError{summary: plural(len(ds.Errors()), "error") + " in rule files"}
}

// loadAndCompile is the part every command shares: read, check (reporting
// diagnostics on w), compile.
func loadAndCompile(w io.Writer, args []string, opts compiler.Options) (*ruleSources, *compiler.Output, error) {
	rs, err := loadRules(args)
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

func runCheck(args []string, noKernel bool) error {
	rs, out, err := loadAndCompile(stderr, args, compiler.Options{})
	if err != nil {
		return err
	}
	var verified map[rules.Hook]uint32
	if !noKernel {
		c, err := runtime.Load(out, runtime.LoadOptions{})
		if err != nil {
			return err
		}
		defer c.Close()
		verified = map[rules.Hook]uint32{}
		for h, p := range c.Programs {
			info, err := p.Info()
			if err != nil {
				return fmt.Errorf("program info of %s: %w", h, err)
			}
			if n, ok := info.VerifiedInstructions(); ok {
				verified[h] = n
			}
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "hook\tprogram\tinstructions\tverifier processed\trules\n")
	for _, p := range out.Programs {
		processed := "not loaded"
		if n, ok := verified[p.Hook]; ok {
			processed = fmt.Sprint(n)
		} else if !noKernel {
			processed = "unknown"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Hook, p.Flavour.Name, rawLen(p), processed, ruleNames(out, p))
	}
	tw.Flush()
	verdict := "verified by the kernel"
	if noKernel {
		verdict = "compiled (not loaded: --no-kernel)"
	}
	fmt.Fprintf(stdout, "ok: %s in %s, %s %s\n", plural(len(rs.RuleSet.Rules), "rule"), plural(len(rs.Paths), "file"),
		plural(len(out.Programs), "program"), verdict)
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
