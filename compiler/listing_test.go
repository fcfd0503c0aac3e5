package compiler_test

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/hdrlog/hdrlog/bpf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden listings in testdata/listings")

// TestListings compiles each testdata/listings/*.rules and compares the
// instruction listing of every program (fmt %v of asm.Instructions: labels,
// source comments, instructions) with the .golden file next to it, so that
// every change to the generated code shows up in review as a diff. Run with
// -update to rewrite the golden files.
func TestListings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "listings", "*.rules"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in testdata/listings (%v)", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".rules")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out := ktCompile(t, filepath.Base(file), string(src))
			var b bytes.Buffer
			fmt.Fprintf(&b, "; %s, compiled by TestListings (go test ./compiler -run TestListings -update)\n", filepath.Base(file))
			for _, m := range out.Sets {
				fmt.Fprintf(&b, "; %s\n", m.Describe())
			}
			for _, p := range out.Programs {
				fmt.Fprintf(&b, "\n; program %s: hook %s, %d instructions, packet record %d bytes\n",
					p.Flavour.Name, p.Hook, len(p.Insns), p.RecordSize)
				if err := bpf.WriteListing(&b, p.Insns); err != nil {
					t.Fatal(err)
				}
			}
			golden := strings.TrimSuffix(file, ".rules") + ".golden"
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("listing of %s differs from %s (run with -update and review the diff):\n%s",
					file, golden, ktFirstDiff(string(want), b.String()))
			}
		})
	}
}

// ktFirstDiff shows the first differing line of two listings, with context.
func ktFirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n\twant: %s\n\tgot:  %s", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}
