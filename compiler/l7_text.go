package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// String predicates: == (and in, and != through the checker's negation),
// prefix, suffix and contains, on the value a string slot points to in the
// l7 map. The literal is compiled into the code, eight bytes at a time; a
// case-insensitive test folds the value's letters at the literal's letter
// positions only, so no other byte can match by folding.

// textFalse and textTrue are where a text test goes, for jumping code.
func (g *gen) textTest(p *rules.PredText, target string, want bool) {
	b := g.b
	skip := b.NewLabel("text")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	s := g.rec.slots[keyOf(p.Ref)]
	at := s.off - g.delta
	g.jumpIfAbsent(FactOf(p.Ref), no)
	b.Emit(asm.LoadMem(asm.R1, g.base, at+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, no))
	if p.Ref.Field.L7.List {
		g.textListTest(p, at, yes, no)
		b.Label(skip)
		return
	}
	n := int32(len(p.Lit))
	b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half))
	if p.Op == rules.TextEq {
		b.Emit(asm.JNE.Imm(asm.R2, n, no))
	} else {
		b.Emit(asm.JLT.Imm(asm.R2, n, no))
	}
	if n == 0 {
		b.Emit(asm.Ja.Label(yes))
		b.Label(skip)
		return
	}
	ctx := g.l7CtxOff()
	if g.inFunc {
		ctx = fnL7CtxOff
	}
	g.l7Lookup(asm.R4, no)
	b.Emit(asm.StoreMem(asm.R10, ctx, asm.R4, asm.DWord))
	b.Emit(asm.LoadMem(asm.R3, g.base, at, asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, no))
	fold := make([]bool, n)
	for i := range fold {
		fold[i] = p.Fold
	}
	switch p.Op {
	case rules.TextEq, rules.TextPrefix:
		b.Emit(asm.Add.Reg(asm.R4, asm.R3))
		g.matchBytes(asm.R4, 0, p.Lit, fold, no)
		b.Emit(asm.Ja.Label(yes))
	case rules.TextSuffix:
		b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.Add.Reg(asm.R3, asm.R2), asm.Sub.Imm(asm.R3, n))
		b.Emit(asm.JGT.Imm(asm.R3, l7OffMax, no), asm.Add.Reg(asm.R4, asm.R3))
		g.matchBytes(asm.R4, 0, p.Lit, fold, no)
		b.Emit(asm.Ja.Label(yes))
	case rules.TextContains:
		b.Comment("contains: try every start, in a bounded loop")
		b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.Mov.Reg(asm.R1, asm.R3), asm.Add.Reg(asm.R1, asm.R2), asm.Sub.Imm(asm.R1, n))
		b.Emit(asm.StoreMem(asm.R4, stF(sPos), asm.R3, asm.DWord), asm.StoreMem(asm.R4, stF(sLim), asm.R1, asm.DWord))
		b.Emit(storeDW(asm.R4, stF(sRes), 0))
		fn := g.l7.containsFunc(g, p)
		b.Emit(asm.Mov.Reg(asm.R1, asm.R2), asm.Sub.Imm(asm.R1, n-1))
		b.Emit(asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(fn))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(ctx)), asm.Mov.Imm(asm.R4, 0), asm.FnLoop.Call())
		b.Emit(asm.LoadMem(asm.R1, asm.R10, ctx, asm.DWord), asm.LoadMem(asm.R1, asm.R1, stF(sRes), asm.DWord))
		b.Emit(asm.JNE.Imm(asm.R1, 0, yes), asm.Ja.Label(no))
	}
	b.Label(skip)
}

// containsFunc returns the callback that tries the literal at sPos (up to
// sLim) and sets sRes when it is there.
func (l *l7gen) containsFunc(g *gen, p *rules.PredText) string {
	name := fmt.Sprintf("hdrlog_l7_contains_%d", len(l.funcs))
	lit, fold := p.Lit, p.Fold
	for _, f := range l.funcs {
		if f.lit == lit && f.fold == fold && f.contains {
			return f.name
		}
	}
	l.funcSeen[name] = true
	l.funcs = append(l.funcs, l7Func{name: name, contains: true, lit: lit, fold: fold, emit: func() {
		b := g.b
		miss, stop := b.NewLabel("contains.miss"), b.NewLabel("contains.stop")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLim), asm.DWord))
		b.Emit(asm.JGT.Reg(asm.R1, asm.R2, stop), asm.JGT.Imm(asm.R1, l7OffMax, stop))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1))
		fl := make([]bool, len(lit))
		for i := range fl {
			fl[i] = fold
		}
		g.matchBytes(asm.R3, 0, lit, fl, miss)
		b.Emit(storeDW(asm.R9, stF(sRes), 1))
		g.ret(1)
		b.Label(miss)
		b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
		g.ret(0)
		b.Label(stop)
		g.ret(1)
	}})
	return name
}

// textExists jumps to target when the string field's presence is want: its
// fact and its slot's own present byte.
func (g *gen) textExists(ref rules.FieldRef, target string, want bool) {
	b := g.b
	s := g.rec.slots[keyOf(ref)]
	if want {
		skip := b.NewLabel("absent")
		g.jumpIfAbsent(FactOf(ref), skip)
		b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta+4, asm.Byte), asm.JNE.Imm(asm.R1, 0, target))
		b.Label(skip)
		return
	}
	g.jumpIfAbsent(FactOf(ref), target)
	b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, target))
}
