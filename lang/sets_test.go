package lang

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		for _, e := range d.Elems {
			got = append(got, e.Lo.Text)
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
