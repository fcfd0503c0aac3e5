package compiler

import (
	"github.com/cilium/ebpf/asm"
)

// Clearing the window: the l7 map value outlives the program (a per-CPU
// array anyone with the map can read), and the window holds the payload
// as it came, secrets included (an Authorization header the event shows as
// [redacted]). Before returning, the program zeroes the window bytes this
// segment filled (sDirty: the most any copy into it filled, a pipelined
// request's or a held ClientHello's included), 64 bytes per callback, and
// sets sDirty and sAvail to 0. A held ClientHello was copied to its own map
// before (l7_tlshold.go); the next segment copies it back.

const fnClearWin = "hdrlog_l7_clear"

// l7ClearChunk is the bytes one clearing callback zeroes.
const l7ClearChunk = 64

// l7Clear zeroes the filled window at the program's end (the epilogue).
func (g *gen) l7Clear() {
	if g.l7 == nil {
		return
	}
	b := g.b
	done := b.NewLabel("l7.clear.done")
	b.Comment("clear the payload window this segment filled: no payload byte outlives the program")
	g.l7Lookup(asm.R9, done)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sDirty), asm.DWord), asm.JEq.Imm(asm.R1, 0, done))
	b.Emit(asm.StoreMem(asm.R10, g.l7CtxOff(), asm.R9, asm.DWord))
	g.l7Loop(l7WinSize/l7ClearChunk, g.l7CtxOff(), fnClearWin, g.emitClearWin)
	b.Emit(storeDW(asm.R9, stF(sAvail), 0), storeDW(asm.R9, stF(sDirty), 0))
	b.Label(done)
}

// emitClearWin zeroes chunk R1 (the index) of the window while it starts
// before sDirty.
func (g *gen) emitClearWin() {
	b := g.b
	stop := b.NewLabel("clear.stop")
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize/l7ClearChunk-1, stop), asm.LSh.Imm(asm.R1, 6))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sDirty), asm.DWord), asm.JGE.Reg(asm.R1, asm.R2, stop))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1))
	for off := int16(0); off < l7ClearChunk; off += 8 {
		b.Emit(storeDW(asm.R2, l7Win+off, 0))
	}
	g.ret(0)
	b.Label(stop)
	g.ret(1)
}

// markDirty raises sDirty to the register's value (imm 0) or to imm; R0 is
// its scratch.
func (g *gen) markDirty(r asm.Register, imm int32) {
	b := g.b
	skip := b.NewLabel("dirty")
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sDirty), asm.DWord))
	if imm != 0 {
		b.Emit(asm.JGE.Imm(asm.R0, imm, skip), storeDW(asm.R9, stF(sDirty), imm))
	} else {
		b.Emit(asm.JGE.Reg(asm.R0, r, skip), asm.StoreMem(asm.R9, stF(sDirty), r, asm.DWord))
	}
	b.Label(skip)
}
