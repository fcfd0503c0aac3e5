package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// TestKernelManyRules loads one rule per expression of the full match
// matrix of a frame (about 900 rules of as many shapes, so mostly chained,
// not grouped) and checks that each fires exactly when its expression
// holds. A program this long (about 30k instructions) must still load: the
// kernel grows a program when it inlines helpers and rewrites context
// accesses, and a jump that fitted in 16 bits before may not after.
func TestKernelManyRules(t *testing.T) {
	kerneltest.Require(t)
	fr := ktBasicFrame("ipv4_tcp")
	hold, fail := ktMatrix(ktWant(fr.Want), false)
	var rs []ktRule
	holds := map[string]bool{}
	for i, e := range append(hold, fail...) {
		name := fmt.Sprintf("e%d", i)
		rs = append(rs, ktRule{Name: name, Match: e, Log: []string{"frame.len"}})
		holds[name] = i < len(hold)
	}
	k := ktLoad(t, "many", rs, ktHooks, 1<<20)
	for _, h := range ktHooks {
		t.Logf("%s: %d rules, %d instructions", h.Hook, len(rs), len(k.coll.Program(h.Hook).Insns))
		evs, err := k.run(h, fr.Bytes)
		if err != nil {
			t.Fatalf("%s: run: %v", h.Hook, err)
		}
		var wrong []string
		for _, r := range rs {
			if got := len(evs[r.Name]) == 1; got != holds[r.Name] {
				wrong = append(wrong, fmt.Sprintf("%s is %v, want %v", r.Match, got, holds[r.Name]))
			}
		}
		if len(wrong) > 0 {
			t.Errorf("%s: %d of %d rules wrong:\n\t%s", h.Hook, len(wrong), len(rs), strings.Join(wrong[:min(len(wrong), 40)], "\n\t"))
		}
	}
}
