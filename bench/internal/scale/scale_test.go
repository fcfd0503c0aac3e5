package scale

import (
	"testing"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
)

// TestRulesCheck checks that generated rule sets parse and type-check, and
// that the generator is deterministic.
func TestRulesCheck(t *testing.T) {
	for _, n := range []int{1, 10, 100, 1000} {
		src := Rules(n)
		rs, err := suite.Check("gen", src)
		if err != nil {
			t.Fatalf("%d rules: %v", n, err)
		}
		if len(rs.Rules) != n {
			t.Fatalf("%d rules: got %d", n, len(rs.Rules))
		}
		if Rules(n) != src {
			t.Fatalf("%d rules: not deterministic", n)
		}
	}
}
