package compiler

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Predicates compile to jumping code: branch(p, target, want) jumps to target
// when p evaluates to want and falls through otherwise. Leaves test the
// record; a leaf that could hold on the zero an absent field leaves in its
// slot first checks the field's presence bit.

func (g *gen) branch(p rules.Pred, target string, want bool) {
	b := g.b
	switch p := p.(type) {
	case *rules.PredAnd:
		if !want {
			for _, t := range p.Terms {
				g.branch(t, target, false)
			}
			return
		}
		skip := b.NewLabel("and")
		for _, t := range p.Terms[:len(p.Terms)-1] {
			g.branch(t, skip, false)
		}
		g.branch(p.Terms[len(p.Terms)-1], target, true)
		b.Label(skip)
	case *rules.PredOr:
		if want {
			for _, t := range p.Terms {
				g.branch(t, target, true)
			}
			return
		}
		skip := b.NewLabel("or")
		for _, t := range p.Terms[:len(p.Terms)-1] {
			g.branch(t, skip, true)
		}
		g.branch(p.Terms[len(p.Terms)-1], target, false)
		b.Label(skip)
	case *rules.PredNot:
		g.branch(p.X, target, !want)
	case *rules.PredConst:
		if p.Value == want {
			b.Emit(asm.Ja.Label(target))
		}
	case *rules.PredExists:
		g.comment(p)
		if p.Ref.Field.Type == rules.TypeString && (p.Ref.Field.Header.IsSyscall() || p.Ref.Field.Header.IsProcess()) {
			g.syscallText(&rules.PredText{Ref: p.Ref}, true, target, want)
			return
		}
		if p.Ref.Field.Type == rules.TypeString {
			g.textExists(p.Ref, target, want)
			return
		}
		if want {
			g.jumpIfPresent(FactOf(p.Ref), target)
		} else {
			g.jumpIfAbsent(FactOf(p.Ref), target)
		}
	case *rules.PredCompare:
		g.comment(p)
		g.compare(p, target, want)
	case *rules.PredInSet:
		u := g.sets.use(g, p)
		g.b.Comment("%s", setComment(p, u))
		test := func(t string, w bool) { g.inSet(p, t, w) }
		if u != nil {
			test = func(t string, w bool) { g.inSetMap(p, u, t, w) }
		}
		g.guarded(FactOf(p.Ref), zeroInSet(p) || !zeroWhenAbsent(p.Ref), target, want, test)
	case *rules.PredBitTest:
		g.comment(p)
		// A zero value never has a bit of the mask set: no presence check.
		g.guarded(FactOf(p.Ref), !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) { g.bitTest(p.Ref, p.Mask, t, w) })
	case *rules.PredTextSet:
		m := g.sets.textUse(p)
		if m == nil {
			g.branch(p.Or(), target, want)
			return
		}
		g.b.Comment("%s", textSetComment(p, m))
		if rules.IsCommName(p.Ref.Field) {
			g.commSetTest(p, m, target, want)
			return
		}
		g.textSetTest(p, m, target, want)
	case *rules.PredText:
		g.comment(p)
		if p.Ref.Field.Header.IsSyscall() || p.Ref.Field.Header.IsProcess() {
			g.syscallText(p, false, target, want)
			return
		}
		g.textTest(p, target, want)
	case *rules.PredFieldCompare:
		g.comment(p)
		g.fieldCompare(p, target, want)
	case *rules.PredSlice:
		g.comment(p)
		if p.Var {
			g.bytesTest(p, target, want)
			return
		}
		g.guarded(FactOf(p.Ref), true, target, want, func(t string, w bool) { g.sliceTest(p, t, w) })
	case *rules.PredLen:
		g.comment(p)
		g.lenTest(p, target, want)
	default:
		panic(fmt.Sprintf("compiler: unexpected predicate %T", p))
	}
}

func (g *gen) comment(p rules.Pred) { g.b.Comment("%s", rules.PredSummary(p, listedElements)) }

// Presence tests read the opaque copy of the bitmap (see parseEnd), never R7.
func (g *gen) jumpIfPresent(fact int, target string) {
	g.loadFact(fact)
	g.b.Emit(asm.JSet.Imm(asm.R1, factMask(fact), target))
}

func (g *gen) jumpIfAbsent(fact int, target string) {
	// "and; if zero" rather than "jset over a ja": the common (present) path
	// falls through.
	g.loadFact(fact)
	g.b.Emit(asm.And.Imm(asm.R1, factMask(fact)), asm.JEq.Imm(asm.R1, 0, target))
}

// immFacts are the facts whose bit a 32-bit immediate holds: an immediate
// is sign-extended, so bit 31 and above need a shift.
const immFacts = 31

// loadFact loads the presence bitmap into R1, shifted so that fact's bit is
// where factMask(fact) tests it.
func (g *gen) loadFact(fact int) {
	reg, off := g.presence()
	g.b.Emit(asm.LoadMem(asm.R1, reg, off, asm.DWord))
	if fact >= immFacts {
		g.b.Emit(asm.RSh.Imm(asm.R1, int32(fact)))
	}
}

func factMask(fact int) int32 {
	if fact >= immFacts {
		return 1
	}
	return 1 << fact
}

// guarded runs test behind a presence check of fact when the test could hold
// on a zero (absent) slot.
func (g *gen) guarded(fact int, zeroHolds bool, target string, want bool, test func(string, bool)) {
	if !zeroHolds {
		test(target, want)
		return
	}
	if want {
		skip := g.b.NewLabel("absent")
		g.jumpIfAbsent(fact, skip)
		test(target, true)
		g.b.Label(skip)
		return
	}
	g.jumpIfAbsent(fact, target)
	test(target, false)
}

func (g *gen) compare(p *rules.PredCompare, target string, want bool) {
	fact := FactOf(p.Ref)
	f := p.Ref.Field
	if f.Bits > 32 {
		g.guarded(fact, true, target, want, func(t string, w bool) { g.compare64(p.Op, p.Value.U, t, w, p.Ref) })
		return
	}
	if f.Type == rules.TypeBool && p.Mask == 0 && (p.Op == rules.CmpEq || p.Op == rules.CmpNe) {
		// A boolean is a bit test: == 1 / != 0 ask for the bit, the others for its absence.
		set := (p.Op == rules.CmpEq) == (p.Value.U != 0)
		if set {
			g.guarded(fact, !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) { g.bitTest(p.Ref, 0, t, w) })
			return
		}
		g.guarded(fact, true, target, want, func(t string, w bool) { g.bitTest(p.Ref, 0, t, !w) })
		return
	}
	if p.Op == rules.CmpNe {
		eq := *p
		eq.Op = rules.CmpEq
		g.guarded(fact, !zeroCompare(&eq) || !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) { g.equal(&eq, t, !w) })
		return
	}
	if p.Op == rules.CmpEq {
		g.guarded(fact, zeroCompare(p) || !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) { g.equal(p, t, w) })
		return
	}
	if f.Type == rules.TypeIPv6 || f.Type == rules.TypeMAC {
		g.guarded(fact, zeroCompare(p) || !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) {
			g.orderBytes(g.rec.slots[keyOf(p.Ref)], nil, p.Value.Bytes(), p.Op, t, w)
		})
		return
	}
	// Ordering: integers and IPv4 addresses, in host order.
	g.guarded(fact, zeroCompare(p) || !zeroWhenAbsent(p.Ref), target, want, func(t string, w bool) {
		g.loadValue(p.Ref, asm.R1)
		if p.Mask != 0 {
			g.b.Emit(asm.And.Imm32(asm.R1, int32(uint32(p.Mask))))
		}
		c := int32(uint32(p.Value.U))
		if f.Type == rules.TypeIPv4 {
			c = int32(ipv4Host(p.Value))
		}
		op := p.Op
		if !w {
			op = negate(op)
		}
		g.b.Emit(jump32(op).Imm32(asm.R1, c, t))
	})
}

// negations and jumps are the tables of the integer comparisons.
var negations = map[rules.CmpOp]rules.CmpOp{
	rules.CmpEq: rules.CmpNe, rules.CmpNe: rules.CmpEq,
	rules.CmpLt: rules.CmpGe, rules.CmpGe: rules.CmpLt,
	rules.CmpLe: rules.CmpGt, rules.CmpGt: rules.CmpLe,
}

var jumps = map[rules.CmpOp]asm.JumpOp{
	rules.CmpEq: asm.JEq, rules.CmpNe: asm.JNE,
	rules.CmpLt: asm.JLT, rules.CmpLe: asm.JLE,
	rules.CmpGt: asm.JGT, rules.CmpGe: asm.JGE,
}

func negate(op rules.CmpOp) rules.CmpOp {
	if n, ok := negations[op]; ok {
		return n
	}
	panic("compiler: cannot negate " + op.String())
}

func jump32(op rules.CmpOp) asm.JumpOp {
	if j, ok := jumps[op]; ok {
		return j
	}
	panic("compiler: no jump for " + op.String())
}

// chunk is one piece of an equality test on raw bytes: (load(size) & mask) == val.
type chunk struct {
	off  int16 // stack offset
	size asm.Size
	mask uint32 // raw (as loaded); 0xffffffff-equivalent full masks are skipped
	full bool
	val  uint32
}

// equal emits an equality test (Op ==) on one field occurrence.
func (g *gen) equal(p *rules.PredCompare, target string, want bool) {
	chunks, ok := g.rawChunks(p.Ref, p.Mask, p.Value)
	if !ok {
		// Host-order path: integers with a scale, computed values.
		g.loadValue(p.Ref, asm.R1)
		if p.Mask != 0 {
			g.b.Emit(asm.And.Imm32(asm.R1, int32(uint32(p.Mask))))
		}
		op := asm.JEq
		if !want {
			op = asm.JNE
		}
		g.b.Emit(op.Imm32(asm.R1, int32(uint32(p.Value.U)), target))
		return
	}
	if chunks == nil {
		// The value cannot occur (bits outside the field or the mask).
		if !want {
			g.b.Emit(asm.Ja.Label(target))
		}
		return
	}
	g.chunkTest(chunks, target, want)
}

func (g *gen) chunkTest(chunks []chunk, target string, want bool) {
	b := g.b
	load := func(c chunk) {
		b.Emit(asm.LoadMem(asm.R1, g.base, c.off-g.delta, c.size))
		if !c.full {
			b.Emit(asm.And.Imm32(asm.R1, int32(c.mask)))
		}
	}
	if !want {
		for _, c := range chunks {
			load(c)
			b.Emit(asm.JNE.Imm32(asm.R1, int32(c.val), target))
		}
		return
	}
	skip := b.NewLabel("ne")
	for i, c := range chunks {
		load(c)
		if i == len(chunks)-1 {
			b.Emit(asm.JEq.Imm32(asm.R1, int32(c.val), target))
		} else {
			b.Emit(asm.JNE.Imm32(asm.R1, int32(c.val), skip))
		}
	}
	b.Label(skip)
}

// rawChunks expresses "(field & mask) == v" as tests on the raw bytes of the
// field's slot, without byte swaps. ok is false when the field needs the
// host-order path; a nil slice with ok means the value cannot occur.
func (g *gen) rawChunks(ref rules.FieldRef, mask uint64, v rules.Value) ([]chunk, bool) {
	f := ref.Field
	s := g.rec.slots[keyOf(ref)]
	switch f.Type {
	case rules.TypeIPv4, rules.TypeIPv6, rules.TypeMAC:
		var val, msk []byte
		switch f.Type {
		case rules.TypeMAC:
			val, msk = v.MAC[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		default:
			val = v.Addr().AsSlice()
			msk = make([]byte, len(val))
			for i := 0; i < int(v.Bits); i++ {
				msk[i/8] |= 0x80 >> (i % 8)
			}
		}
		var out []chunk
		for off := 0; off < len(val); off += 4 {
			n := min(4, len(val)-off)
			c := chunk{off: s.off + int16(off), size: asm.Word, full: true}
			if n == 2 {
				c.size = asm.Half
			}
			var vb, mb [4]byte
			copy(vb[:], val[off:off+n])
			copy(mb[:], msk[off:off+n])
			c.mask, c.val = ByteOrder.Uint32(mb[:]), ByteOrder.Uint32(vb[:])
			if c.mask == 0 {
				continue
			}
			full := uint32(0xffffffff)
			if n == 2 {
				full = 0xffff
			}
			c.full = c.mask == full
			c.val &= c.mask
			out = append(out, c)
		}
		if len(out) == 0 {
			// A /0 prefix: any present address matches.
			out = append(out, chunk{off: s.off, size: asm.Byte, mask: 0, val: 0})
		}
		return out, true
	case rules.TypeUint, rules.TypeBool:
		if s.host || f.Scale > 1 {
			return nil, false
		}
		width := uint(s.size * 8)
		full := uint64(1)<<width - 1
		fm := f.Mask
		if fm == 0 {
			fm = full
		}
		um := full
		if mask != 0 {
			um = mask
		}
		if v.U&^um != 0 {
			return nil, true
		}
		m := fm & (um << f.Shift) & full
		val := v.U << f.Shift
		if val&^m != 0 {
			return nil, true
		}
		c := chunk{off: s.off, full: m == full}
		switch s.size {
		case 1:
			c.size, c.mask, c.val = asm.Byte, uint32(m), uint32(val)
		case 2:
			c.size = asm.Half
			c.mask, c.val = uint32(swap16(uint16(m))), uint32(swap16(uint16(val)))
		case 4:
			c.size = asm.Word
			c.mask, c.val = swap32(uint32(m)), swap32(uint32(val))
		}
		return []chunk{c}, true
	}
	return nil, false
}

// swap16 and swap32 turn a host-order value into its raw (loaded) form.
func swap16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return ByteOrder.Uint16(b[:])
}

func swap32(v uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return ByteOrder.Uint32(b[:])
}

func ipv4Host(v rules.Value) uint32 {
	b := v.Addr().As4()
	return binary.BigEndian.Uint32(b[:])
}

// bitTest jumps to target when ((value & mask) != 0) == want; mask 0 tests
// the whole field (for booleans: the flag).
func (g *gen) bitTest(ref rules.FieldRef, mask uint64, target string, want bool) {
	b := g.b
	f := ref.Field
	s := g.rec.slots[keyOf(ref)]
	op := func(r asm.Register, m uint32) {
		if want {
			b.Emit(asm.JSet.Imm32(r, int32(m), target))
			return
		}
		// "and; if zero": the path where the bit is set falls through.
		b.Emit(asm.And.Imm32(r, int32(m)), asm.JEq.Imm32(r, 0, target))
	}
	if !s.host && f.Scale <= 1 {
		// Raw form: the bits of the field selected by the mask, as loaded.
		width := uint(s.size * 8)
		full := uint64(1)<<width - 1
		fm := f.Mask
		if fm == 0 {
			fm = full
		}
		um := full
		if mask != 0 {
			um = mask
		}
		m := fm & (um << f.Shift) & full
		if m == 0 {
			if !want {
				b.Emit(asm.Ja.Label(target))
			}
			return
		}
		var rm uint32
		switch s.size {
		case 1:
			b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Byte))
			rm = uint32(m)
		case 2:
			b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Half))
			rm = uint32(swap16(uint16(m)))
		default:
			b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Word))
			rm = swap32(uint32(m))
		}
		op(asm.R1, rm)
		return
	}
	g.loadValue(ref, asm.R1)
	m := mask
	if m == 0 {
		m = 0xffffffff
	}
	op(asm.R1, uint32(m))
}

// loadValue loads a numeric field's value, in host order, into dst (IPv4
// addresses as host-order integers).
func (g *gen) loadValue(ref rules.FieldRef, dst asm.Register) {
	b := g.b
	f := ref.Field
	s := g.rec.slots[keyOf(ref)]
	switch s.size {
	case 1:
		b.Emit(asm.LoadMem(dst, g.base, s.off-g.delta, asm.Byte))
	case 2:
		b.Emit(asm.LoadMem(dst, g.base, s.off-g.delta, asm.Half))
		if !s.host {
			b.Emit(asm.HostTo(asm.BE, dst, asm.Half))
		}
	case 4:
		b.Emit(asm.LoadMem(dst, g.base, s.off-g.delta, asm.Word))
		if !s.host {
			b.Emit(asm.HostTo(asm.BE, dst, asm.Word))
		}
	default:
		panic(fmt.Sprintf("compiler: %s is not numeric", f.Name))
	}
	if f.Mask != 0 {
		b.Emit(asm.And.Imm32(dst, int32(uint32(f.Mask))))
	}
	if f.Shift != 0 {
		b.Emit(asm.RSh.Imm32(dst, int32(f.Shift)))
	}
	if f.Scale > 1 {
		b.Emit(asm.Mul.Imm32(dst, int32(f.Scale)))
	}
}

// inSet emits set membership on one field occurrence.
func (g *gen) inSet(p *rules.PredInSet, target string, want bool) {
	b := g.b
	hit := target
	if !want {
		hit = b.NewLabel("in")
	}
	f := p.Ref.Field
	switch {
	case f.Bits > 32:
		g.inSet64(p, hit)
	case f.Type == rules.TypeIPv6 || f.Type == rules.TypeMAC:
		s := g.rec.slots[keyOf(p.Ref)]
		for _, it := range p.Items {
			if it.IsRange() {
				next := b.NewLabel("range")
				g.orderBytes(s, nil, it.Lo.Bytes(), rules.CmpGe, next, false)
				g.orderBytes(s, nil, it.Hi.Bytes(), rules.CmpLe, hit, true)
				b.Label(next)
				continue
			}
			chunks, _ := g.rawChunks(p.Ref, 0, it.Lo)
			g.chunkTest(chunks, hit, true)
		}
	default:
		// One load in host order serves every item.
		g.loadValue(p.Ref, asm.R2)
		if f.Type == rules.TypeBool && f.Mask&(f.Mask-1) != 0 {
			// A boolean over several bits (tcp.flags.res) is 1 when any is set.
			one := b.NewLabel("bool")
			b.Emit(asm.JEq.Imm(asm.R2, 0, one), asm.Mov.Imm(asm.R2, 1))
			b.Label(one)
		}
		if p.Mask != 0 {
			b.Emit(asm.And.Imm32(asm.R2, int32(uint32(p.Mask))))
		}
		for _, it := range p.Items {
			lo, hi := uint32(it.Lo.U), uint32(it.Hi.U)
			if f.Type == rules.TypeIPv4 {
				if it.Lo.IsPrefix() {
					bits := it.Lo.Bits
					m := uint32(0)
					if bits > 0 {
						m = ^uint32(0) << (32 - bits)
					}
					b.Emit(asm.Mov.Reg(asm.R1, asm.R2), asm.And.Imm32(asm.R1, int32(m)))
					b.Emit(asm.JEq.Imm32(asm.R1, int32(ipv4Host(it.Lo)&m), hit))
					continue
				}
				lo, hi = ipv4Host(it.Lo), ipv4Host(it.Hi)
			}
			if lo == hi {
				b.Emit(asm.JEq.Imm32(asm.R2, int32(lo), hit))
				continue
			}
			next := b.NewLabel("range")
			if lo > 0 {
				b.Emit(asm.JLT.Imm32(asm.R2, int32(lo), next))
			}
			b.Emit(asm.JLE.Imm32(asm.R2, int32(hi), hit))
			b.Label(next)
		}
	}
	if !want {
		b.Emit(asm.Ja.Label(target))
		b.Label(hit)
	}
}

// zeroWhenAbsent reports whether a field's slot is zero whenever the field
// is absent, so that a test false on zero needs no presence check. Header
// slots are written exactly when their header's fact holds; L7 slots are
// not: the DNS header's bytes are copied for queries too, where
// dns.flags.rcode (a response's field) is absent.
func zeroWhenAbsent(ref rules.FieldRef) bool { return !ref.Field.Header.IsL7() }

// zeroCompare reports whether a comparison holds for the zero an absent
// field leaves in its slot.
func zeroCompare(p *rules.PredCompare) bool {
	v := p.Value
	switch v.Type {
	case rules.TypeIPv4, rules.TypeIPv6, rules.TypeMAC:
		zero := make([]byte, len(v.Bytes()))
		if v.Type != rules.TypeMAC {
			in := v.Prefix().Contains(zeroAddr(v))
			switch p.Op {
			case rules.CmpEq:
				return in
			case rules.CmpNe:
				return !in
			}
		}
		return cmpUint(uint64(bytes.Compare(zero, v.Bytes())+1), p.Op, 1)
	}
	return cmpUint(0, p.Op, v.U)
}

func cmpUint(a uint64, op rules.CmpOp, b uint64) bool {
	switch op {
	case rules.CmpEq:
		return a == b
	case rules.CmpNe:
		return a != b
	case rules.CmpLt:
		return a < b
	case rules.CmpLe:
		return a <= b
	case rules.CmpGt:
		return a > b
	case rules.CmpGe:
		return a >= b
	}
	return false
}

func zeroInSet(p *rules.PredInSet) bool {
	for _, it := range p.Items {
		switch it.Lo.Type {
		case rules.TypeIPv4, rules.TypeIPv6:
			if it.Lo.IsPrefix() || !it.IsRange() {
				if it.Lo.Prefix().Contains(zeroAddr(it.Lo)) {
					return true
				}
				continue
			}
			if it.Lo.Addr().IsUnspecified() {
				return true // a range from the zero address
			}
		case rules.TypeMAC:
			if it.Lo.MAC == [6]byte{} {
				return true
			}
		default:
			if it.Lo.U == 0 {
				return true
			}
		}
	}
	return false
}

func zeroAddr(v rules.Value) netip.Addr {
	if v.Type == rules.TypeIPv4 {
		return netip.AddrFrom4([4]byte{})
	}
	return netip.AddrFrom16([16]byte{})
}

// compare64 compares a 64-bit field (cgroup.id), host order in its slot,
// with a 64-bit constant: BPF has no 64-bit immediate in a jump, so the
// constant goes to R2 first.
func (g *gen) compare64(op rules.CmpOp, v uint64, target string, want bool, ref rules.FieldRef) {
	s := g.rec.slots[keyOf(ref)]
	if !want {
		op = negate(op)
	}
	g.b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.DWord), asm.LoadImm(asm.R2, int64(v), asm.DWord))
	g.b.Emit(jumps[op].Reg(asm.R1, asm.R2, target))
}

// inSet64 jumps to hit when a 64-bit field is one of the set's items.
func (g *gen) inSet64(p *rules.PredInSet, hit string) {
	b := g.b
	s := g.rec.slots[keyOf(p.Ref)]
	b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.DWord))
	for _, it := range p.Items {
		b.Emit(asm.LoadImm(asm.R2, int64(it.Lo.U), asm.DWord))
		if it.Lo.U == it.Hi.U {
			b.Emit(asm.JEq.Reg(asm.R1, asm.R2, hit))
			continue
		}
		next := b.NewLabel("range")
		b.Emit(asm.JLT.Reg(asm.R1, asm.R2, next))
		b.Emit(asm.LoadImm(asm.R2, int64(it.Hi.U), asm.DWord), asm.JLE.Reg(asm.R1, asm.R2, hit))
		b.Label(next)
	}
}
