package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// docFlag is a flag of a command as docs/options.md documents it.
type docFlag struct{ cmd, flag string }

var (
	docCode      = regexp.MustCompile("`[^`]*`")
	docFlagToken = regexp.MustCompile(`(?:^|[\s,])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b`)
	docHeadCmds  = regexp.MustCompile(`\(([a-z, ]+)\)\s*$`)
)

// parseOptionsDoc reads docs/options.md: the flags its tables document, per
// command (the table's "commands" column, or the commands its section's
// heading names in parentheses; "all" is every command), and the flags its
// examples use, per command (indented lines that run `hdrlog COMMAND`, with
// a trailing backslash continuing a line).
func parseOptionsDoc(t *testing.T, text string, all []string) (documented, examples map[docFlag][]int) {
	t.Helper()
	documented, examples = map[docFlag][]int{}, map[docFlag][]int{}
	var headCmds []string
	cmdCol := -1
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "## "):
			headCmds = nil
			if m := docHeadCmds.FindStringSubmatch(line); m != nil {
				headCmds = splitCmds(m[1], all)
			}
			cmdCol = -1
		case strings.HasPrefix(line, "| flag |"):
			cmdCol = slices.Index(tableCells(line), "commands")
		case strings.HasPrefix(line, "| `-"):
			cells := tableCells(line)
			cmds := headCmds
			if cmdCol >= 0 && cmdCol < len(cells) {
				cmds = splitCmds(cells[cmdCol], all)
			}
			if len(cmds) == 0 {
				t.Errorf("docs/options.md:%d: a flag row that names no command (no commands column, none in the heading)", i+1)
			}
			for _, code := range docCode.FindAllString(cells[0], -1) {
				for _, m := range docFlagToken.FindAllStringSubmatch(strings.Trim(code, "`"), -1) {
					for _, c := range cmds {
						documented[docFlag{c, m[1]}] = append(documented[docFlag{c, m[1]}], i+1)
					}
				}
			}
		case strings.HasPrefix(line, "    "):
			n := i + 1
			for strings.HasSuffix(strings.TrimSpace(line), `\`) && i+1 < len(lines) {
				i++
				line = strings.TrimSuffix(strings.TrimSpace(line), `\`) + " " + lines[i]
			}
			words := strings.Fields(line)
			for j, w := range words {
				if !strings.HasSuffix(w, "hdrlog") || j+1 >= len(words) || !slices.Contains(all, words[j+1]) {
					continue
				}
				for _, a := range words[j+2:] {
					if a == "|" || a == "&&" || a == ";" || strings.HasPrefix(a, "#") {
						break
					}
					if f, _, _ := strings.Cut(a, "="); strings.HasPrefix(f, "-") && f != "-" {
						examples[docFlag{words[j+1], f}] = append(examples[docFlag{words[j+1], f}], n)
					}
				}
			}
		}
	}
	return documented, examples
}

func tableCells(line string) []string {
	line = strings.ReplaceAll(line, `\|`, "\x00") // an escaped | inside a cell
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range cells {
		cells[i] = strings.ReplaceAll(strings.TrimSpace(cells[i]), "\x00", "|")
	}
	return cells
}

func splitCmds(s string, all []string) []string {
	var cmds []string
	for _, c := range strings.Split(s, ",") {
		switch c = strings.TrimSpace(c); {
		case c == "all":
			cmds = append(cmds, all...)
		case slices.Contains(all, c):
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// TestOptionsDocumented holds docs/options.md to the flags the commands
// define: every flag of every command is in one of its tables for that
// command and is used in an example running that command; every flag a
// table documents for a command is one the command has.
func TestOptionsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/options.md")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	defined := map[docFlag]bool{}
	for _, c := range commands {
		all = append(all, c.name)
		fs := newFlagSet(c)
		c.setup(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			defined[docFlag{c.name, "--" + f.Name}] = true
			if f.Shorthand != "" {
				defined[docFlag{c.name, "-" + f.Shorthand}] = true
			}
		})
	}
	if len(defined) < 40 {
		t.Fatalf("found only %d flags in %d commands: the commands are not registered as expected", len(defined), len(all))
	}
	documented, examples := parseOptionsDoc(t, string(raw), all)
	var missing []string
	for _, c := range commands {
		fs := newFlagSet(c)
		c.setup(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			long, short := docFlag{c.name, "--" + f.Name}, docFlag{c.name, "-" + f.Shorthand}
			if documented[long] == nil {
				missing = append(missing, fmt.Sprintf("hdrlog %s --%s: in no table of docs/options.md that names %s", c.name, f.Name, c.name))
			}
			if examples[long] == nil && (f.Shorthand == "" || examples[short] == nil) {
				missing = append(missing, fmt.Sprintf("hdrlog %s --%s: no example runs hdrlog %s with it", c.name, f.Name, c.name))
			}
		})
	}
	for k, lines := range documented {
		if !defined[k] {
			missing = append(missing, fmt.Sprintf("docs/options.md:%d documents %s for hdrlog %s, which has no such flag", lines[0], k.flag, k.cmd))
		}
	}
	for k, lines := range examples {
		if !defined[k] {
			missing = append(missing, fmt.Sprintf("docs/options.md:%d runs hdrlog %s with %s, which it does not take", lines[0], k.cmd, k.flag))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

// The check itself: a table row or an example missing, or naming a flag
// the command lacks, is reported.
func TestOptionsDocParse(t *testing.T) {
	doc := "## Things (run, test)\n\n| flag | meaning |\n| --- | --- |\n| `-c, --count N` | stop |\n\n" +
		"## More\n\n| flag | commands | meaning |\n| --- | --- | --- |\n| `--schema ecs` | test | names |\n| `--strict a\\|b` | all | x |\n\n" +
		"    sudo hdrlog run -i eth0 \\\n        -c 3 --duration=5s # -x\n    hdrlog run -i x | tee x -v\n    hdrlog test -r x.pcap -\n"
	documented, examples := parseOptionsDoc(t, doc, []string{"run", "test", "check"})
	wantDoc := map[docFlag]bool{{"run", "-c"}: true, {"run", "--count"}: true, {"test", "-c"}: true, {"test", "--count"}: true,
		{"test", "--schema"}: true, {"run", "--strict"}: true, {"test", "--strict"}: true, {"check", "--strict"}: true}
	if len(documented) != len(wantDoc) {
		t.Errorf("documented %v, want %v", documented, wantDoc)
	}
	for k := range wantDoc {
		if documented[k] == nil {
			t.Errorf("%v not documented; got %v", k, documented)
		}
	}
	// -x after # is a comment, -v after | another program's flag.
	wantEx := map[docFlag][]int{{"run", "-i"}: {14, 16}, {"run", "-c"}: {14}, {"run", "--duration"}: {14}, {"test", "-r"}: {17}}
	if len(examples) != len(wantEx) {
		t.Errorf("examples %v, want %v", examples, wantEx)
	}
	for k, n := range wantEx {
		if !slices.Equal(examples[k], n) {
			t.Errorf("example of %v at %v, want lines %v", k, examples[k], n)
		}
	}
}
