package compiler

import (
	"slices"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Early exit from the parser.
//
// A rule can hold only when certain headers are present: `udp.port == 53`
// needs the UDP fact, `tcp.port == 22 || udp.port == 53` needs TCP or UDP.
// The parser is generated in code order, and a backward jump in it carries
// no fact not also set before its target: the IPv6 extension-header loop sets
// none, and the out-of-line VLAN-in-metadata block sets only facts the in-line
// tags set before .l3. So at each place the parser gives up, the facts set by
// the instructions generated before that place are all the facts the packet
// can have (TestEarlyExitsAreSound checks every exit on every path). When no rule of the hook can hold with those, the parser
// jumps straight to the epilogue instead of its end: no presence spill, no
// rule tests. On a DNS-only rule set a TCP packet leaves right at the
// transport dispatch, as a hand-written program would.

const epilogue = ".epilogue"

// maxAlts bounds the alternatives kept per rule; beyond it they fold into
// their intersection (a weaker need: still sound).
const maxAlts = 16

// factNeeds returns the alternatives of fact sets under which p can evaluate
// to want: p == want implies that all facts of at least one alternative are
// present. An empty result means p never evaluates to want; a zero
// alternative means it can with no header at all.
func factNeeds(p rules.Pred, want bool) []uint64 {
	switch p := p.(type) {
	case nil:
		return []uint64{0}
	case *rules.PredAnd:
		if want {
			return productNeeds(p.Terms, true)
		}
		return unionNeeds(p.Terms, false)
	case *rules.PredOr:
		if want {
			return unionNeeds(p.Terms, true)
		}
		return productNeeds(p.Terms, false)
	case *rules.PredNot:
		return factNeeds(p.X, !want)
	case *rules.PredConst:
		if p.Value == want {
			return []uint64{0}
		}
		return nil
	}
	// Leaves hold only when their field is present; they can be false on
	// any packet.
	if !want {
		return []uint64{0}
	}
	var ref rules.FieldRef
	switch p := p.(type) {
	case *rules.PredFieldCompare:
		// Both sides are header fields (the checker refuses string pairs).
		return []uint64{1<<FactOf(p.Left) | 1<<FactOf(p.Right)}
	case *rules.PredExists:
		ref = p.Ref
	case *rules.PredCompare:
		ref = p.Ref
	case *rules.PredInSet:
		ref = p.Ref
	case *rules.PredBitTest:
		ref = p.Ref
	case *rules.PredText:
		ref = p.Ref
	case *rules.PredTextSet:
		ref = p.Ref
	case *rules.PredSlice:
		ref = p.Ref
	case *rules.PredLen:
		ref = p.Ref
	default:
		return []uint64{0}
	}
	if d := ref.Field.Header.Def(); d.Len == rules.LenL7 {
		// L7 facts are set after the transport header's: the rule needs
		// one of the transports the table carries the protocol on.
		var alts []uint64
		for _, l := range d.Under {
			alts = append(alts, 1<<l.Parent.Def().Fact)
		}
		return alts
	}
	return []uint64{1 << FactOf(ref)}
}

func unionNeeds(terms []rules.Pred, want bool) []uint64 {
	var out []uint64
	for _, t := range terms {
		out = append(out, factNeeds(t, want)...)
	}
	return minimalNeeds(out)
}

func productNeeds(terms []rules.Pred, want bool) []uint64 {
	out := []uint64{0}
	for _, t := range terms {
		alts := factNeeds(t, want)
		var next []uint64
		for _, a := range out {
			for _, b := range alts {
				next = append(next, a|b)
			}
		}
		out = minimalNeeds(next)
	}
	return out
}

// minimalNeeds drops alternatives that include another one and folds more
// than maxAlts into their intersection.
func minimalNeeds(alts []uint64) []uint64 {
	slices.Sort(alts)
	alts = slices.Compact(alts)
	var out []uint64
	for i, a := range alts {
		implied := false
		for j, b := range alts {
			if j != i && a&b == b {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, a)
		}
	}
	if len(out) > maxAlts {
		meet := out[0]
		for _, a := range out[1:] {
			meet &= a
		}
		out = []uint64{meet}
	}
	return out
}

// planEarlyExit records what the hook's rules need, or nothing when some rule
// can hold on any frame (then every parser path must reach the rules).
func (g *gen) planEarlyExit(rr []*rules.Rule) {
	g.factsSet = 1 << FactFrame
	g.ruleNeeds = nil
	if len(rr) == 0 {
		return
	}
	var all []uint64
	for _, r := range rr {
		alts := factNeeds(r.Match, true)
		for i := range alts {
			// The process fields are found after the parser's last stop.
			alts[i] &^= 1 << rules.FactProc
		}
		for _, a := range alts {
			if a&^(1<<FactFrame) == 0 {
				return
			}
		}
		all = append(all, alts...)
	}
	g.ruleNeeds = all
}

// stop is where the parser goes when it gives up here: its end, or the
// epilogue when no rule can hold on the facts set so far.
func (g *gen) stop() string {
	if g.ruleNeeds == nil {
		return parseDone
	}
	for _, a := range g.ruleNeeds {
		if a&^g.factsSet == 0 {
			return parseDone
		}
	}
	return epilogue
}

// setFact emits the instruction that sets fact's presence bit. A fact of
// bit 31 or above takes R1 (a 32-bit immediate is sign-extended): the
// parser sets facts where R1 is free.
func (g *gen) setFact(fact int) {
	if fact >= immFacts {
		g.b.Emit(asm.LoadImm(asm.R1, 1<<fact, asm.DWord), asm.Or.Reg(rPresence, asm.R1))
	} else {
		g.b.Emit(asm.Or.Imm(rPresence, 1<<fact))
	}
	g.factsSet |= 1 << fact
}
