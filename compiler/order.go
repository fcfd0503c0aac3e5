package compiler

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Ordering of byte strings (IPv6 and MAC addresses) and comparisons between
// two fields. Wireshark orders addresses byte by byte, as unsigned
// big-endian numbers: the slots hold network-order bytes, so each 4- or
// 2-byte piece is loaded, swapped to host order and compared, the first
// piece that differs deciding.

// bePiece is one piece of a byte string: size bytes at off.
type bePiece struct {
	off  int
	size asm.Size
	n    int
}

// bePieces cuts n bytes (4, 6 or 16) into words and a half word.
func bePieces(n int) []bePiece {
	var out []bePiece
	for off := 0; off < n; {
		switch {
		case n-off >= 4:
			out = append(out, bePiece{off, asm.Word, 4})
			off += 4
		case n-off >= 2:
			out = append(out, bePiece{off, asm.Half, 2})
			off += 2
		default:
			out = append(out, bePiece{off, asm.Byte, 1})
			off++
		}
	}
	return out
}

// loadBE loads a piece of a slot into dst as a host-order number.
func (g *gen) loadBE(s *slot, pc bePiece, dst asm.Register) {
	g.b.Emit(asm.LoadMem(dst, g.base, s.off+int16(pc.off)-g.delta, pc.size))
	if pc.size != asm.Byte {
		g.b.Emit(asm.HostTo(asm.BE, dst, pc.size))
	}
}

// decides lists, for an operator, the jump that settles it true and the one
// that settles it false on a piece that is not the last; equal pieces go on
// to the next one. An empty jump never settles.
var decides = map[rules.CmpOp][2]asm.JumpOp{
	rules.CmpLt: {asm.JLT, asm.JGT},
	rules.CmpLe: {asm.JLT, asm.JGT},
	rules.CmpGt: {asm.JGT, asm.JLT},
	rules.CmpGe: {asm.JGT, asm.JLT},
	rules.CmpEq: {asm.InvalidJumpOp, asm.JNE},
	rules.CmpNe: {asm.JNE, asm.InvalidJumpOp},
}

// orderBytes jumps to target when (left op right) == want, left being the
// bytes of slot s and right those of slot r or, when r is nil, the constant
// bytes lit (of the slot's length). Both sides are present.
func (g *gen) orderBytes(s, r *slot, lit []byte, op rules.CmpOp, target string, want bool) {
	b := g.b
	n := s.size
	if r == nil && len(lit) != n {
		panic(fmt.Sprintf("compiler: %d-byte constant for a %d-byte slot", len(lit), n))
	}
	pieces := bePieces(n)
	skip := b.NewLabel("ord")
	trueL, falseL := target, skip
	if !want {
		trueL, falseL = skip, target
	}
	d := decides[op]
	for i, pc := range pieces {
		g.loadBE(s, pc, asm.R1)
		var c int32
		if r != nil {
			g.loadBE(r, pc, asm.R2)
		} else {
			var w [4]byte
			copy(w[4-pc.n:], lit[pc.off:pc.off+pc.n])
			c = int32(binary.BigEndian.Uint32(w[:]))
		}
		jump := func(j asm.JumpOp, label string) {
			if r != nil {
				b.Emit(j.Reg(asm.R1, asm.R2, label))
			} else {
				b.Emit(j.Imm32(asm.R1, c, label))
			}
		}
		if i == len(pieces)-1 {
			// The last piece decides with the operator itself.
			if want {
				jump(jump32(op), target)
			} else {
				jump(jump32(negate(op)), target)
			}
			break
		}
		if d[0] != asm.InvalidJumpOp {
			jump(d[0], trueL)
		}
		if d[1] != asm.InvalidJumpOp {
			jump(d[1], falseL)
		}
	}
	b.Label(skip)
}

// fieldCompare emits a comparison between two field occurrences: false
// when either is absent.
func (g *gen) fieldCompare(p *rules.PredFieldCompare, target string, want bool) {
	b := g.b
	lf, rf := FactOf(p.Left), FactOf(p.Right)
	test := func(t string, w bool) {
		switch p.Left.Field.Type {
		case rules.TypeIPv6, rules.TypeMAC:
			g.orderBytes(g.rec.slots[keyOf(p.Left)], g.rec.slots[keyOf(p.Right)], nil, p.Op, t, w)
			return
		}
		g.loadNumber(p.Left, asm.R1)
		g.loadNumber(p.Right, asm.R2)
		op := p.Op
		if !w {
			op = negate(op)
		}
		b.Emit(jump32(op).Reg(asm.R1, asm.R2, t))
	}
	if want {
		skip := b.NewLabel("absent")
		g.jumpIfAbsent(lf, skip)
		if rf != lf {
			g.jumpIfAbsent(rf, skip)
		}
		test(target, true)
		b.Label(skip)
		return
	}
	g.jumpIfAbsent(lf, target)
	if rf != lf {
		g.jumpIfAbsent(rf, target)
	}
	test(target, false)
}

// loadNumber loads an integer, boolean (0 or 1) or IPv4 address (as a
// host-order integer) into dst.
func (g *gen) loadNumber(ref rules.FieldRef, dst asm.Register) {
	g.loadValue(ref, dst)
	if ref.Field.Type == rules.TypeBool && ref.Field.Mask&(ref.Field.Mask-1) != 0 {
		// A boolean over several bits (tcp.flags.res) is 1 when any is set.
		one := g.b.NewLabel("bool")
		g.b.Emit(asm.JEq.Imm(dst, 0, one), asm.Mov.Imm(dst, 1))
		g.b.Label(one)
	}
}
