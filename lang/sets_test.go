package lang

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/rules"
)

// TestReadSetFilesGzip reads a set file whose name ends in .gz as
// gzip-compressed, and reports one that is not compressed with the set's
// name and the file, never a panic.
func TestReadSetFilesGzip(t *testing.T) {
	dir := t.TempDir()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("# feed\n192.0.2.1\n198.51.100.0/24 # a network\n\n2001:db8::/32\n"))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "feed.txt.gz"), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain.gz"), []byte("192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := "set feed file \"feed.txt.gz\"\nset plain file \"plain.gz\"\n" +
		"rule r {\n    match ip.src in $feed || ipv6.src in $feed\n    log ip.src\n}\n"
	f, diags := ParseDSL(filepath.Join(dir, "r.rules"), []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, diags = ReadSetFiles(f, dir)
	var got []string
	for _, d := range f.Sets {
		if d.Name != "feed" {
			continue
		}
		var lo, hi rules.Literal
		for i := range d.Len() {
			got = append(got, d.Elem(i, &lo, &hi).Lo.Text)
		}
	}
	if want := "192.0.2.1 198.51.100.0/24 2001:db8::/32"; strings.Join(got, " ") != want {
		t.Errorf("elements of feed.txt.gz: %q, want %q", strings.Join(got, " "), want)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Message, "cannot read the elements of set plain") ||
		!strings.Contains(diags[0].Message, "gzip") || !strings.Contains(diags[0].Hint, ".gz") {
		t.Errorf("diagnostics: %v, want one saying plain.gz is not gzip", diags)
	}
}

// TestReadSetFilesRefusesNonRegular: a set file behind /dev/zero or a FIFO
// is refused at once, with the set's name and a hint, rather than read
// until memory runs out or waited on forever.
func TestReadSetFilesRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zero.txt", "fifo.txt"} {
		src := "set s file \"" + name + "\"\nrule r {\n    match ip.src in $s\n    log ip.src\n}\n"
		f, diags := ParseDSL(filepath.Join(dir, "r.rules"), []byte(src))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		done := make(chan rules.Diagnostics, 1)
		go func() { _, d := ReadSetFiles(f, dir); done <- d }()
		select {
		case diags = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadSetFiles still reading after 10 s", name)
		}
		if len(diags) != 1 || !strings.Contains(diags[0].Message, "cannot read the elements of set s") ||
			!strings.Contains(diags[0].Message, "not a regular file") || !strings.Contains(diags[0].Hint, "regular file") {
			t.Errorf("%s: diagnostics %v, want one saying it is not a regular file", name, diags)
		}
	}
}

// TestSetFileQuotedLines: a line of a set file that starts with a double
// quote is a string with its escapes (spaces, # and quotes inside), which
// a comment may follow; a string left open or followed by more is an
// error at its line and column.
func TestSetFileQuotedLines(t *testing.T) {
	src := "# user agents\n" +
		"\"Mozilla/5.0 (X11; Linux x86_64)\"   # a browser\n" +
		"  \"curl/8.5.0\"\n" +
		"\"with \\\"quotes\\\" and # hash\\x41\"\n" +
		"plain-word\n" +
		"\"left open\n" +
		"\"x\" junk\n"
	fe, diags := ParseSetElems("ua.txt", []byte(src))
	d := &rules.SetDecl{Name: "ua", File: "ua.txt", FileElems: fe}
	var got []string
	var lo, hi rules.Literal
	for i := range d.Len() {
		el := d.Elem(i, &lo, &hi)
		got = append(got, fmt.Sprintf("%s@%d:%d", el.Lo.Text, el.Lo.Span.Start.Line, el.Lo.Span.Start.Column))
	}
	want := []string{"Mozilla/5.0 (X11; Linux x86_64)@2:1", "curl/8.5.0@3:3", `with "quotes" and # hashA@4:1`, "plain-word@5:1"}
	if !slices.Equal(got, want) {
		t.Errorf("elements %q, want %q", got, want)
	}
	var ds []string
	for _, d := range diags {
		ds = append(ds, fmt.Sprintf("%d:%d %s", d.Span.Start.Line, d.Span.Start.Column, d.Message))
	}
	if wantD := []string{"6:1 not a string: \"left open", `7:5 one element per line: "junk" follows the string`}; !slices.Equal(ds, wantD) {
		t.Errorf("diagnostics %q, want %q", ds, wantD)
	}
}
