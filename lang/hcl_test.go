package lang

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

func hclFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "hcl", dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in testdata/hcl/%s: %v", dir, err)
	}
	return files
}

// TestParseHCLGolden: accepted HCL files parse without diagnostics into the
// tree of their .golden file, and every span agrees with the source (quoted
// strings with escapes, plain and flush heredocs).
func TestParseHCLGolden(t *testing.T) {
	parseGolden(t, hclFiles(t, "parse"), ".hcl", ParseHCL)
}

// TestHCLErrorsGolden: the rendered diagnostics of each file of
// testdata/hcl/errors, front end and checker together, as `hdrlog check`
// reports them (every error of the file at once).
func TestHCLErrorsGolden(t *testing.T) {
	for _, path := range hclFiles(t, "errors") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(path)
			f, diags := ParseHCL(name, src)
			_, cdiags := rules.Check(f)
			diags = append(diags, cdiags...)
			diags.Sort()
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			for _, d := range diags {
				if err := spanError(name, src, d.Span); err != nil {
					t.Errorf("%q: %v", d.Message, err)
				}
			}
			var b bytes.Buffer
			Sources{name: src}.RenderAll(&b, diags)
			golden(t, strings.TrimSuffix(path, ".hcl")+".golden", b.Bytes())
		})
	}
}

// TestHCLMatchErrorColumn: an error inside a match string points at the
// exact bytes in the file, whatever escapes or heredoc indentation stand
// before it.
func TestHCLMatchErrorColumn(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string // the text the error must start at: its last occurrence in src
		wantLen   int
	}{
		{"quoted", `rule "a" {` + "\n" + `  match = "tcp.dstport == == 22"` + "\n" + `  log = ["ip.src"]` + "\n}\n", "== 22", 2},
		{"escapes", `rule "a" {` + "\n" + `  match = "ip.src == 10.0.0.1 &&\t\u0020\U00000020tcp.dstport == == 22"` + "\n" + `  log = ["ip.src"]` + "\n}\n", "== 22", 2},
		{"escaped quote", `rule "a" {` + "\n" + `  match = "tcp.dstport == \"22\" && \\ udp"` + "\n" + `  log = ["ip.src"]` + "\n}\n", `\\ udp`, 2},
		{"dollar", `rule "a" {` + "\n" + `  match = "tcp.port == $${p}"` + "\n" + `  log = ["ip.src"]` + "\n}\n", "$${p}", 2},
		{"heredoc", "rule \"a\" {\n  match = <<EOT\nip.src == 10.0.0.1 &&\n   tcp.dstport == == 22\nEOT\n  log = [\"ip.src\"]\n}\n", "== 22", 2},
		{"flush heredoc", "rule \"a\" {\n  match = <<-EOT\n      ip.src == 10.0.0.1 &&\n\n        tcp.dstport == == 22\n    EOT\n  log = [\"ip.src\"]\n}\n", "== 22", 2},
		{"flush heredoc tabs", "rule \"a\" {\n  match = <<-EOT\n\t\tip.src == 10.0.0.1 &&\n\t\t\ttcp.dstport == == 22\n\tEOT\n  log = [\"ip.src\"]\n}\n", "== 22", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := ParseHCL("x.hcl", []byte(tc.src))
			if len(diags) != 1 {
				t.Fatalf("want 1 diagnostic, got %v", diags)
			}
			off := strings.LastIndex(tc.src, tc.want)
			got := diags[0].Span
			if got.Start.Offset != off || got.End.Offset != off+tc.wantLen {
				t.Errorf("span %d-%d (%v), want %d-%d: %q", got.Start.Offset, got.End.Offset, got.Start, off, off+tc.wantLen, tc.src[got.Start.Offset:got.End.Offset])
			}
			if err := spanError("x.hcl", []byte(tc.src), got); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHCLSameTreeAsDSL: a match string parses to the tree the DSL builds
// from the same text (spans aside).
func TestHCLSameTreeAsDSL(t *testing.T) {
	const match = `tcp.dstport in {22, 2222} && !(ip.src in {10.0.0.0/8, 192.168.0.1..192.168.0.9}) || tcp.flags & 0x12 == 0x12 || vlan.id#2 >= 100`
	hf, diags := ParseHCL("a.hcl", []byte(`rule "r" {`+"\n"+`  hook = "xdp"`+"\n"+`  match = "`+match+`"`+"\n"+`  log = ["ip.src", "vlan.id#2"]`+"\n}\n"))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	df, diags := ParseDSL("a.rules", []byte("rule r {\n  hook xdp\n  match "+match+"\n  log ip.src, vlan.id#2\n}\n"))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	strip := func(f *rules.File) string {
		var out []string
		for _, l := range strings.Split(dumpFile(f), "\n") {
			fields := strings.Fields(l)
			for i, w := range fields {
				if strings.Contains(w, ":") && strings.Contains(w, "-") {
					fields[i] = "@"
				}
			}
			out = append(out, strings.Join(fields, " "))
		}
		return strings.Join(out[1:], "\n") // past the file name
	}
	if h, d := strip(hf), strip(df); h != d {
		t.Errorf("HCL tree:\n%s\nDSL tree:\n%s", h, d)
	}
}

// TestParseHCLNeverPanics feeds truncations of the test files to the parser.
func TestParseHCLNeverPanics(t *testing.T) {
	files := append(hclFiles(t, "parse"), hclFiles(t, "errors")...)
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(src); i++ {
			f, diags := ParseHCL("x.hcl", src[:i])
			if f == nil {
				t.Fatalf("%s[:%d]: nil file", path, i)
			}
			for _, d := range diags {
				if strings.HasPrefix(d.Message, "internal error") {
					t.Fatalf("%s[:%d]: %s", path, i, d.Message)
				}
				if err := spanError("x.hcl", src[:i], d.Span); err != nil {
					t.Fatalf("%s[:%d]: %q: %v", path, i, d.Message, err)
				}
			}
		}
	}
}

// FuzzParseHCL: whatever the input, ParseHCL returns a file, never panics
// (no internal error), and every diagnostic points into the input.
func FuzzParseHCL(f *testing.F) {
	for _, dir := range []string{"parse", "errors"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "hcl", dir, "*.hcl"))
		for _, path := range files {
			if src, err := os.ReadFile(path); err == nil {
				f.Add(src)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := ParseHCL("f.hcl", src)
		if file == nil {
			t.Fatal("nil file")
		}
		for _, d := range diags {
			if strings.HasPrefix(d.Message, "internal error") {
				t.Fatalf("%s\n%s", d.Message, src)
			}
			if err := spanError("f.hcl", src, d.Span); err != nil {
				t.Fatalf("%q: %v\n%s", d.Message, err, src)
			}
		}
		if !diags.HasErrors() {
			rules.Check(file) // must not panic either
		}
	})
}
