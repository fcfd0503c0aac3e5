package compiler

import (
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/hdrlog/hdrlog/rules"
)

// Building blocks of the L7 stage: the l7 map lookup, bounded loops through
// bpf_loop and their callbacks, the byte finder, and loads of little-endian
// words.
//
// Inside the L7 stage and its callbacks, R9 holds the l7 map value of the
// hook (decoder state at l7State), and the callbacks' context is a stack
// slot of the caller holding that pointer, spilled.

// l7CtxOff is the main program's stack slot holding the spilled l7 pointer,
// the context of bpf_loop callbacks; just below the packet record.
func (g *gen) l7CtxOff() int16 { return g.rec.lo - 8 }

// l7RulePresOff is the main program's stack slot of a gated rule's
// presence bitmap (see l7RuleEnter).
func (g *gen) l7RulePresOff() int16 { return g.rec.lo - 16 }

// fnL7CtxOff is the same context slot in a group's subprogram.
const fnL7CtxOff = -24

// l7Lookup sets dst to this CPU's l7 value of the hook, or jumps to fail.
// It clobbers R0-R5.
func (g *gen) l7Lookup(dst asm.Register, fail string) {
	b := g.b
	key := int16(keyOff)
	if g.inFunc {
		key = fnKeyOff
	}
	b.Emit(asm.StoreImm(asm.R10, key, int64(hookKey(g.hook)), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(L7Map), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
	if dst != asm.R0 {
		b.Emit(asm.Mov.Reg(dst, asm.R0))
	}
}

// l7Loop calls bpf_loop(n, fn, ctx, 0); ctx is the stack slot at ctxOff
// (of the current frame) holding the l7 pointer. emit writes fn's body (its
// label is placed before) the first time fn is asked for. R0-R5 are
// clobbered.
func (g *gen) l7Loop(n int32, ctxOff int16, fn string, emit func()) {
	b := g.b
	g.l7.addFunc(fn, emit)
	b.Emit(asm.Mov.Imm(asm.R1, n))
	b.Emit(asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(fn))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(ctxOff)))
	b.Emit(asm.Mov.Imm(asm.R4, 0), asm.FnLoop.Call())
}

// l7LoopFromCallback is l7Loop from inside a callback, whose context
// pointer is in R6.
func (g *gen) l7LoopFromCallback(n int32, fn string, emit func()) {
	b := g.b
	g.l7.addFunc(fn, emit)
	b.Emit(asm.Mov.Imm(asm.R1, n))
	b.Emit(asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(fn))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R6), asm.Mov.Imm(asm.R4, 0), asm.FnLoop.Call())
}

func (l *l7gen) addFunc(name string, emit func()) {
	if l.funcSeen[name] {
		return
	}
	l.funcSeen[name] = true
	l.funcs = append(l.funcs, l7Func{name: name, emit: emit})
}

// l7EmitFuncs emits the callbacks after the program, each starting at its
// symbol with R1 = index and R2 = context: the prologue loads the l7
// pointer into R9 and keeps the context in R6. A callback returns 0 to go
// on and 1 to stop. Callbacks may ask for more callbacks.
func (g *gen) l7EmitFuncs() {
	if g.l7 == nil {
		return
	}
	b := g.b
	saved := g.inFunc
	g.inFunc = true
	for i := 0; i < len(g.l7.funcs); i++ {
		f := g.l7.funcs[i]
		g.markPhase(PhaseCallback)
		b.Label(f.name)
		b.Comment("L7 callback %s(index, ctx): r6 = ctx, r9 = l7 value", f.name)
		b.Emit(asm.Mov.Reg(asm.R6, asm.R2), asm.LoadMem(asm.R9, asm.R2, 0, asm.DWord))
		f.emit()
	}
	g.inFunc = saved
}

// l7FuncBTF gives the callbacks their BTF when the program has any (global
// subprograms make the kernel ask for every function's).
func (g *gen) l7FuncBTF(insns asm.Instructions) {
	if g.l7 == nil || len(g.l7.funcs) == 0 {
		return
	}
	g.callbackBTF(insns, g.l7.funcSeen)
}

// payFuncBTF gives the contains callbacks of byte fields their BTF.
func (g *gen) payFuncBTF(insns asm.Instructions) {
	if names := g.payFuncNames(); len(names) > 0 {
		g.callbackBTF(insns, names)
	}
}

// callbackBTF gives the named bpf_loop callbacks their BTF.
func (g *gen) callbackBTF(insns asm.Instructions, names map[string]bool) {
	u32 := &btf.Int{Name: "__u32", Size: 4}
	long := &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}
	ptr := &btf.Pointer{Target: &btf.Void{}}
	for i, ins := range insns {
		if _, ok := names[ins.Symbol()]; ok && ins.Symbol() != "" {
			proto := &btf.FuncProto{Return: long, Params: []btf.FuncParam{{Name: "index", Type: u32}, {Name: "ctx", Type: ptr}}}
			insns[i] = btf.WithFuncMetadata(ins, &btf.Func{Name: ins.Symbol(), Type: proto, Linkage: btf.StaticFunc})
		}
	}
}

// l7HasFuncs reports whether the program has L7 callbacks.
func (g *gen) l7HasFuncs() bool { return g.l7 != nil && len(g.l7.funcs) > 0 }

// ret emits "return v" in a callback.
func (g *gen) ret(v int32) { g.b.Emit(asm.Mov.Imm(asm.R0, v), asm.Return()) }

// notFound is the finder's result when the byte is not there.
const notFound = 0xffff

// findByte finds the first byte equal to a pattern byte at or after state
// sPos and before sLim (window positions), eight bytes at a time; the
// result (or notFound) goes to sRes. The pattern is the byte repeated in all
// eight bytes of sPat. It is a callback: call it through bpf_loop with
// l7WinSize/8/findWords iterations at most.
const fnFindByte = "hdrlog_l7_find"

func (g *gen) emitFindByte() {
	b := g.b
	none, hit := b.NewLabel("find.none"), b.NewLabel("find.hit")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLim), asm.DWord))
	b.Emit(asm.LoadMem(asm.R5, asm.R9, stF(sPat), asm.DWord))
	for range findWords {
		b.Comment("w = 8 window bytes at pos, as a little-endian word")
		b.Emit(asm.JGE.Reg(asm.R1, asm.R2, none), asm.JGT.Imm(asm.R1, l7WinSize-1, none))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1))
		b.Emit(asm.LoadMem(asm.R4, asm.R3, l7Win, asm.DWord), asm.HostTo(asm.LE, asm.R4, asm.DWord))
		b.Comment("x = w ^ pattern; z = 0x80 in each byte of x that is zero (exact, no borrow)")
		b.Emit(asm.Xor.Reg(asm.R4, asm.R5), asm.LoadImm(asm.R3, 0x7f7f7f7f7f7f7f7f, asm.DWord))
		b.Emit(asm.Mov.Reg(asm.R0, asm.R4), asm.And.Reg(asm.R0, asm.R3), asm.Add.Reg(asm.R0, asm.R3))
		b.Emit(asm.Or.Reg(asm.R0, asm.R4), asm.Or.Reg(asm.R0, asm.R3), asm.Xor.Imm(asm.R0, -1))
		b.Comment("keep the bytes before the limit")
		full := b.NewLabel("find.full")
		b.Emit(asm.Mov.Reg(asm.R3, asm.R2), asm.Sub.Reg(asm.R3, asm.R1), asm.JGE.Imm(asm.R3, 8, full))
		b.Emit(asm.LSh.Imm(asm.R3, 3), asm.Mov.Imm(asm.R4, 1), asm.LSh.Reg(asm.R4, asm.R3), asm.Sub.Imm(asm.R4, 1), asm.And.Reg(asm.R0, asm.R4))
		b.Label(full)
		b.Emit(asm.JNE.Imm(asm.R0, 0, hit), asm.Add.Imm(asm.R1, 8))
	}
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
	g.ret(0)
	b.Label(hit)
	b.Comment("the first match: index of the lowest set bit's byte, by a de Bruijn-like multiply")
	b.Emit(asm.Mov.Reg(asm.R3, asm.R0), asm.Neg.Imm(asm.R3, 0), asm.And.Reg(asm.R0, asm.R3), asm.RSh.Imm(asm.R0, 7))
	b.Emit(asm.LoadImm(asm.R3, 0x0001020304050607, asm.DWord), asm.Mul.Reg(asm.R0, asm.R3), asm.RSh.Imm(asm.R0, 56))
	b.Emit(asm.Add.Reg(asm.R1, asm.R0), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.ret(1)
	b.Label(none)
	b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.ret(1)
}

// findWords is how many words the finder examines per callback.
const findWords = 4

// repeat8 is a byte repeated in the eight bytes of a word.
func repeat8(c byte) int64 { return int64(0x0101010101010101 * uint64(c)) }

// find runs the byte finder for byte c from sPos to sLim (set by the
// caller), from the main program or a callback. The result is left in sRes
// and in R1 (notFound when absent).
func (g *gen) find(c byte, fromCallback bool) {
	b := g.b
	b.Emit(asm.LoadImm(asm.R1, repeat8(c), asm.DWord), asm.StoreMem(asm.R9, stF(sPat), asm.R1, asm.DWord))
	b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	if fromCallback {
		g.l7LoopFromCallback(l7WinSize/8/findWords+1, fnFindByte, g.emitFindByte)
	} else {
		g.l7Loop(l7WinSize/8/findWords+1, g.l7CtxOff(), fnFindByte, g.emitFindByte)
	}
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRes), asm.DWord))
}

// nativeWord is the word a load of these bytes (at most 8, zero-padded)
// gives in the host's byte order.
func nativeWord(p []byte) uint64 {
	var w [8]byte
	copy(w[:], p)
	return ByteOrder.Uint64(w[:])
}

// matchBytes jumps to miss unless the bytes at ptr+off are want, ASCII
// letters of want matching in either case where fold[i] is set. It loads
// eight bytes at a time (the l7 value has slack for that); R0 and R5 are
// its scratch.
func (g *gen) matchBytes(ptr asm.Register, off int16, want string, fold []bool, miss string) {
	b := g.b
	for at := 0; at < len(want); at += 8 {
		n := min(8, len(want)-at)
		var exp, mask, orm [8]byte
		for j := range n {
			c := want[at+j]
			mask[j] = 0xff
			if fold != nil && fold[at+j] && isLetter(c) {
				orm[j] = 0x20
				c |= 0x20
			}
			exp[j] = c
		}
		b.Emit(asm.LoadMem(asm.R0, ptr, off+int16(at), asm.DWord))
		if w := nativeWord(orm[:]); w != 0 {
			b.Emit(asm.LoadImm(asm.R5, int64(w), asm.DWord), asm.Or.Reg(asm.R0, asm.R5))
		}
		if n < 8 {
			b.Emit(asm.LoadImm(asm.R5, int64(nativeWord(mask[:])), asm.DWord), asm.And.Reg(asm.R0, asm.R5))
		}
		b.Emit(asm.LoadImm(asm.R5, int64(nativeWord(exp[:])), asm.DWord), asm.JNE.Reg(asm.R0, asm.R5, miss))
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// be16At loads a big-endian u16 at ptr+off into dst.
func (g *gen) be16At(dst, ptr asm.Register, off int16) {
	g.b.Emit(asm.LoadMem(dst, ptr, off, asm.Half), asm.HostTo(asm.BE, dst, asm.Half))
}

// strResult stores a string result (offset in the l7 value, length, both
// registers other than R0 and R5) as present, for string slot k, from a
// callback or the main program; R0 and R5 are scratch.
func (g *gen) strResult(k slotKey, off, n asm.Register) {
	i, ok := g.l7.strings[k]
	if !ok {
		return
	}
	b := g.b
	b.Emit(asm.Mov.Reg(asm.R0, n), asm.LSh.Imm(asm.R0, 16), asm.Or.Reg(asm.R0, off))
	b.Emit(asm.LoadImm(asm.R5, 1<<32, asm.DWord), asm.Or.Reg(asm.R0, asm.R5))
	b.Emit(asm.StoreMem(asm.R9, stF(sStr)+int16(8*i), asm.R0, asm.DWord))
}

// hasString reports whether the rules use string slot k.
func (l *l7gen) hasString(k slotKey) bool { _, ok := l.strings[k]; return ok }

// strKeyOf is the string slot of a catalogue field by name.
func strKeyOf(name string) slotKey {
	f, _ := rules.LookupField(name)
	return stringKey(f)
}

// storeDW is *(u64 *)(dst + off) = v (sign-extended 32-bit immediate), which
// the kernel has and cilium/ebpf's StoreImm does not build.
func storeDW(dst asm.Register, off int16, v int32) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: int64(v)}
}

// l7SetFact records a fact in the decoder state; the commit ORs them into
// the presence bitmap (R7). Setting R7 on each path instead would leave the
// verifier a different constant per path, and the rules after the parser
// verified once per combination of L7 outcomes.
// A fact of bit 31 or above is set in the upper word (a 32-bit immediate
// is sign-extended).
func (g *gen) l7SetFact(fact int) {
	if fact >= immFacts {
		off := stF(sFacts)
		bit := fact
		if fact >= 32 {
			off, bit = off+4, fact-32
		}
		g.b.Emit(asm.LoadMem(asm.R0, asm.R9, off, asm.Word), asm.Or.Imm32(asm.R0, int32(uint32(1)<<bit)), asm.StoreMem(asm.R9, off, asm.R0, asm.Word))
		return
	}
	g.b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sFacts), asm.DWord), asm.Or.Imm(asm.R0, 1<<fact), asm.StoreMem(asm.R9, stF(sFacts), asm.R0, asm.DWord))
}

// andMask emits dst &= mask (64 bits): with an immediate when its sign
// extension gives the mask, otherwise through scratch. L7 facts may sit
// above bit 31, where an immediate cannot reach.
func (g *gen) andMask(dst asm.Register, mask uint64, scratch asm.Register) {
	if int64(mask) == int64(int32(mask)) {
		g.b.Emit(asm.And.Imm(dst, int32(mask)))
		return
	}
	g.b.Emit(asm.LoadImm(scratch, int64(mask), asm.DWord), asm.And.Reg(dst, scratch))
}
