package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/compiler"
)

func init() {
	register(&command{
		name:    "compile",
		args:    "[flags] FILE|DIR...",
		summary: "print the annotated eBPF listing of rule files",
		detail: `
Compile prints the eBPF program of every hook the rules use, in the C-like
syntax of bpftool and llvm-objdump, with its labels and the comments the
compiler attached: each part names the rule and the predicate it serves.
Nothing is loaded into the kernel.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			wakeup := fs.String("wakeup-bytes", "64K", "ring-buffer fill level from which an event wakes the reader (as in run)")
			return func(args []string) error {
				wb, err := parseSize("--wakeup-bytes", *wakeup)
				if err != nil {
					return err
				}
				return runCompile(args, compiler.Options{WakeupBytes: wb})
			}
		},
	})
}

func runCompile(args []string, opts compiler.Options) error {
	_, out, err := loadAndCompile(stderr, args, opts)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	groupMaps := 0
	for _, m := range out.Sets {
		fmt.Fprintf(w, "; %s\n", m.Describe())
	}
	for _, p := range out.Programs {
		for _, m := range p.GroupMaps {
			fmt.Fprintf(w, "; %s\n", m.Describe())
			groupMaps++
		}
	}
	if len(out.Sets)+groupMaps > 0 {
		fmt.Fprintln(w)
	}
	for i, p := range out.Programs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "; program %s, hook %s: %d instructions, %d-byte packet record\n", p.Flavour.Name, p.Hook, rawLen(p), p.RecordSize)
		for _, r := range p.Rules {
			rs := out.Schema.Rules[r]
			fmt.Fprintf(w, ";   rule %s: %d-byte events\n", rs.Name, rs.EventSize)
		}
		if err := bpf.WriteListing(w, p.Insns); err != nil {
			return err
		}
	}
	return w.Flush()
}
