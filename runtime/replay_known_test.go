package runtime_test

import (
	"bufio"
	"bytes"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// Recognisers of the known kernel divergences of
// testdata/replay/kernel-divergences.tsv: given the rule set and a frame on
// which the kernel and the reference disagree, does this documented bug
// explain it?
var knownFrameDivergences = map[string]func(rs *rules.RuleSet, p *reference.Packet) bool{}

// knownLoadDivergences recognise rule sets the kernel refuses to load.
var knownLoadDivergences = map[string]func(rs *rules.RuleSet, err error) bool{}

// explainFrame returns the known divergence that explains a disagreement on
// a frame, or "".
func explainFrame(rs *rules.RuleSet, frame []byte) string {
	p := reference.Decode(frame)
	for _, id := range sortedKeys(knownFrameDivergences) {
		if knownFrameDivergences[id](rs, p) {
			return id
		}
	}
	return ""
}

func explainLoad(rs *rules.RuleSet, err error) string {
	for _, id := range sortedKeys(knownLoadDivergences) {
		if knownLoadDivergences[id](rs, err) {
			return id
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// documentedDivergences reads the ids of kernel-divergences.tsv.
func documentedDivergences(t testing.TB) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("testdata/replay/kernel-divergences.tsv")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 4 {
			t.Fatalf("kernel-divergences.tsv: %d columns, want 4: %q", len(cols), line)
		}
		if _, err := os.Stat("testdata/replay/" + strings.TrimPrefix(cols[3], "testdata/replay/")); err != nil {
			t.Errorf("kernel-divergences.tsv: %s: regression test: %v", cols[0], err)
		}
		ids[cols[0]] = true
	}
	return ids
}

func TestKnownDivergencesDocumented(t *testing.T) {
	doc := documentedDivergences(t)
	code := map[string]bool{}
	for id := range knownFrameDivergences {
		code[id] = true
	}
	for id := range knownLoadDivergences {
		code[id] = true
	}
	for id := range doc {
		if !code[id] {
			t.Errorf("divergence %s is documented but has no recogniser in replay_known_test.go", id)
		}
	}
	for id := range code {
		if !doc[id] {
			t.Errorf("divergence %s has a recogniser but is not documented in kernel-divergences.tsv", id)
		}
	}
}
