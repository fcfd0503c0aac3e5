package main

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// maxProgramInsns is the longest program the kernel loads
// (BPF_COMPLEXITY_LIMIT_INSNS, for a privileged loader); it is also the
// verifier's budget of processed instructions.
const maxProgramInsns = 1_000_000

// programResult is what the kernel verifier said of one program.
type programResult struct {
	processed string            // the processed-instruction count, or why there is none
	diag      *rules.Diagnostic // a rejection, nil when the program loaded
}

// verifyPrograms loads each program alone into the kernel, so that one
// rejection does not hide another. A program longer than the kernel loads
// is reported without loading it, with or without the kernel. A lack of
// privileges is an error for the whole run.
func verifyPrograms(rs *rules.RuleSet, out *compiler.Output, kernel bool) ([]programResult, error) {
	var results []programResult
	for _, p := range out.Programs {
		if n := rawLen(p); n > maxProgramInsns {
			d := limitDiagnostic(rs, p.Hook, fmt.Sprintf("%d instructions, more than the kernel loads (1,000,000)", n), nil, kernel)
			results = append(results, programResult{processed: "too large", diag: &d})
			continue
		}
		if !kernel {
			results = append(results, programResult{processed: "not loaded"})
			continue
		}
		n, err := verifiedCount(out, p, 0)
		switch {
		case err == nil:
			results = append(results, programResult{processed: n})
		case errors.Is(err, runtime.ErrPrivilege):
			return nil, err
		default:
			var d rules.Diagnostic
			if kind := kernelLimit(err.Error()); kind != "" {
				d = limitDiagnostic(rs, p.Hook, kind, err, kernel)
				results = append(results, programResult{processed: "over a limit", diag: &d})
			} else {
				d = rejection(rs, err)
				results = append(results, programResult{processed: "rejected", diag: &d})
			}
		}
	}
	return results, nil
}

// verifiedCount loads one program of out and returns the number of
// instructions the verifier processed ("unknown" when the kernel does not
// say).
func verifiedCount(out *compiler.Output, p *compiler.Program, ringBytes int) (string, error) {
	// The options size the maps (transaction flows, count entries).
	one := &compiler.Output{Programs: []*compiler.Program{p}, Schema: out.Schema, Sets: out.Sets, Options: out.Options}
	// The verifier does not look into the set maps: they stay empty.
	c, err := runtime.Load(one, runtime.LoadOptions{RingBytes: ringBytes, EmptySets: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	info, err := c.Programs[p.Hook].Info()
	if err != nil {
		return "", fmt.Errorf("program info of %s: %w", p.Hook, err)
	}
	if n, ok := info.VerifiedInstructions(); ok {
		return fmt.Sprint(n), nil
	}
	return "unknown", nil
}

var ruleInError = regexp.MustCompile(`in the code of rule "([^"]+)"`)

// rejection turns a verifier rejection (formatted by runtime.Load: where,
// why, the tail of the verifier log) into a diagnostic on the rule whose
// code the verifier was checking.
func rejection(rs *rules.RuleSet, err error) rules.Diagnostic {
	msg, rest, _ := strings.Cut(err.Error(), "\n")
	d := rules.Diagnostic{Severity: rules.Error, Message: msg, Hint: rest}
	if m := ruleInError.FindStringSubmatch(msg); m != nil {
		for _, r := range rs.Rules {
			if r.Name == m[1] {
				d.Rule, d.Span = r.Name, r.Span
			}
		}
	}
	return d
}

// kernelLimit names the kernel limit a verifier rejection ran into, or ""
// when it is not a limit (then it is a compiler bug).
func kernelLimit(msg string) string {
	switch {
	case strings.Contains(msg, "BPF program is too large"):
		return "the verifier processed more than 1,000,000 instructions (its budget)"
	case strings.Contains(msg, "argument list too long"):
		return "the program is longer than the kernel loads (1,000,000 instructions)"
	case strings.Contains(msg, "stack size") && strings.Contains(msg, "Too large"), strings.Contains(msg, "stack depth"):
		return "the stack is larger than the kernel allows (512 bytes)"
	case strings.Contains(msg, "too complex"), strings.Contains(msg, "too many states"):
		return "the program is too complex for the verifier"
	case strings.Contains(msg, "bad address") && strings.Contains(msg, "verifier bug"):
		// Linux 6.18 fails with EFAULT when more than 8,192 branches wait
		// to be explored ("The sequence of 8193 jumps is too complex"), and
		// cilium/ebpf drops the verifier log of an EFAULT.
		return "the verifier gave up on it (EFAULT without a log; on Linux 6.18 most likely \"The sequence of 8193 jumps is too complex\": more than 8,192 branches pending)"
	}
	return ""
}

// ruleWeight is one rule compiled and verified alone.
type ruleWeight struct {
	rule      *rules.Rule
	insns     int
	processed string
}

// limitDiagnostic reports a program over a kernel limit, naming the rules
// that weigh most in it: each rule of the hook is compiled alone and ranked
// by its instruction count; the heaviest are verified alone too and the
// top five shown with both counts.
func limitDiagnostic(rs *rules.RuleSet, h rules.Hook, kind string, err error, kernel bool) rules.Diagnostic {
	hookRules := rs.ForHook(h)
	d := rules.Diagnostic{
		Severity: rules.Error,
		Message:  fmt.Sprintf("the %s program of %s exceeds a kernel limit: %s", h, plural(len(hookRules), "rule"), kind),
	}
	top := heaviestRules(hookRules, 5, kernel)
	var names []string
	for _, w := range top {
		if kernel {
			names = append(names, fmt.Sprintf("%s (%d instructions, %s processed)", w.rule.Name, w.insns, w.processed))
		} else {
			names = append(names, fmt.Sprintf("%s (%d instructions)", w.rule.Name, w.insns))
		}
	}
	if len(top) > 0 {
		d.Rule, d.Span = top[0].rule.Name, top[0].rule.Span
		how := "compiled and verified"
		if !kernel {
			how = "compiled"
		}
		d.Hint = "the rules that weigh most, each " + how + " alone: " + strings.Join(names, ", ") +
			"; split the rule set (run several hdrlog processes, or move rules to another hook) or simplify these rules"
	}
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		d.Hint += "\nkernel: " + first
	}
	return d
}

// heaviestRules compiles each rule alone, keeps the 4n longest programs and
// verifies them (when kernel is set), and returns the n heaviest by
// processed, then by instruction count.
func heaviestRules(rr []*rules.Rule, n int, kernel bool) []ruleWeight {
	var ws []ruleWeight
	for _, r := range rr {
		one := *r
		one.Index = 0
		out, err := compiler.Compile(&rules.RuleSet{Rules: []*rules.Rule{&one}}, compiler.Options{})
		if err != nil || len(out.Programs) != 1 {
			continue
		}
		ws = append(ws, ruleWeight{rule: r, insns: rawLen(out.Programs[0]), processed: "not verified"})
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].insns > ws[j].insns })
	ws = ws[:min(len(ws), 4*n)]
	counts := map[*rules.Rule]int{}
	for i := range ws {
		if !kernel {
			break
		}
		one := *ws[i].rule
		one.Index = 0
		out, err := compiler.Compile(&rules.RuleSet{Rules: []*rules.Rule{&one}}, compiler.Options{})
		if err != nil {
			continue
		}
		if c, err := verifiedCount(out, out.Programs[0], 1<<16); err == nil {
			ws[i].processed = c
			var v int
			if _, err := fmt.Sscan(c, &v); err == nil {
				counts[ws[i].rule] = v
			}
		} else if kernelLimit(err.Error()) != "" {
			ws[i].processed = "over the limit alone"
			counts[ws[i].rule] = maxProgramInsns + 1
		}
	}
	sort.SliceStable(ws, func(i, j int) bool {
		ci, cj := counts[ws[i].rule], counts[ws[j].rule]
		if ci != cj {
			return ci > cj
		}
		return ws[i].insns > ws[j].insns
	})
	return ws[:min(len(ws), n)]
}
