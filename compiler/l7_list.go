package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// List fields (rules.L7Field.List: the ALPN protocols). Their string slot
// holds the comma-joined text, which the decoder wrote into the list buffer
// (emitListText), for events; its last two bytes hold the offset of the raw
// list in the l7 value (each element a length byte and its bytes), for
// tests. A test holds when it holds for one element, as on a field that
// repeats in Wireshark: a bpf_loop callback per operator and literal walks
// the elements.

// textListTest jumps to yes when p holds for an element of the list whose
// (present) slot is at base+at, to no otherwise.
func (g *gen) textListTest(p *rules.PredText, at int16, yes, no string) {
	b := g.b
	ctx := g.l7CtxOff()
	if g.inFunc {
		ctx = fnL7CtxOff
	}
	b.Comment("a test on each element of the list")
	g.l7Lookup(asm.R4, no)
	b.Emit(asm.StoreMem(asm.R10, ctx, asm.R4, asm.DWord))
	b.Emit(asm.LoadMem(asm.R3, g.base, at+6, asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, no))
	b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.Add.Reg(asm.R2, asm.R3), asm.Add.Imm(asm.R2, 1))
	b.Emit(asm.StoreMem(asm.R4, stF(sLPos), asm.R3, asm.DWord), asm.StoreMem(asm.R4, stF(sLEnd), asm.R2, asm.DWord))
	all := int32(0)
	if p.All {
		all = 1
	}
	b.Emit(storeDW(asm.R4, stF(sLRes), all))
	fn := g.l7.listFunc(g, p)
	b.Emit(asm.Mov.Imm(asm.R1, l7WinSize/2+1))
	b.Emit(asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(fn))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(ctx)), asm.Mov.Imm(asm.R4, 0), asm.FnLoop.Call())
	b.Emit(asm.LoadMem(asm.R1, asm.R10, ctx, asm.DWord), asm.LoadMem(asm.R1, asm.R1, stF(sLRes), asm.DWord))
	b.Emit(asm.JNE.Imm(asm.R1, 0, yes), asm.Ja.Label(no))
}

// listFunc returns the callback that tests the element at sLPos (a value
// offset, before sLEnd) and sets sLRes when p holds for it.
func (l *l7gen) listFunc(g *gen, p *rules.PredText) string {
	for _, f := range l.funcs {
		if f.list && f.op == p.Op && f.lit == p.Lit && f.fold == p.Fold && f.all == p.All {
			return f.name
		}
	}
	name := fmt.Sprintf("hdrlog_l7_list_%d", len(l.funcs))
	lit, fold, op, all := p.Lit, p.Fold, p.Op, p.All
	n := int32(len(lit))
	l.funcSeen[name] = true
	l.funcs = append(l.funcs, l7Func{name: name, list: true, op: op, lit: lit, fold: fold, all: all, emit: func() {
		b := g.b
		next, stop, hit := b.NewLabel("elem.next"), b.NewLabel("elem.stop"), b.NewLabel("elem.hit")
		// Some element (sLRes starts at 0): a hit sets it and stops. Every
		// element (sLRes starts at 1): a miss clears it and stops.
		miss := next
		if all {
			miss = b.NewLabel("elem.miss")
		}
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLEnd), asm.DWord))
		b.Emit(asm.JGE.Reg(asm.R1, asm.R2, stop), asm.JGT.Imm(asm.R1, l7OffMax, stop))
		b.Comment("r3 = the element's length byte, r4 = its length; on to the next one")
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1), asm.LoadMem(asm.R4, asm.R3, 0, asm.Byte))
		b.Emit(asm.Mov.Reg(asm.R5, asm.R1), asm.Add.Imm(asm.R5, 1), asm.Add.Reg(asm.R5, asm.R4), asm.StoreMem(asm.R9, stF(sLPos), asm.R5, asm.DWord))
		fl := make([]bool, n)
		for i := range fl {
			fl[i] = fold
		}
		switch op {
		case rules.TextEq:
			b.Emit(asm.JNE.Imm(asm.R4, n, miss))
			g.matchBytes(asm.R3, 1, lit, fl, miss)
		case rules.TextPrefix:
			b.Emit(asm.JLT.Imm(asm.R4, n, miss))
			g.matchBytes(asm.R3, 1, lit, fl, miss)
		case rules.TextSuffix:
			b.Emit(asm.JLT.Imm(asm.R4, n, miss), asm.Sub.Imm(asm.R4, n), asm.Add.Reg(asm.R3, asm.R4))
			g.matchBytes(asm.R3, 1, lit, fl, miss)
		case rules.TextContains:
			b.Comment("contains: every start in the element")
			b.Emit(asm.JLT.Imm(asm.R4, n, miss), asm.Sub.Imm(asm.R4, n))
			b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
			b.Emit(asm.Add.Reg(asm.R1, asm.R4), asm.StoreMem(asm.R9, stF(sLim), asm.R1, asm.DWord), storeDW(asm.R9, stF(sRes), 0))
			g.l7LoopFromCallback(256, l.containsFunc(g, p), nil)
			b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRes), asm.DWord), asm.JEq.Imm(asm.R1, 0, miss))
		}
		b.Label(hit)
		if all {
			g.ret(0) // this one holds: on to the next
			b.Label(miss)
			b.Emit(storeDW(asm.R9, stF(sLRes), 0))
			g.ret(1)
		} else {
			b.Emit(storeDW(asm.R9, stF(sLRes), 1))
			g.ret(1)
			b.Label(next)
			g.ret(0)
		}
		b.Label(stop)
		g.ret(1)
	}})
	return name
}
