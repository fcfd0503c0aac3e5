package compiler

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Groups as hash maps.
//
// A group's decision tree costs code in proportion to its rules: some 25
// instructions a rule, so that 100,000 rules of a few shapes make a program
// of 2.6 million instructions, and the kernel loads at most one million. A
// large group whose key tests all name aligned blocks of values (exact
// values, and prefixes of one length per field, as in `ip.src == 10.1.2.3
// && tcp.dstport in {22, 80}` or `ip.dst in {10.1.2.0/24} && udp.dstport
// == 53`) compiles into a hash map instead:
//
//   - the key is the packet's values of the group's fields, each with the
//     low bits below the field's block size cleared (none for exact values,
//     the host part for /24 prefixes), as u32s in host order;
//   - the value lists the rules (their indices) whose keys hold for that
//     block, in rule order, up to GroupMapMaxRules of them;
//   - the code loads the fields, looks the key up, and calls the group's
//     shared subprogram with each rule index the value lists: the same
//     subprogram, events, names and counters as from the tree's leaves.
//
// The program's size then no longer depends on the group's size. The guards
// stay as for a tree (the key fields' presence, the span of the first
// field's constants), so a packet outside the group's span costs the same;
// one inside it pays a hash lookup instead of the tree's compares.

// GroupMapMin is the number of rules from which a group that qualifies
// compiles into a hash map rather than a decision tree. Below it a tree's
// compares cost less than a lookup for packets inside the group's span
// (measured with `benchreport -only scale -group-map-min N`; docs/volume.md).
var GroupMapMin = 4096

// GroupMapMaxRules is the most rules one key of a group map may select;
// a group where more rules share one block stays a tree.
const GroupMapMaxRules = 8

// groupMapMaxPerRule bounds the map's entries per rule (a rule whose blocks
// multiply out to more, e.g. a port range of thousands, leaves the group a
// tree), groupMapMaxEntries the map's size.
const (
	groupMapMaxPerRule = 256
	groupMapMaxEntries = 1 << 22
)

// GroupMap is a group of rules compiled into a hash map: what the loader
// creates and fills.
type GroupMap struct {
	// Name is the map's name in the collection.
	Name string
	// Fields are the key fields, in key order, and Shift the low bits
	// cleared in each (the block size's log).
	Fields []string
	Shift  []int
	// KeySize and ValueSize are the bytes of one key and one value; Keys
	// and Values hold them one after another, sorted by key. A value is
	// GroupMapMaxRules-or-fewer u32 rule indices, unused ones ^0.
	KeySize, ValueSize int
	Keys, Values       []byte
	// Rules is the number of rules of the group.
	Rules int
}

// Len is the number of entries.
func (m *GroupMap) Len() int { return len(m.Keys) / m.KeySize }

// Describe is one line on the map for listings.
func (m *GroupMap) Describe() string {
	return fmt.Sprintf("map %s: hash of %d keys (%v, low bits cleared %v) selecting %d rules, up to %d a key",
		m.Name, m.Len(), m.Fields, m.Shift, m.Rules, m.ValueSize/4)
}

// planGroupMap decides whether a group compiles into a hash map, and if so
// computes its contents. It returns nil for a tree.
func planGroupMap(gr *group, hookNum int) *GroupMap {
	if len(gr.rules) < GroupMapMin || len(gr.dims)*4 > 24 {
		return nil
	}
	// Per field, the largest block size that divides every interval's ends.
	shift := make([]int, len(gr.dims))
	for d := range gr.dims {
		shift[d] = 32
		for _, k := range gr.keys {
			for _, iv := range k[d] {
				shift[d] = min(shift[d], bits.TrailingZeros32(iv.lo), trailingZeros64(uint64(iv.hi)+1))
			}
		}
	}
	// Entries per rule: the product of its blocks per field.
	total := 0
	for _, k := range gr.keys {
		n := 1
		for d, ivs := range k {
			blocks := 0
			for _, iv := range ivs {
				blocks += int((uint64(iv.hi) + 1 - uint64(iv.lo)) >> uint(shift[d]))
			}
			n *= blocks
			if n > groupMapMaxPerRule {
				return nil
			}
		}
		total += n
		if total > groupMapMaxEntries {
			return nil
		}
	}
	keySize := 4 * len(gr.dims)
	type entry struct {
		key   []byte
		rules []int32
	}
	index := make(map[string]*entry, total)
	var order []*entry
	key := make([]byte, keySize)
	for pos, k := range gr.keys {
		idx := int32(gr.rules[pos].Index)
		var walk func(d int)
		walk = func(d int) {
			if d == len(k) {
				e := index[string(key)]
				if e == nil {
					e = &entry{key: slices.Clone(key)}
					index[string(key)] = e
					order = append(order, e)
				}
				if n := len(e.rules); n == 0 || e.rules[n-1] != idx {
					e.rules = append(e.rules, idx)
				}
				return
			}
			step := uint64(1) << uint(shift[d])
			for _, iv := range k[d] {
				for v := uint64(iv.lo); v <= uint64(iv.hi); v += step {
					ByteOrder.PutUint32(key[4*d:], uint32(v))
					walk(d + 1)
				}
			}
		}
		walk(0)
	}
	most := 0
	for _, e := range order {
		most = max(most, len(e.rules))
	}
	if most > GroupMapMaxRules {
		return nil
	}
	slices.SortFunc(order, func(a, b *entry) int { return bytes.Compare(a.key, b.key) })
	m := &GroupMap{Name: fmt.Sprintf("grp%d_%d", hookNum, gr.id), Shift: shift, KeySize: keySize, ValueSize: 4 * most, Rules: len(gr.rules)}
	for _, d := range gr.dims {
		m.Fields = append(m.Fields, d.String())
	}
	m.Keys = make([]byte, 0, len(order)*keySize)
	m.Values = make([]byte, 0, len(order)*m.ValueSize)
	for _, e := range order {
		m.Keys = append(m.Keys, e.key...)
		for i := range most {
			v := uint32(math.MaxUint32)
			if i < len(e.rules) {
				v = uint32(e.rules[i])
			}
			m.Values = ByteOrder.AppendUint32(m.Values, v)
		}
	}
	return m
}

func trailingZeros64(v uint64) int {
	if v == 0 {
		return 64
	}
	return bits.TrailingZeros64(v)
}

// groupMapCode emits a group compiled into a hash map: the guard on the
// span of its first field's constants inline, the lookup and the calls out
// of line (as a tree's body). It ends by jumping to end.
func (g *gen) groupMapCode(gr *group, end string) {
	b := g.b
	m := gr.hm
	lo, hi := uint32(math.MaxUint32), uint32(0)
	for _, k := range gr.keys {
		for _, iv := range k[0] {
			lo, hi = min(lo, iv.lo), max(hi, iv.hi)
		}
	}
	g.loadValue(gr.dims[0], rKey)
	if lo > 0 {
		b.Emit(asm.JLT.Imm32(rKey, int32(lo), end))
	}
	if hi < math.MaxUint32 {
		b.Emit(asm.JGT.Imm32(rKey, int32(hi), end))
	}
	body := b.NewLabel(gr.fn + ".map")
	b.Emit(asm.Ja.Label(body))
	g.outOfLine = append(g.outOfLine, func() {
		// Out of line, after the epilogue: still the rules' code.
		g.markPhase(PhaseRules)
		b.Label(body)
		b.Comment("look the group's key up in map %s (%d keys of %d rules)", m.Name, m.Len(), m.Rules)
		key := g.setKeyOff()
		for d, ref := range gr.dims {
			if d > 0 {
				g.loadValue(ref, rKey)
			}
			if s := m.Shift[d]; s >= 32 {
				b.Emit(asm.Mov.Imm32(rKey, 0))
			} else if s > 0 {
				b.Emit(asm.And.Imm32(rKey, int32(uint32(math.MaxUint32)<<uint(s))))
			}
			b.Emit(asm.StoreMem(asm.R10, key+int16(4*d), rKey, asm.Word))
		}
		b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
		b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.Name), asm.FnMapLookupElem.Call())
		b.Emit(asm.JEq.Imm(asm.R0, 0, end))
		// The value stays in R9 (callee-saved) across the calls.
		b.Emit(asm.Mov.Reg(rEvent, asm.R0))
		for i := range m.ValueSize / 4 {
			b.Emit(asm.LoadMem(asm.R2, rEvent, int16(4*i), asm.Word))
			if i > 0 {
				b.Emit(asm.JEq.Imm32(asm.R2, -1, end))
			}
			b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Call.Label(gr.fn))
		}
		b.Emit(asm.Ja.Label(end))
	})
}

// groupMapSpecs adds the programs' group maps to a collection. They are
// created empty: the loader fills them, in batches.
func (o *Output) groupMapSpecs(spec *ebpf.CollectionSpec) {
	for _, p := range o.Programs {
		for _, m := range p.GroupMaps {
			spec.Maps[m.Name] = &ebpf.MapSpec{
				Name: m.Name, Type: ebpf.Hash, KeySize: uint32(m.KeySize), ValueSize: uint32(m.ValueSize),
				MaxEntries: uint32(max(m.Len(), 1)),
			}
		}
	}
}

// GroupMapNames are the names of the programs' group maps.
func (o *Output) GroupMapNames() map[string]bool {
	names := map[string]bool{}
	for _, p := range o.Programs {
		for _, m := range p.GroupMaps {
			names[m.Name] = true
		}
	}
	return names
}
