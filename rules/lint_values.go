package rules

import "sort"

// Value sets for the linter: every field value (integers, booleans, IPv4
// and IPv6 addresses, MACs) maps to a 128-bit number, and a set of values is
// a sorted list of disjoint intervals, so that ==, !=, <, in {…}, prefixes
// and ranges all become interval sets and contradictions an empty
// intersection.

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool {
	return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo
}

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }

// lowOnes has the n lowest bits set (0 ≤ n ≤ 128).
func lowOnes(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{0, 1<<uint(n) - 1}
	case n == 64:
		return u128{0, ^uint64(0)}
	case n < 128:
		return u128{1<<uint(n-64) - 1, ^uint64(0)}
	}
	return u128{^uint64(0), ^uint64(0)}
}

type interval struct{ lo, hi u128 } // inclusive

// valueSet is a sorted list of disjoint, non-adjacent intervals.
type valueSet []interval

func (s valueSet) empty() bool { return len(s) == 0 }

// normalise sorts and merges intervals.
func normalise(ivs []interval) valueSet {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo.less(ivs[j].lo) })
	var out valueSet
	for _, iv := range ivs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if !last.hi.inc().less(iv.lo) || last.hi == (u128{^uint64(0), ^uint64(0)}) {
				if last.hi.less(iv.hi) {
					last.hi = iv.hi
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

func intersect(a, b valueSet) valueSet {
	var out valueSet
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := a[i].lo, a[i].hi
		if lo.less(b[j].lo) {
			lo = b[j].lo
		}
		if b[j].hi.less(hi) {
			hi = b[j].hi
		}
		if !hi.less(lo) {
			out = append(out, interval{lo, hi})
		}
		if a[i].hi.less(b[j].hi) {
			i++
		} else {
			j++
		}
	}
	return out
}

// complement is the set of values in [0, max] not in s.
func complement(s valueSet, max u128) valueSet {
	var out valueSet
	next := u128{}
	done := false
	for _, iv := range s {
		if next.less(iv.lo) {
			out = append(out, interval{next, iv.lo.dec()})
		}
		if !iv.hi.less(max) {
			done = true
			break
		}
		next = iv.hi.inc()
	}
	if !done && !max.less(next) {
		out = append(out, interval{next, max})
	}
	return out
}

func (s valueSet) contains(v u128) bool {
	for _, iv := range s {
		if !v.less(iv.lo) && !iv.hi.less(v) {
			return true
		}
	}
	return false
}

// universe is the largest value a (masked) field occurrence can take.
func universe(f *Field, mask uint64) u128 {
	if mask != 0 {
		return u128{0, mask}
	}
	switch f.Type {
	case TypeIPv4:
		return lowOnes(32)
	case TypeIPv6:
		return lowOnes(128)
	case TypeMAC:
		return lowOnes(48)
	}
	return u128{0, f.MaxValue()}
}

// valueRange is the interval a value stands for: one value, or every
// address of a prefix.
func valueRange(v Value) interval {
	var x u128
	width := 0
	switch v.Type {
	case TypeIPv4:
		b := v.Addr().As4()
		x = u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
		width = 32
	case TypeIPv6:
		b := v.Addr().As16()
		for i := 0; i < 8; i++ {
			x.hi = x.hi<<8 | uint64(b[i])
			x.lo = x.lo<<8 | uint64(b[8+i])
		}
		width = 128
	case TypeMAC:
		for _, c := range v.MAC {
			x.lo = x.lo<<8 | uint64(c)
		}
	default:
		x = u128{0, v.U}
	}
	if width > 0 && int(v.Bits) < width {
		return interval{x, x.or(lowOnes(width - int(v.Bits)))}
	}
	return interval{x, x}
}

// compareSet is the set of values v of a field for which `v op value` holds
// (clipped to [0, max]); ok is false for operators it does not model.
func compareSet(op CmpOp, value Value, max u128) (valueSet, bool) {
	r := valueRange(value)
	all := interval{u128{}, max}
	var ivs []interval
	switch op {
	case CmpEq:
		ivs = []interval{r}
	case CmpNe:
		return complement(valueSet{r}, max), true
	case CmpLt:
		if r.lo == (u128{}) {
			return nil, true
		}
		ivs = []interval{{u128{}, r.lo.dec()}}
	case CmpLe:
		ivs = []interval{{u128{}, r.hi}}
	case CmpGt:
		if !r.hi.less(max) {
			return nil, true
		}
		ivs = []interval{{r.hi.inc(), max}}
	case CmpGe:
		ivs = []interval{{r.lo, max}}
	default:
		return nil, false
	}
	return intersect(normalise(ivs), valueSet{all}), true
}

// itemsSet is the set an `in {…}` stands for.
func itemsSet(items []SetItem, max u128) valueSet {
	ivs := make([]interval, 0, len(items))
	for _, it := range items {
		lo, hi := valueRange(it.Lo), valueRange(it.Hi)
		ivs = append(ivs, interval{lo.lo, hi.hi})
	}
	return intersect(normalise(ivs), valueSet{{u128{}, max}})
}
