package lang

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the golden file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lang -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./lang -update and review the diff)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func rulesFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.rules"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in testdata/%s: %v", dir, err)
	}
	return files
}

// TestParseGolden: accepted files parse without diagnostics into the tree
// of their .golden file, and every span in it agrees with the source.
func TestParseGolden(t *testing.T) {
	parseGolden(t, rulesFiles(t, "parse"), ".rules", ParseDSL)
}

// parseGolden checks accepted files of one front end: no diagnostics, every
// span within the source, the tree equal to the file's .golden.
func parseGolden(t *testing.T, files []string, ext string, parse func(string, []byte) (*rules.File, rules.Diagnostics)) {
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(path)
			f, diags := parse(name, src)
			if len(diags) > 0 {
				var b strings.Builder
				Sources{name: src}.RenderAll(&b, diags)
				t.Fatalf("unexpected diagnostics:\n%s", b.String())
			}
			for what, s := range allSpans(f) {
				if err := spanError(name, src, s); err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
			golden(t, strings.TrimSuffix(path, ext)+".golden", []byte(dumpFile(f)))
		})
	}
}

// TestErrorsGolden: each file of testdata/errors holds one mistake; its
// .golden file is the rendered diagnostics, exactly as a user reads them
// (syntax errors, or when there are none, the checker's diagnostics).
func TestErrorsGolden(t *testing.T) {
	files := rulesFiles(t, "errors")
	if len(files) < 15 {
		t.Errorf("only %d error cases", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(path)
			f, diags := ParseDSL(name, src)
			srcs := Sources{name: src}
			if !diags.HasErrors() {
				// Named sets' element files (set_*.txt) sit beside the rules.
				sets, sdiags := ReadSetFiles(f, filepath.Dir(path))
				for p, s := range sets {
					srcs[p] = s
				}
				diags = append(diags, sdiags...)
				_, cdiags := rules.Check(f)
				diags = append(diags, cdiags...)
			}
			if len(diags) == 0 {
				t.Fatal("no diagnostics")
			}
			for _, d := range diags {
				if err := spanError(d.Span.Start.File, srcs[d.Span.Start.File], d.Span); err != nil {
					t.Errorf("%q: %v", d.Message, err)
				}
			}
			var b bytes.Buffer
			srcs.RenderAll(&b, diags)
			golden(t, strings.TrimSuffix(path, ".rules")+".golden", b.Bytes())
		})
	}
}
