package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// garbageRules is one line of n broken rules: a syntax error every ~45
// bytes of a file with no line break.
func garbageRules(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "rule r%d { match tcp.port == ) log ip.src } ", i)
	}
	return b.String()
}

// TestCheckOutputBounded: a one-line garbage file gives output that grows
// with the number of diagnostics shown (capped per file), not with the
// square of the file's size, and the error count still covers every error.
func TestCheckOutputBounded(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{400, 1600} {
		name := fmt.Sprintf("g%d.rules", n)
		writeFile(t, dir, name, garbageRules(n))
		code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", name)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1", name, code)
		}
		// 50 diagnostics of at most ~4 short lines each, and the summary.
		if len(stdout)+len(stderr) > 40_000 {
			t.Errorf("%s (%d bytes): %d bytes of output", name, len(garbageRules(n)), len(stdout)+len(stderr))
		}
		for _, want := range []string{
			fmt.Sprintf("%s: error: and %d more diagnostics in %s (%d errors, 0 warnings) not shown", name, n-50, name, n-50),
			fmt.Sprintf("hdrlog check: %d errors in rule files", n),
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: missing %q", name, want)
			}
		}
		for _, l := range strings.Split(stderr, "\n") {
			if len(l) > 300 {
				t.Fatalf("%s: a %d-byte line of output: a long source line is shown whole", name, len(l))
			}
		}
		// The machine formats are capped the same way.
		_, stdout, _ = hdrlog(t, dir, "check", "--no-kernel", "--format", "json", name)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 51 {
			t.Errorf("%s --format json: %d diagnostics, want 50 and a summary", name, len(lines))
		}
		var last jsonDiagnostic
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Line != 0 || last.Severity != "error" {
			t.Errorf("%s --format json: summary %q (%v)", name, lines[len(lines)-1], err)
		}
	}
}

// TestCaretInLongLine: on a cut source line the caret still points at the
// offending token.
func TestCaretInLongLine(t *testing.T) {
	dir := t.TempDir()
	pad := strings.Repeat("x", 500)
	writeFile(t, dir, "long.rules", "rule a { match http.host == \""+pad+"\" && tcp.dstport == == 22 log ip.src }\n")
	code, _, stderr := hdrlog(t, dir, "check", "--no-kernel", "long.rules")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	lines := strings.Split(stderr, "\n")
	for i, l := range lines {
		if !strings.Contains(l, `error: expected a value after "==", found "=="`) {
			continue
		}
		src, caret := []rune(lines[i+1]), []rune(lines[i+2])
		at := len(caret) - len([]rune(strings.TrimLeft(string(caret), " ")))
		if !strings.HasPrefix(string(src), "…") || string(src[at:at+2]) != "==" || !strings.HasPrefix(string(caret[at:]), "^~") {
			t.Fatalf("caret does not point at the second ==:\n%s\n%s", lines[i+1], lines[i+2])
		}
		return
	}
	t.Fatalf("no syntax error in\n%s", stderr)
}

// TestRuleFileNotRegular: hdrlog reads rules from regular files of bounded
// size only; a link to a device, a FIFO or a huge file is refused at once
// with a clear message (it used to read /dev/zero until out of memory, and
// wait on a FIFO forever).
func TestRuleFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.rules")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.rules"), 0o600); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(dir, "big.rules"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(maxRuleFileSize + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	for file, want := range map[string]string{
		"zero.rules": "rule file zero.rules is not a regular file (it is a character device)",
		"fifo.rules": "rule file fifo.rules is not a regular file (it is a FIFO)",
		"big.rules":  fmt.Sprintf("rule file big.rules is %d bytes, more than hdrlog reads (32 MiB)", maxRuleFileSize+1),
	} {
		code, _, stderr := hdrlog(t, dir, "check", "--no-kernel", file)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", file, code, stderr, want)
		}
	}
	// A directory holding a FIFO among its rule files: refused, not hung.
	if err := os.Remove(filepath.Join(dir, "big.rules")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.rules", "rule a { log frame.len }\n")
	code, _, stderr := hdrlog(t, dir, "check", "--no-kernel", ".")
	if code != 1 || !strings.Contains(stderr, "rule file fifo.rules is not a regular file") {
		t.Errorf("directory: exit %d, stderr %q", code, stderr)
	}
}
