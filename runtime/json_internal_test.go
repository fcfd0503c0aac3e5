package runtime

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
)

// The IPv4 appender is a table look-up per byte; netip is the reference.
func TestAppendValueIPv4(t *testing.T) {
	slot := &compiler.FieldSlot{Render: compiler.RenderIPv4}
	r := rand.New(rand.NewPCG(1, 2))
	addrs := [][4]byte{{0, 0, 0, 0}, {255, 255, 255, 255}, {10, 0, 9, 100}, {1, 22, 199, 200}}
	for range 10000 {
		var a [4]byte
		for i := range a {
			a[i] = byte(r.UintN(256))
		}
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		got := string(AppendValue(nil, &Value{Slot: slot, Present: true, Bytes: a[:]}))
		if want := `"` + netip.AddrFrom4(a).String() + `"`; got != want {
			t.Fatalf("%v: got %s, want %s", a, got, want)
		}
	}
}
