package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
)

// TestGroupMapReload: two rule sets that differ only in one constant of a
// group compiled into a hash map have the same instructions (the code
// names the map, not its contents), so a reload must not keep the running
// programs and their map: UpdatableInPlace says no. The same rule set
// twice says yes.
func TestGroupMapReload(t *testing.T) {
	saved := compiler.GroupMapMin
	compiler.GroupMapMin = 8
	t.Cleanup(func() { compiler.GroupMapMin = saved })
	src := func(last int) string {
		var b strings.Builder
		for i := range 10 {
			port := 1000 + i
			if i == 9 {
				port = last
			}
			fmt.Fprintf(&b, "rule r%d {\n match ip.src == 10.0.0.%d && tcp.dstport == %d\n log ip.src\n}\n", i, i, port)
		}
		return b.String()
	}
	a := ktCompile(t, "a.rules", src(1009))
	a2 := ktCompile(t, "a.rules", src(1009))
	b := ktCompile(t, "b.rules", src(2009))
	if len(a.Programs[0].GroupMaps) != 1 {
		t.Fatalf("want one group map, got %d", len(a.Programs[0].GroupMaps))
	}
	if !compiler.UpdatableInPlace(a, a2) {
		t.Errorf("the same rules: not updatable in place")
	}
	if compiler.UpdatableInPlace(a, b) {
		t.Errorf("a changed port of a group map's rule: updatable in place (the map would keep the old port)")
	}
}
