package compiler

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/hdrlog/hdrlog/rules"
)

// Many rules.
//
// A rule set must not become a chain of per-rule compares: a packet matching
// no rule would pay for every rule. Rules that differ only in the constants
// of some equality or set tests ("key tests": field == value, field in {…},
// on integers and IPv4 addresses) and otherwise share their remaining tests
// and their log list form a group. A group compiles to
//
//   - a decision tree over the key fields: a binary search over the
//     elementary intervals of the constants (points, ranges, prefixes), so a
//     packet costs a number of compares logarithmic in the group's size, and
//   - one shared global subprogram that evaluates the rest of the match and
//     emits the event, called with the rule index at the tree's leaves.
//
// A global subprogram is verified once, whatever the number of call sites, so
// verification stays linear in the size of the tree.
//
// A large group whose constants are aligned blocks is a hash map instead of
// a tree (groupmap.go): one lookup, and code that does not grow with it.

// MinGroupSize is the smallest group compiled as a tree; smaller groups and
// rules without key tests stay in the plain chain, which is faster for them.
const MinGroupSize = 8

type interval struct{ lo, hi uint32 }

// group is a set of rules of one shape.
type group struct {
	id       int
	rules    []*rules.Rule
	dims     []rules.FieldRef
	keys     [][][]interval // per rule (position in rules), per dimension
	residual rules.Pred     // the tests all rules share; nil: none
	fn       string
	hm       *GroupMap // the group as a hash map (groupmap.go); nil: a tree
}

// unit is one step of a hook's program: a chained rule or a group.
type unit struct {
	rule  *rules.Rule
	group *group
}

// planUnits splits a hook's rules into chained rules and groups, in the order
// of their first rule.
func planUnits(rr []*rules.Rule) []unit {
	type shaped struct {
		rule     *rules.Rule
		dims     []rules.FieldRef
		keys     [][]interval
		residual []rules.Pred
	}
	bySig := map[string][]shaped{}
	gated := l7GatedRules(rr) // rules that see an L7 protocol by their ports stay chained
	var order []string
	for _, r := range rr {
		s := shaped{rule: r}
		seen := map[string]bool{}
		type dimKey struct {
			ref rules.FieldRef
			ivs []interval
		}
		var dk []dimKey
		for _, t := range conjuncts(r.Match) {
			ref, ivs, ok := keyTest(t)
			if ok && !seen[ref.String()] {
				seen[ref.String()] = true
				dk = append(dk, dimKey{ref, ivs})
				continue
			}
			s.residual = append(s.residual, t)
		}
		sort.Slice(dk, func(i, j int) bool { return dk[i].ref.String() < dk[j].ref.String() })
		var sig strings.Builder
		fmt.Fprintf(&sig, "hook=%s|log=", r.Hook)
		for _, lf := range r.Log {
			fmt.Fprintf(&sig, "%s=%s/%d/%v/%v,", lf.Name, lf.Ref, lf.MaxLen, lf.Redact, lf.MaskURL)
		}
		sig.WriteString("|dims=")
		for _, d := range dk {
			s.dims = append(s.dims, d.ref)
			s.keys = append(s.keys, d.ivs)
			fmt.Fprintf(&sig, "%s,", d.ref)
		}
		var res []string
		for _, t := range s.residual {
			res = append(res, rules.PredString(t))
		}
		sort.Strings(res)
		fmt.Fprintf(&sig, "|rest=%s", strings.Join(res, "&&"))
		key := sig.String()
		// Rules that count, sample or limit keep per-rule code and state:
		// they stay chained.
		if len(dk) == 0 || gated[r.Index] || r.Count != nil || r.Thinned() {
			key = fmt.Sprintf("chain#%d", r.Index)
		}
		if _, ok := bySig[key]; !ok {
			order = append(order, key)
		}
		bySig[key] = append(bySig[key], s)
	}
	var units []unit
	for _, key := range order {
		members := bySig[key]
		if len(members) < MinGroupSize {
			for _, m := range members {
				units = append(units, unit{rule: m.rule})
			}
			continue
		}
		g := &group{id: len(units), dims: members[0].dims}
		if res := members[0].residual; len(res) == 1 {
			g.residual = res[0]
		} else if len(res) > 1 {
			g.residual = &rules.PredAnd{Terms: res}
		}
		for _, m := range members {
			g.rules = append(g.rules, m.rule)
			g.keys = append(g.keys, m.keys)
		}
		units = append(units, unit{group: g})
	}
	// Chained rules keep their place; a group runs where its first rule was.
	sort.SliceStable(units, func(i, j int) bool { return units[i].first() < units[j].first() })
	for i, u := range units {
		if u.group != nil {
			u.group.id = i
			u.group.fn = fmt.Sprintf("hdrlog_group%d", i)
		}
	}
	return units
}

func (u unit) first() int {
	if u.rule != nil {
		return u.rule.Index
	}
	return u.group.rules[0].Index
}

func conjuncts(p rules.Pred) []rules.Pred {
	switch p := p.(type) {
	case nil:
		return nil
	case *rules.PredAnd:
		return p.Terms
	}
	return []rules.Pred{p}
}

// keyTest recognises a key test and returns the field occurrence it tests and
// the intervals of values it accepts (sorted, disjoint).
func keyTest(p rules.Pred) (rules.FieldRef, []interval, bool) {
	var ref rules.FieldRef
	var items []rules.SetItem
	switch p := p.(type) {
	case *rules.PredCompare:
		if p.Op != rules.CmpEq || p.Mask != 0 {
			return ref, nil, false
		}
		ref, items = p.Ref, []rules.SetItem{{Lo: p.Value, Hi: p.Value}}
	case *rules.PredInSet:
		if p.Mask != 0 || mapSized(p) {
			// A large set is a map lookup (sets.go), not a dimension.
			return ref, nil, false
		}
		ref, items = p.Ref, p.Items
	default:
		return ref, nil, false
	}
	if t := ref.Field.Type; t != rules.TypeUint && t != rules.TypeIPv4 {
		return ref, nil, false
	}
	var ivs []interval
	for _, it := range items {
		switch it.Lo.Type {
		case rules.TypeIPv4:
			lo := ipv4Host(it.Lo)
			hi := ipv4Host(it.Hi)
			if it.Lo.IsPrefix() {
				hi = lo | uint32(uint64(math.MaxUint32)>>uint(it.Lo.Bits))
			}
			ivs = append(ivs, interval{lo, hi})
		default:
			ivs = append(ivs, interval{uint32(it.Lo.U), uint32(it.Hi.U)})
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	merged := ivs[:0]
	for _, iv := range ivs {
		if n := len(merged); n > 0 && uint64(iv.lo) <= uint64(merged[n-1].hi)+1 {
			merged[n-1].hi = max(merged[n-1].hi, iv.hi)
			continue
		}
		merged = append(merged, iv)
	}
	return ref, merged, true
}

// segment is an elementary interval starting at lo (ending where the next
// starts) and the rules (positions in the group) whose keys hold in it.
type segment struct {
	lo    uint32
	rules []int
}

// segments sweeps the key intervals of dimension dim of the given rules.
func (gr *group) segments(dim int, set []int) []segment {
	type edge struct {
		at   uint64
		rule int
		add  bool
	}
	var edges []edge
	for _, k := range set {
		for _, iv := range gr.keys[k][dim] {
			edges = append(edges, edge{uint64(iv.lo), k, true})
			if iv.hi < math.MaxUint32 {
				edges = append(edges, edge{uint64(iv.hi) + 1, k, false})
			}
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].at < edges[j].at })
	active := map[int]int{}
	segs := []segment{{lo: 0}}
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			if edges[i].add {
				active[edges[i].rule]++
			} else if active[edges[i].rule]--; active[edges[i].rule] == 0 {
				delete(active, edges[i].rule)
			}
		}
		var rs []int
		for k := range active {
			rs = append(rs, k)
		}
		sort.Ints(rs)
		last := &segs[len(segs)-1]
		if slices.Equal(last.rules, rs) {
			continue
		}
		if uint64(last.lo) == at {
			last.rules = rs
			continue
		}
		segs = append(segs, segment{lo: uint32(at), rules: rs})
	}
	// Merge neighbours left equal by the in-place update above.
	out := segs[:1]
	for _, s := range segs[1:] {
		if slices.Equal(out[len(out)-1].rules, s.rules) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// groupCode emits a group's decision tree; it ends by jumping to end.
func (g *gen) groupCode(gr *group, end string) {
	how := "decision tree"
	if gr.hm != nil {
		how = "hash map " + gr.hm.Name
	}
	g.b.Comment("group of %d rules (%s..%s) by %s: %s", len(gr.rules), gr.rules[0].Name, gr.rules[len(gr.rules)-1].Name, refNames(gr.dims), how)
	// Every key field must be present: one test of all their facts.
	var facts uint64
	for _, d := range gr.dims {
		facts |= 1 << FactOf(d)
	}
	reg, off := g.presence()
	if facts < 1<<immFacts {
		g.b.Emit(asm.LoadMem(asm.R1, reg, off, asm.DWord), asm.And.Imm(asm.R1, int32(facts)), asm.JNE.Imm(asm.R1, int32(facts), end))
	} else {
		// Bit 31 or above: the mask in R2 (an immediate is sign-extended).
		g.b.Emit(asm.LoadMem(asm.R1, reg, off, asm.DWord), asm.LoadImm(asm.R2, int64(facts), asm.DWord))
		g.b.Emit(asm.And.Reg(asm.R1, asm.R2), asm.JNE.Reg(asm.R1, asm.R2, end))
	}
	if gr.hm != nil {
		g.groupMapCode(gr, end)
		return
	}
	all := make([]int, len(gr.rules))
	for i := range all {
		all[i] = i
	}
	g.tree(gr, 0, all, end)
}

func refNames(refs []rules.FieldRef) string {
	var s []string
	for _, r := range refs {
		s = append(s, r.String())
	}
	return strings.Join(s, ", ")
}

// The value a tree searches sits in R2 (R1 is loadValue's scratch, R3-R5 are
// free); calls at the leaves clobber it, after which the tree is done.
const rKey = asm.R2

func (g *gen) tree(gr *group, dim int, set []int, end string) {
	segs := gr.segments(dim, set)
	g.loadValue(gr.dims[dim], rKey)
	// Most packets match no rule, and most of those carry values outside
	// the span of the group's constants (rules name a site's hosts and
	// ports; traffic comes from everywhere). Two comparisons send them to
	// the end; a balanced tree would take them through log2(segments)
	// levels to its outermost leaves. Keys inside the span pay the two.
	if len(segs) > 3 {
		if len(segs[0].rules) == 0 {
			g.b.Emit(asm.JLT.Imm32(rKey, int32(segs[1].lo), end))
			segs = segs[1:]
		}
		if last := segs[len(segs)-1]; len(last.rules) == 0 {
			g.b.Emit(asm.JGE.Imm32(rKey, int32(last.lo), end))
			segs = segs[:len(segs)-1]
		}
	}
	if dim == 0 {
		// The tree itself is out of line, after the program's exit: a
		// packet outside the span runs the guards of every group one
		// after another in a few cache lines, instead of jumping over
		// each tree (thousands of rules make megabytes of code, and the
		// jumps cost more than the compares).
		body := g.b.NewLabel(gr.fn + ".tree")
		g.b.Emit(asm.Ja.Label(body))
		g.outOfLine = append(g.outOfLine, func() {
			g.b.Label(body)
			g.node(gr, dim, segs, end)
		})
		return
	}
	g.node(gr, dim, segs, end)
}

func (g *gen) node(gr *group, dim int, segs []segment, end string) {
	b := g.b
	if len(segs) == 1 {
		g.leaf(gr, dim, segs[0].rules, end)
		return
	}
	mid := len(segs) / 2
	right := b.NewLabel("ge")
	b.Emit(asm.JGE.Imm32(rKey, int32(segs[mid].lo), right))
	g.node(gr, dim, segs[:mid], end)
	b.Label(right)
	g.node(gr, dim, segs[mid:], end)
}

func (g *gen) leaf(gr *group, dim int, set []int, end string) {
	b := g.b
	if len(set) == 0 {
		b.Emit(asm.Ja.Label(end))
		return
	}
	if dim+1 < len(gr.dims) {
		g.tree(gr, dim+1, set, end)
		return
	}
	for _, k := range set {
		r := gr.rules[k]
		b.Comment("rule %s", r.Name)
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R2, int32(r.Index)))
		b.Emit(asm.Call.Label(gr.fn))
	}
	b.Emit(asm.Ja.Label(end))
}

// groupFunc emits a group's shared subprogram:
//
//	int hdrlog_groupN(ctx, u32 rule)
//
// It evaluates the tests the group's rules share, on the copy of the packet
// record in the scratch map, and emits the event of the rule it is called for.
func (g *gen) groupFunc(gr *group, schema *Schema) {
	b := g.b
	ret := b.NewLabel("ret")
	g.markPhase(PhaseGroup)
	b.Label(gr.fn)
	b.Comment("group %s: shared tests (%s) and event", gr.fn, rules.PredString(gr.residual))
	g.inFunc = true
	b.Emit(asm.Mov.Reg(rCtx, asm.R1))
	b.Comment("rule index, kept opaque to the verifier (see parseEnd)")
	b.Emit(asm.StoreMem(asm.R10, fnIndexOff, asm.R2, asm.DWord), asm.StoreImm(asm.R10, opaqueByte(fnIndexOff), 0, asm.Byte))
	g.scratchLookup(ret)
	b.Emit(asm.Mov.Reg(asm.R8, asm.R0))
	g.base, g.delta = asm.R8, g.rec.lo
	b.Emit(asm.LoadMem(rPresence, g.base, presenceOff-g.delta, asm.DWord))
	if gr.residual != nil {
		g.branch(gr.residual, ret, false)
	}
	first := gr.rules[0]
	g.emit(eventSpec{what: gr.fn, dynamic: true, schema: schema.Rules[first.Index], log: first.Log}, ret)
	b.Label(ret)
	b.Emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	g.inFunc = false
}

// opaqueByte is the stack offset of the most significant byte of the 8-byte
// slot at off.
func opaqueByte(off int16) int16 {
	if ByteOrder.Uint16([]byte{1, 0}) == 1 {
		return off + 7
	}
	return off
}

// The scratch map holds, per CPU and per hook, a copy of the packet record
// for the groups' subprograms (a global subprogram cannot see its caller's
// stack). Values read from map memory are unknown to the verifier, which
// keeps the subprograms' verification independent of the caller.
const ScratchMap = "scratch"

// scratchLookup sets R0 to this CPU's scratch record of the hook, or jumps to
// fail when the lookup fails (it cannot for an array, but the verifier asks).
func (g *gen) scratchLookup(fail string) {
	b := g.b
	key := int16(keyOff)
	if g.base == asm.R8 || g.inFunc {
		key = fnKeyOff
	}
	b.Emit(asm.StoreImm(asm.R10, key, int64(hookKey(g.hook)), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(ScratchMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
}

func hookKey(h rules.Hook) int { return int(h) }

// useScratch copies the packet record and the presence bitmap to the scratch
// map and makes the rest of the program read them there (R8).
//
// Besides serving the groups' subprograms, this keeps large programs quick
// to verify: the kernel's stack-liveness analysis (kernel/bpf/liveness.c)
// recomputes a fixed point over the whole function whenever a newly explored
// path reads a stack slot it had not seen read there, which makes
// verification time grow with the square of the program's size when every
// rule reads the record from the stack. Map memory is not tracked, so rules
// reading the scratch copy leave the analysis nothing to redo.
func (g *gen) useScratch(fail string) {
	b := g.b
	b.Comment("copy the packet record to the per-CPU scratch map; rules read it there (see useScratch)")
	g.scratchLookup(fail)
	for off := g.rec.lo; off < keyOff; off += 8 {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, off, asm.DWord), asm.StoreMem(asm.R0, off-g.rec.lo, asm.R1, asm.DWord))
	}
	b.Emit(asm.Mov.Reg(asm.R8, asm.R0))
	g.base, g.delta = asm.R8, g.rec.lo
}

// scratchSize is the bytes of scratch a program needs: its record, presence
// and the lost-counter key, laid out as on the stack.
func (g *gen) scratchSize() int { return int(-g.rec.lo) }

// BTF for the functions of a program: global functions are verified once,
// with their arguments' types, whatever calls them.
func funcBTF(name string, ctxName string, global bool) *btf.Func {
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	u32 := &btf.Int{Name: "__u32", Size: 4}
	ctx := &btf.Pointer{Target: &btf.Struct{Name: ctxName, Size: 0}}
	proto := &btf.FuncProto{Return: i32, Params: []btf.FuncParam{{Name: "ctx", Type: ctx}}}
	linkage := btf.StaticFunc
	if global {
		linkage = btf.GlobalFunc
		proto.Params = append(proto.Params, btf.FuncParam{Name: "rule", Type: u32})
	}
	return &btf.Func{Name: name, Type: proto, Linkage: linkage}
}
