package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// frontEnd parses one rule file into the rules syntax tree.
type frontEnd func(filename string, src []byte) (*rules.File, rules.Diagnostics)

// frontEnds picks the front end by file name extension. A directory
// argument means every file in it with one of these extensions.
var frontEnds = map[string]frontEnd{
	".rules": lang.ParseDSL,
	".hcl":   lang.ParseHCL,
}

func knownExtensions() string {
	var exts []string
	for e := range frontEnds {
		exts = append(exts, e)
	}
	sort.Strings(exts)
	return strings.Join(exts, ", ")
}

// ruleSources is what a command read: every file parsed and checked
// together (rule names are unique across all of them).
type ruleSources struct {
	Paths []string
	// SetFiles are the element files of named sets the rule files read.
	SetFiles []string
	Sources  lang.Sources // file contents, to render diagnostics against
	RuleSet  *rules.RuleSet
	Diags    rules.Diagnostics // warnings (and errors, when RuleSet is nil)
}

// expandRuleArgs turns file and directory arguments into the list of rule
// files, in order, each once.
func expandRuleArgs(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			out = append(out, p)
		}
	}
	for _, arg := range args {
		if arg == stdinName {
			add(arg)
			continue
		}
		st, err := os.Stat(arg)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if looksLikeExpression(arg) {
					return nil, usagef("rule file %s does not exist; to match an expression, write -e '%s'", arg, arg)
				}
				return nil, fmt.Errorf("rule file %s does not exist", arg)
			}
			return nil, fmt.Errorf("rule file %s: %w", arg, err)
		}
		if !st.IsDir() {
			if _, ok := frontEnds[filepath.Ext(arg)]; !ok {
				return nil, fmt.Errorf("%s: unknown rule file type %q (hdrlog reads %s files)", arg, filepath.Ext(arg), knownExtensions())
			}
			add(arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("rule directory %s: %w", arg, err)
		}
		n := 0
		for _, e := range entries { // ReadDir sorts by name
			if _, ok := frontEnds[filepath.Ext(e.Name())]; ok && !e.IsDir() {
				add(filepath.Join(arg, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("directory %s holds no rule files (%s)", arg, knownExtensions())
		}
	}
	return out, nil
}

// stdinName, as a rule file argument, reads the rules (DSL) from standard
// input; diagnostics name it stdinSource.
const (
	stdinName   = "-"
	stdinSource = "<stdin>"
)

// stdin is where `-` reads rules from (a variable for the tests).
var stdin io.Reader = os.Stdin

// readRuleStdin reads rules from standard input, at most maxRuleFileSize
// bytes of them. Standard input is read once: a reload (SIGHUP, --watch)
// re-reads the rule files and keeps the rules that came from it.
func readRuleStdin() ([]byte, error) {
	stdinRules.Lock()
	defer stdinRules.Unlock()
	if stdinRules.from == stdin {
		return stdinRules.src, stdinRules.err
	}
	src, err := io.ReadAll(io.LimitReader(stdin, maxRuleFileSize+1))
	switch {
	case err != nil:
		src, err = nil, fmt.Errorf("read rules from standard input: %w", err)
	case len(src) > maxRuleFileSize:
		src, err = nil, fmt.Errorf("standard input holds more than %d MiB: is it really rules?", maxRuleFileSize>>20)
	}
	stdinRules.from, stdinRules.src, stdinRules.err = stdin, src, err
	return src, err
}

// stdinRules is what standard input (stdin, from) held.
var stdinRules struct {
	sync.Mutex
	from io.Reader
	src  []byte
	err  error
}

// watchedPaths are the rule files and directories --watch watches: the
// arguments but standard input.
func watchedPaths(args []string) []string {
	var out []string
	for _, a := range args {
		if a != stdinName {
			out = append(out, a)
		}
	}
	return out
}

// looksLikeExpression tells a filter expression given where a rule file
// was expected (`hdrlog run -i eth0 'tcp.dstport == 22'`) from a mistyped
// file name.
func looksLikeExpression(arg string) bool {
	return strings.ContainsAny(arg, " =<>!&|") && filepath.Ext(arg) == "" ||
		strings.ContainsAny(arg, "=<>&|") ||
		isField(arg)
}

func isField(name string) bool {
	_, ok := rules.LookupField(name)
	return ok
}

// ruleInput is what a command reads rules from: files and directories
// (args, "-" for standard input), and inline expressions (-e, --log).
type ruleInput struct {
	args  []string
	exprs []string
	log   string
}

// loadRules reads, parses and checks the rule files named by args. Syntax
// and type errors come back as diagnostics in a ruleSources with a nil
// RuleSet; the error is for everything else (a missing file).
func loadRules(args []string) (*ruleSources, error) {
	return loadRuleInput(ruleInput{args: args})
}

// loadRuleInput is loadRules with inline rules too.
func loadRuleInput(in ruleInput) (*ruleSources, error) {
	if len(in.args) == 0 && len(in.exprs) == 0 {
		return nil, usagef("name at least one rule file or directory, or give a rule with -e EXPR")
	}
	if in.log != "" && len(in.exprs) == 0 {
		return nil, usagef("--log names the fields of -e rules; give one with -e EXPR")
	}
	paths, err := expandRuleArgs(in.args)
	if err != nil {
		return nil, err
	}
	rs := &ruleSources{Paths: paths, Sources: lang.Sources{}}
	var files []*rules.File
	for _, p := range paths {
		var src []byte
		front := frontEnds[filepath.Ext(p)]
		if p == stdinName {
			src, err = readRuleStdin()
			p, front = stdinSource, lang.ParseDSL
		} else {
			src, err = readRuleFile(p)
		}
		if err != nil {
			return nil, err
		}
		rs.Sources[p] = src
		f, ds := front(p, src)
		rs.Diags = append(rs.Diags, ds...)
		if f != nil {
			// Named sets' element files, relative to the rule file.
			srcs, ds := lang.ReadSetFiles(f, filepath.Dir(p))
			rs.Diags = append(rs.Diags, ds...)
			for path, src := range srcs {
				rs.Sources[path] = src
				rs.SetFiles = append(rs.SetFiles, path)
			}
			files = append(files, f)
		}
	}
	files = append(files, inlineFiles(in.exprs, in.log, rs)...)
	// The front ends leave out the rules they could not read, so the checker
	// judges the others and one run reports every error.
	set, ds := rules.Check(files...)
	rs.Diags = append(rs.Diags, ds...)
	rs.Diags = rs.Diags.Capped(rules.MaxPerFile)
	if !rs.Diags.HasErrors() {
		rs.RuleSet = set
	}
	if rs.RuleSet != nil && len(rs.RuleSet.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules", strings.Join(append(paths, in.exprs...), ", "))
	}
	return rs, nil
}
