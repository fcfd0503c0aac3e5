// Command hdrlog compiles packet-header logging rules into eBPF, attaches
// them at XDP or TC, and streams the events they emit as JSON lines.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// command is one subcommand: its flags are defined on a fresh FlagSet, and
// run gets the arguments left after the flags.
type command struct {
	name    string
	args    string // argument synopsis after the flags
	summary string // one line, for `hdrlog help`
	detail  string // paragraphs for `hdrlog help CMD`
	setup   func(fs *pflag.FlagSet) func(args []string) error
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// reportedError is an error whose details have already been written (for
// instance rendered diagnostics): only the exit status is left to give.
type reportedError struct{ summary string }

func (e *reportedError) Error() string { return e.summary }

var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs a command line and returns the exit status: 0 on success, 2
// on a usage error, 1 on any other error.
func runMain(args []string) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "help":
		if len(rest) == 0 || name != "help" {
			writeUsage(stdout)
			return 0
		}
		c := lookup(rest[0])
		if c == nil {
			fmt.Fprintf(stderr, "hdrlog help: unknown command %q\n", rest[0])
			return 2
		}
		writeCommandUsage(stdout, c, newFlagSet(c))
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "hdrlog: unknown command %q%s\nRun 'hdrlog help' for the list of commands.\n", name, suggestCommand(name))
		return 2
	}
	fs := newFlagSet(c)
	run := c.setup(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			writeCommandUsage(stdout, c, fs)
			return 0
		}
		fmt.Fprintf(stderr, "hdrlog %s: %v\nRun 'hdrlog %s -h' for usage.\n", c.name, err, c.name)
		return 2
	}
	err := run(fs.Args())
	var ue *usageError
	var re *reportedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hdrlog %s: %s\nRun 'hdrlog %s -h' for usage.\n", c.name, ue.msg, c.name)
		return 2
	case errors.As(err, &re):
		if re.summary != "" {
			fmt.Fprintf(stderr, "hdrlog %s: %s\n", c.name, re.summary)
		}
		return 1
	}
	msg := oneLine(err.Error())
	if errors.Is(err, runtime.ErrPrivilege) && fs.Lookup("no-kernel") != nil {
		msg += "; without them, --no-kernel " + noKernelDoes[c.name]
	}
	fmt.Fprintf(stderr, "hdrlog %s: %s\n", c.name, msg)
	return 1
}

// noKernelDoes says what a command's --no-kernel does instead of loading,
// for the hint given to a process without the privileges to load.
var noKernelDoes = map[string]string{
	"check": "parses, type-checks and compiles the rules without the kernel verifier",
	"test":  "replays the capture through the reference evaluator instead of the kernel programs",
}

// oneLine keeps an error message to one line, unless it is one of the few
// whose later lines carry the detail (a verifier log tail).
func oneLine(msg string) string {
	if strings.Contains(msg, "verifier log") {
		return msg
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
}

func newFlagSet(c *command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("hdrlog "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are written by runMain
	fs.SortFlags = false
	return fs
}

func writeUsage(w io.Writer) {
	fmt.Fprint(w, `hdrlog compiles rules (which packet header fields to match, which to log)
into eBPF, attaches them at XDP or TC, and streams the events as JSON lines.

Usage:
  hdrlog COMMAND [flags] [arguments]

Commands:
`)
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Rule files are named one by one or by directory (every .rules and .hcl file in it).
Run 'hdrlog help COMMAND' or 'hdrlog COMMAND -h' for a command's flags.
`)
}

func writeCommandUsage(w io.Writer, c *command, fs *pflag.FlagSet) {
	if c.setup != nil && !fs.HasFlags() {
		c.setup(fs)
	}
	fmt.Fprintf(w, "Usage: hdrlog %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.detail))
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
}

func suggestCommand(name string) string {
	best, bestDist := "", 3 // suggest only within two edits
	for _, c := range commands {
		if d := rules.EditDistance(name, c.name); d < bestDist {
			best, bestDist = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
