package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	Paths   []string
	Sources lang.Sources // file contents, to render diagnostics against
	RuleSet *rules.RuleSet
	Diags   rules.Diagnostics // warnings (and errors, when RuleSet is nil)
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
		st, err := os.Stat(arg)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
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

// loadRules reads, parses and checks the rule files named by args. Syntax
// and type errors come back as diagnostics in a ruleSources with a nil
// RuleSet; the error is for everything else (a missing file).
func loadRules(args []string) (*ruleSources, error) {
	if len(args) == 0 {
		return nil, usagef("name at least one rule file or directory")
	}
	paths, err := expandRuleArgs(args)
	if err != nil {
		return nil, err
	}
	rs := &ruleSources{Paths: paths, Sources: lang.Sources{}}
	var files []*rules.File
	for _, p := range paths {
		src, err := readRuleFile(p)
		if err != nil {
			return nil, err
		}
		rs.Sources[p] = src
		f, ds := frontEnds[filepath.Ext(p)](p, src)
		rs.Diags = append(rs.Diags, ds...)
		if f != nil {
			files = append(files, f)
		}
	}
	// The front ends leave out the rules they could not read, so the checker
	// judges the others and one run reports every error.
	set, ds := rules.Check(files...)
	rs.Diags = append(rs.Diags, ds...)
	rs.Diags = rs.Diags.Capped(rules.MaxPerFile)
	if !rs.Diags.HasErrors() {
		rs.RuleSet = set
	}
	if rs.RuleSet != nil && len(rs.RuleSet.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules", strings.Join(paths, ", "))
	}
	return rs, nil
}
