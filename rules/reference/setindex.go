package reference

import (
	"net/netip"
	"slices"

	"github.com/hdrlog/hdrlog/rules"
)

// Large sets.
//
// A set test scans its items (inItem) one by one: fine for the handful of
// values a rule usually lists, not for a blocklist of a million addresses,
// where a scan per packet made `hdrlog test --no-kernel` spend milliseconds
// on each frame. From indexMin items on, the evaluator answers from an
// index built once (New): exact values in hash sets, address prefixes in
// one hash set per prefix length (the address masked to each length in
// use, as an LPM lookup would), and only the ranges scanned. The answer is
// the scan's, item for item (TestSetIndexSameAsScan).

// indexMin is the number of items from which a set test uses an index.
var indexMin = 16

// setIndex is the index of one set test's items.
type setIndex struct {
	typ  rules.Type
	mask uint64
	// lens are the prefix lengths in use, and byLen the addresses (masked)
	// of each; an exact address is a prefix of full length.
	lens  []int
	byLen map[int]map[netip.Addr]struct{}
	macs  map[[6]byte]struct{}
	uints map[uint64]struct{}
	// ranges are the items of more than one value (not prefixes); items
	// all of them.
	ranges, items []rules.SetItem
}

// newSetIndex indexes the items of p.
func newSetIndex(p *rules.PredInSet) *setIndex {
	x := &setIndex{typ: p.Ref.Field.Type, mask: p.Mask, items: p.Items}
	for _, it := range p.Items {
		switch x.typ {
		case rules.TypeIPv4, rules.TypeIPv6:
			if it.IsRange() {
				x.ranges = append(x.ranges, it)
				continue
			}
			bits := int(it.Lo.Bits)
			if x.byLen == nil {
				x.byLen = map[int]map[netip.Addr]struct{}{}
			}
			m := x.byLen[bits]
			if m == nil {
				m = map[netip.Addr]struct{}{}
				x.byLen[bits] = m
				x.lens = append(x.lens, bits)
			}
			m[it.Lo.Addr()] = struct{}{}
		case rules.TypeMAC:
			if it.IsRange() {
				x.ranges = append(x.ranges, it)
				continue
			}
			if x.macs == nil {
				x.macs = map[[6]byte]struct{}{}
			}
			x.macs[it.Lo.MAC] = struct{}{}
		default:
			if it.IsRange() {
				x.ranges = append(x.ranges, it)
				continue
			}
			if x.uints == nil {
				x.uints = map[uint64]struct{}{}
			}
			x.uints[it.Lo.U] = struct{}{}
		}
	}
	slices.Sort(x.lens)
	slices.Reverse(x.lens)
	return x
}

// has reports whether v is in the set (v present), as a scan of the items
// with inItem would.
func (x *setIndex) has(f *rules.Field, v Value) bool {
	switch x.typ {
	case rules.TypeIPv4, rules.TypeIPv6:
		a := addrOf(v)
		for _, bits := range x.lens {
			if p, err := a.Prefix(bits); err == nil {
				if _, ok := x.byLen[bits][p.Addr()]; ok {
					return true
				}
			}
		}
	case rules.TypeMAC:
		if len(v.Bytes) != 6 {
			return x.scan(f, v, x.items) // no MAC field has such values
		}
		if _, ok := x.macs[[6]byte(v.Bytes)]; ok {
			return true
		}
	default:
		if _, ok := x.uints[masked(v.U, x.mask)]; ok {
			return true
		}
	}
	return x.scan(f, v, x.ranges)
}

func (x *setIndex) scan(f *rules.Field, v Value, items []rules.SetItem) bool {
	for _, it := range items {
		if inItem(f, v, x.mask, it) {
			return true
		}
	}
	return false
}

// setIndexes indexes the large set tests of rs's rules. Tests sharing
// their items (the uses of one named set on one type) share an index.
func setIndexes(rs *rules.RuleSet) map[*rules.PredInSet]*setIndex {
	type shared struct {
		items *rules.SetItem
		n     int
		mask  uint64
		typ   rules.Type
	}
	out := map[*rules.PredInSet]*setIndex{}
	byItems := map[shared]*setIndex{}
	var visit func(rules.Pred)
	visit = func(pred rules.Pred) {
		switch pred := pred.(type) {
		case *rules.PredAnd:
			for _, t := range pred.Terms {
				visit(t)
			}
		case *rules.PredOr:
			for _, t := range pred.Terms {
				visit(t)
			}
		case *rules.PredNot:
			visit(pred.X)
		case *rules.PredInSet:
			if len(pred.Items) < indexMin {
				return
			}
			k := shared{&pred.Items[0], len(pred.Items), pred.Mask, pred.Ref.Field.Type}
			if byItems[k] == nil {
				byItems[k] = newSetIndex(pred)
			}
			out[pred] = byItems[k]
		}
	}
	for _, r := range rs.Rules {
		if r.Match != nil {
			visit(r.Match)
		}
	}
	return out
}
