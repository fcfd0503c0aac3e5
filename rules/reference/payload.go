package reference

import (
	"bytes"

	"github.com/hdrlog/hdrlog/rules"
)

// varSliceHolds tests a slice of a byte field of variable length
// (tcp.payload, udp.payload, frame), as rules.PredSlice says: a slice
// outside the field is empty (== and contains false, != true); a test that
// needs a byte past the first rules.PayloadWindow is false, but contains,
// which searches the part of the slice within them.
func varSliceHolds(p *rules.PredSlice, b []byte) bool {
	start, n := p.Start, p.Len
	if start < 0 {
		start += len(b)
	}
	if n == rules.SliceToEnd {
		n = len(b) - start
	}
	in := start >= 0 && n > 0 && start+n <= len(b)
	switch {
	case p.Exists:
		return in
	case !in:
		return p.Op == rules.CmpNe && !p.Int
	case !p.Int && p.Op != rules.CmpContains && n != len(p.Lit):
		// Byte strings of different lengths differ, whatever their bytes.
		return p.Op == rules.CmpNe
	}
	end := start + n
	if p.Op == rules.CmpContains && !p.Int {
		end = min(end, rules.PayloadWindow)
		return start < end && index(b[start:end], p.Lit, p.Fold)
	}
	if end > rules.PayloadWindow {
		return false // past the window: a miss
	}
	s := b[start:end]
	if p.Int {
		var v uint64
		for _, c := range s {
			v = v<<8 | uint64(c)
		}
		if p.BitTest {
			return v&p.Mask != 0
		}
		return order(masked(v, p.Mask), p.Op, p.U)
	}
	eq := equalFold(s, p.Lit, p.Fold)
	if p.Op == rules.CmpNe {
		return !eq
	}
	return eq
}

// index reports whether lit is in b, ASCII letters in either case when fold.
func index(b, lit []byte, fold bool) bool {
	for i := 0; i+len(lit) <= len(b); i++ {
		if equalFold(b[i:i+len(lit)], lit, fold) {
			return true
		}
	}
	return false
}

// equalFold compares a and b, ASCII letters in either case when fold (the
// literal of a case-insensitive pattern is lower case).
func equalFold(a, lit []byte, fold bool) bool {
	if !fold {
		return bytes.Equal(a, lit)
	}
	if len(a) != len(lit) {
		return false
	}
	for i, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}
