package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Byte-level tests on the record slots of address fields: slices
// (eth.src[0:3] == 00:aa:00, eth.dst[0] & 1) and len(). The slots hold the
// field's bytes in network order. The stack allows only aligned loads, so
// a slice is read byte by byte (at most 16 bytes).

// sliceByte loads byte i of a slot's slice into dst.
func (g *gen) sliceByte(s *slot, i int, dst asm.Register) {
	g.b.Emit(asm.LoadMem(dst, g.base, s.off+int16(i)-g.delta, asm.Byte))
}

// sliceTest jumps to target when the slice test's outcome is want; the
// field is present (guarded by the caller).
func (g *gen) sliceTest(p *rules.PredSlice, target string, want bool) {
	b := g.b
	s := g.rec.slots[keyOf(p.Ref)]
	skip := b.NewLabel("slice")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	if p.Int {
		b.Emit(asm.Mov.Imm(asm.R1, 0))
		for i := p.Start; i < p.Start+p.Len; i++ {
			g.sliceByte(s, i, asm.R2)
			b.Emit(asm.LSh.Imm(asm.R1, 8), asm.Or.Reg(asm.R1, asm.R2))
		}
		switch {
		case p.BitTest:
			b.Emit(asm.JSet.Imm32(asm.R1, int32(uint32(p.Mask)), yes))
		default:
			if p.Mask != 0 {
				b.Emit(asm.And.Imm32(asm.R1, int32(uint32(p.Mask))))
			}
			b.Emit(jump32(p.Op).Imm32(asm.R1, int32(uint32(p.U)), yes))
		}
		b.Emit(asm.Ja.Label(no))
		b.Label(skip)
		return
	}
	eq, ne := yes, no
	if p.Op == rules.CmpNe {
		eq, ne = no, yes
	}
	switch p.Op {
	case rules.CmpEq, rules.CmpNe:
		if len(p.Lit) != p.Len {
			b.Emit(asm.Ja.Label(ne)) // byte strings of different lengths differ
			break
		}
		g.matchSlot(s, p.Start, p.Lit, ne)
		b.Emit(asm.Ja.Label(eq))
	case rules.CmpContains:
		for at := p.Start; at+len(p.Lit) <= p.Start+p.Len; at++ {
			next := b.NewLabel("at")
			g.matchSlot(s, at, p.Lit, next)
			b.Emit(asm.Ja.Label(yes))
			b.Label(next)
		}
		b.Emit(asm.Ja.Label(no))
	default:
		panic("compiler: unexpected slice operator " + p.Op.String())
	}
	b.Label(skip)
}

// matchSlot jumps to miss unless the slot's bytes from at are lit.
func (g *gen) matchSlot(s *slot, at int, lit []byte, miss string) {
	for i, c := range lit {
		g.sliceByte(s, at+i, asm.R1)
		g.b.Emit(asm.JNE.Imm(asm.R1, int32(c), miss))
	}
}

// lenTest emits len(field) op N: a string's length is in its slot; an
// address has its type's size.
func (g *gen) lenTest(p *rules.PredLen, target string, want bool) {
	b := g.b
	f := p.Ref.Field
	skip := b.NewLabel("len")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	g.jumpIfAbsent(FactOf(p.Ref), no)
	if rules.IsBytes(f) {
		g.payLen(f, asm.R1)
		b.Emit(jump32(p.Op).Imm32(asm.R1, int32(uint32(p.N)), yes))
		b.Emit(asm.Ja.Label(no))
		b.Label(skip)
		return
	}
	if f.Type == rules.TypeString {
		s := g.rec.slots[keyOf(p.Ref)]
		at := s.off - g.delta
		b.Emit(asm.LoadMem(asm.R1, g.base, at+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, no))
		b.Emit(asm.LoadMem(asm.R1, g.base, at+2, asm.Half))
		b.Emit(jump32(p.Op).Imm32(asm.R1, int32(uint32(p.N)), yes))
		b.Emit(asm.Ja.Label(no))
		b.Label(skip)
		return
	}
	size := uint64(map[rules.Type]int{rules.TypeMAC: 6, rules.TypeIPv4: 4, rules.TypeIPv6: 16}[f.Type])
	if cmpUint(size, p.Op, p.N) {
		b.Emit(asm.Ja.Label(yes))
	} else {
		b.Emit(asm.Ja.Label(no))
	}
	b.Label(skip)
}
