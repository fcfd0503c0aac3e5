package runtime_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regression cases: every disagreement the differential tests found, reduced
// to a rule file and a few frames, in testdata/replay/regress/*.txt:
//
//	# what it is about
//	-- rules --
//	rule a { ... }
//	-- frames --
//	hex of frame 1
//	hex of frame 2
//	-- want --
//	the events in the compact form of compact()
//	-- bug --
//	id in kernel-divergences.tsv, while the kernel is known to disagree
//
// The reference must print want; the kernel too, unless the case names a
// bug.

func TestRegressions(t *testing.T) {
	documented := documentedDivergences(t)
	files, err := filepath.Glob("testdata/replay/regress/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no regression cases")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			sections := readSections(t, path)
			var frames [][]byte
			for _, line := range strings.Split(sections["frames"], "\n") {
				if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				b, err := hex.DecodeString(line)
				if err != nil {
					t.Fatalf("frames: %v", err)
				}
				frames = append(frames, b)
			}
			checkCase(t, sections["rules"], frames, sections["want"], strings.TrimSpace(sections["bug"]), documented)
		})
	}
}

// readSections splits a file into its "-- name --" sections; text before the
// first is a comment.
func readSections(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") {
			name = strings.TrimSuffix(strings.TrimPrefix(l, "-- "), " --")
			sections[name] = ""
			continue
		}
		if name != "" {
			sections[name] += line
		}
	}
	for _, want := range []string{"rules", "frames", "want"} {
		if _, ok := sections[want]; !ok {
			t.Fatalf("%s: no %q section", path, want)
		}
	}
	return sections
}
