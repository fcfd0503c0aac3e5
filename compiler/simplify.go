package compiler

import "github.com/hdrlog/hdrlog/rules"

// simplify folds the tests whose outcome the compiler knows in advance (a
// value outside the field's bits or the mask, an empty mask) and the
// constants they make, so no code is generated that could never run: the
// verifier rejects unreachable instructions. It returns nil for a match that
// always holds; callers drop rules whose match is the constant false.
func simplify(p rules.Pred) rules.Pred {
	switch p := p.(type) {
	case nil:
		return nil
	case *rules.PredAnd:
		var terms []rules.Pred
		for _, t := range p.Terms {
			t = simplify(t)
			switch c := t.(type) {
			case nil:
				continue
			case *rules.PredConst:
				if !c.Value {
					return c
				}
				continue
			}
			terms = append(terms, t)
		}
		switch len(terms) {
		case 0:
			return nil
		case 1:
			return terms[0]
		}
		return &rules.PredAnd{Terms: terms}
	case *rules.PredOr:
		var terms []rules.Pred
		for _, t := range p.Terms {
			t = simplify(t)
			switch c := t.(type) {
			case nil:
				return nil
			case *rules.PredConst:
				if c.Value {
					return nil
				}
				continue
			}
			terms = append(terms, t)
		}
		switch len(terms) {
		case 0:
			return &rules.PredConst{Value: false}
		case 1:
			return terms[0]
		}
		return &rules.PredOr{Terms: terms}
	case *rules.PredNot:
		x := simplify(p.X)
		switch c := x.(type) {
		case nil:
			return &rules.PredConst{Value: false}
		case *rules.PredConst:
			if c.Value {
				return &rules.PredConst{Value: false}
			}
			return nil
		}
		return &rules.PredNot{X: x}
	case *rules.PredConst:
		if p.Value {
			return nil
		}
		return p
	case *rules.PredCompare:
		if p.Op == rules.CmpEq || p.Op == rules.CmpNe {
			if !canEqual(p.Ref, p.Mask, p.Value) {
				if p.Op == rules.CmpEq {
					return &rules.PredConst{Value: false}
				}
				// != holds whenever the field is present.
				return &rules.PredExists{Ref: p.Ref}
			}
		}
	case *rules.PredBitTest:
		if effectiveMask(p.Ref, p.Mask) == 0 {
			return &rules.PredConst{Value: false}
		}
	}
	return p
}

// canEqual reports whether (field & mask) can equal v at all.
func canEqual(ref rules.FieldRef, mask uint64, v rules.Value) bool {
	f := ref.Field
	if f.Type != rules.TypeUint && f.Type != rules.TypeBool {
		return true
	}
	if f.Type == rules.TypeBool && mask == 0 {
		return v.U <= 1
	}
	if mask != 0 && v.U&^mask != 0 {
		return false
	}
	return v.U <= f.MaxValue()
}

// effectiveMask is the part of a bit-test mask the field can have set.
func effectiveMask(ref rules.FieldRef, mask uint64) uint64 {
	if mask == 0 {
		return ^uint64(0)
	}
	f := ref.Field
	max := f.MaxValue()
	if f.Scale > 1 {
		return mask // scaled values: bits are not contiguous; keep the test
	}
	// Every value up to max may occur: any mask bit at or below max's top bit.
	top := uint64(1)
	for top <= max && top != 0 {
		top <<= 1
	}
	return mask & (top - 1)
}
