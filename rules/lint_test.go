package rules_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// -update rewrites the golden files; the flag may be defined by another
// test file of the package already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

func updating() bool { return flag.Lookup("update").Value.String() == "true" }

// TestLintGolden: each file of testdata/lint holds one suspicious rule (or a
// few); its .golden file is the rendered warnings, exactly as a user reads
// them. clean.rules must give none.
func TestLintGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "lint", "*.rules"))
	if err != nil || len(files) < 15 {
		t.Fatalf("lint cases: %d, %v", len(files), err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(path)
			f, diags := lang.ParseDSL(name, src)
			if len(diags) > 0 {
				t.Fatalf("parse: %v", diags)
			}
			rs, diags := rules.Check(f)
			if rs == nil || diags.HasErrors() {
				t.Fatalf("check: %v", diags)
			}
			var b bytes.Buffer
			lang.Sources{name: src}.RenderAll(&b, diags)
			if name == "clean.rules" {
				if len(diags) > 0 {
					t.Fatalf("warnings for legal rules:\n%s", b.String())
				}
				return
			}
			if len(diags.Warnings()) == 0 {
				t.Fatal("no warning")
			}
			golden := strings.TrimSuffix(path, ".rules") + ".golden"
			if updating() {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./rules -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs (run go test ./rules -update and review the diff)\n--- got\n%s--- want\n%s", golden, b.Bytes(), want)
			}
		})
	}
}

// TestLintBudget: a match whose alternatives multiply past the search budget
// gives no warning (the linter assumes it can hold) and returns quickly.
func TestLintBudget(t *testing.T) {
	var terms []string
	for i := 0; i < 40; i++ {
		terms = append(terms, fmt.Sprintf("(ip.ttl != %d || ip.id != %d)", i, i))
	}
	// Never holds (IPv4 fields and ICMPv6), but only the last term says so:
	// the search would try 2^40 alternatives.
	src := "rule a { match " + strings.Join(terms, " && ") + " && icmpv6 log ip.src }"
	f, diags := lang.ParseDSL("a.rules", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if rs == nil || len(diags) > 0 {
		t.Fatalf("want no diagnostic past the budget, got %v", diags)
	}
}
