package reference

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/blocklist"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// TestSetIndexSameAsScan: the index of a large set answers as the scan of
// its items does, for sets of every type (addresses with prefixes and
// ranges, MACs, integers under a mask) and for values in them, near them
// and far from them.
func TestSetIndexSameAsScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	field := func(name string) *rules.Field {
		f, ok := rules.LookupField(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		return f
	}
	// Values are drawn from a small space so that sets and packets meet.
	addr4 := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(16)), byte(rng.IntN(16))})
	}
	addr6 := func() netip.Addr {
		var b [16]byte
		b[0], b[1], b[13], b[14], b[15] = 0x20, 0x01, byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(64))
		b[8] = byte(rng.IntN(2))
		return netip.AddrFrom16(b)
	}
	mac := func() [6]byte { return [6]byte{2, 0, 0, 0, byte(rng.IntN(16)), byte(rng.IntN(64))} }
	addrItem := func(typ rules.Type, a netip.Addr, full int) rules.SetItem {
		switch rng.IntN(4) {
		case 0: // a prefix
			p, _ := a.Prefix(full - rng.IntN(full/16))
			v := rules.AddrValue(typ, p.Addr(), p.Bits())
			return rules.SetItem{Lo: v, Hi: v}
		case 1: // a range
			lo, hi := a, a
			for range rng.IntN(40) {
				hi = hi.Next()
			}
			return rules.SetItem{Lo: rules.AddrValue(typ, lo, full), Hi: rules.AddrValue(typ, hi, full)}
		}
		v := rules.AddrValue(typ, a, full)
		return rules.SetItem{Lo: v, Hi: v}
	}
	cases := []struct {
		field string
		mask  uint64
		item  func() rules.SetItem
		value func() Value
	}{
		{"ip.src", 0, func() rules.SetItem { return addrItem(rules.TypeIPv4, addr4(), 32) }, func() Value { return Value{Present: true, Bytes: addr4().AsSlice()} }},
		{"ipv6.dst", 0, func() rules.SetItem { return addrItem(rules.TypeIPv6, addr6(), 128) }, func() Value { return Value{Present: true, Bytes: addr6().AsSlice()} }},
		{"eth.src", 0, func() rules.SetItem {
			lo := mac()
			hi := lo
			if rng.IntN(4) == 0 {
				hi[5] += byte(rng.IntN(8))
			}
			return rules.SetItem{Lo: rules.Value{Type: rules.TypeMAC, MAC: lo}, Hi: rules.Value{Type: rules.TypeMAC, MAC: hi}}
		}, func() Value { m := mac(); return Value{Present: true, Bytes: m[:]} }},
		{"tcp.dstport", 0, func() rules.SetItem {
			lo := uint64(rng.IntN(2000))
			hi := lo
			if rng.IntN(4) == 0 {
				hi += uint64(rng.IntN(30))
			}
			return rules.SetItem{Lo: rules.Value{Type: rules.TypeUint, U: lo}, Hi: rules.Value{Type: rules.TypeUint, U: hi}}
		}, func() Value { return Value{Present: true, U: uint64(rng.IntN(2100))} }},
		{"tcp.dstport", 0x0ff0, func() rules.SetItem {
			v := rules.Value{Type: rules.TypeUint, U: uint64(rng.IntN(256)) << 4}
			return rules.SetItem{Lo: v, Hi: v}
		}, func() Value { return Value{Present: true, U: uint64(rng.IntN(1 << 16))} }},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%#x", c.field, c.mask), func(t *testing.T) {
			f := field(c.field)
			for trial := range 20 {
				p := &rules.PredInSet{Ref: rules.FieldRef{Field: f}, Mask: c.mask}
				for range indexMin + rng.IntN(120) {
					p.Items = append(p.Items, c.item())
				}
				x := newSetIndex(p)
				hits := 0
				for range 2000 {
					v := c.value()
					scan := false
					for _, it := range p.Items {
						if inItem(f, v, c.mask, it) {
							scan = true
							break
						}
					}
					if got := x.has(f, v); got != scan {
						t.Fatalf("trial %d: value %v %x: index says %v, the scan %v", trial, v.U, v.Bytes, got, scan)
					}
					if scan {
						hits++
					}
				}
				if hits == 0 || hits == 2000 {
					t.Fatalf("trial %d: %d hits in 2000: the values do not test the set", trial, hits)
				}
			}
		})
	}
}

// TestEvaluatorIndexesLargeSets: the evaluator answers a rule on a large
// set from an index (and one index serves both uses of a named set on one
// type), giving the events the scan gives.
func TestEvaluatorIndexesLargeSets(t *testing.T) {
	f, ok := rules.LookupField("ip.src")
	if !ok {
		t.Fatal("no ip.src")
	}
	var items []rules.SetItem
	for i := range 1000 {
		v := rules.AddrValue(rules.TypeIPv4, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
		items = append(items, rules.SetItem{Lo: v, Hi: v})
	}
	a := &rules.PredInSet{Ref: rules.FieldRef{Field: f}, Items: items, Set: "big"}
	b := &rules.PredInSet{Ref: rules.FieldRef{Field: f}, Items: items, Set: "big"}
	rs := &rules.RuleSet{Rules: []*rules.Rule{{Name: "a", Match: a}, {Name: "b", Match: &rules.PredNot{X: b}}}}
	x := setIndexes(rs)
	if len(x) != 2 || x[a] == nil || x[a] != x[b] {
		t.Fatalf("indexes %v: want one shared by both uses", x)
	}
}

// BenchmarkEvalLargeSet: one frame through a rule on a set of n IPv4
// addresses and prefixes (internal/blocklist's), answered from the index
// and by scanning the items; the frame is in no element (every element is
// looked at by the scan).
func BenchmarkEvalLargeSet(b *testing.B) {
	f, _ := rules.LookupField("ip.src")
	frame := testpkt.New().IPv4("192.0.2.9", "192.0.2.10").TCP(40000, 443).Flags(testpkt.SYN).Bytes()
	for _, n := range []int{1, 1000, 500_000} {
		var items []rules.SetItem
		for i := 0; len(items) < n; i += 2 {
			p := netip.MustParsePrefix(blocklistV4(blocklist.Element(i)))
			v := rules.AddrValue(rules.TypeIPv4, p.Addr(), p.Bits())
			items = append(items, rules.SetItem{Lo: v, Hi: v})
		}
		rs := &rules.RuleSet{Rules: []*rules.Rule{{Name: "big", Hook: rules.HookTCIngress,
			Match: &rules.PredInSet{Ref: rules.FieldRef{Field: f}, Items: items}}}}
		for _, indexed := range []bool{true, false} {
			if n < indexMin && !indexed {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/index=%v", n, indexed), func(b *testing.B) {
				saved := indexMin
				if !indexed {
					indexMin = 1 << 30
				}
				e, err := New(rs)
				indexMin = saved
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if evs := e.Eval(rs.Rules[0].Hook, frame); len(evs) != 0 {
						b.Fatal("a frame in no element matched")
					}
				}
			})
		}
	}
}

// blocklistV4 writes an address as a prefix of full length.
func blocklistV4(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	return s + "/32"
}
