package bpf

import (
	"fmt"
	"math"
	"slices"

	"github.com/cilium/ebpf/asm"
)

// Builder accumulates instructions with symbolic jump labels and source
// comments. Labels mark the next emitted instruction; several labels may mark
// the same instruction. Jump offsets are resolved by the loader from the
// labels: no offset is ever computed by hand.
type Builder struct {
	insns   asm.Instructions
	pending []string
	alias   map[string]string
	comment string
	seq     int
	marks   []mark
	err     error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{alias: map[string]string{}}
}

// NewLabel returns a fresh label name starting with prefix. Label names start
// with '.', which no map or function name does.
func (b *Builder) NewLabel(prefix string) string {
	b.seq++
	return fmt.Sprintf(".%s.%d", prefix, b.seq)
}

// Label marks the next instruction with name.
func (b *Builder) Label(name string) {
	b.pending = append(b.pending, name)
}

// MainLabel is Label, and names the next instruction in listings by name
// rather than by the labels already waiting for it.
func (b *Builder) MainLabel(name string) {
	b.pending = append([]string{name}, b.pending...)
}

// Comment attaches a source comment to the next emitted instruction; listings
// print it above the instruction.
func (b *Builder) Comment(format string, args ...any) {
	c := fmt.Sprintf(format, args...)
	if b.comment != "" {
		b.comment += "\n" + c
	} else {
		b.comment = c
	}
}

type mark struct{ key, value any }

// Mark attaches key=value to the metadata of the next emitted instruction
// (asm.Instruction.Metadata.Get(key) reads it). A mark survives label
// aliasing and the peephole, which removes only unlabelled jumps: mark
// instructions that are not such jumps, or that carry a label.
func (b *Builder) Mark(key, value any) {
	b.marks = append(b.marks, mark{key, value})
}

// Emit appends instructions.
func (b *Builder) Emit(insns ...asm.Instruction) {
	for _, ins := range insns {
		for _, m := range b.marks {
			ins.Metadata.Set(m.key, m.value)
		}
		b.marks = b.marks[:0]
		if len(b.pending) > 0 {
			primary := b.pending[0]
			ins = ins.WithSymbol(primary)
			for _, l := range b.pending[1:] {
				b.alias[l] = primary
			}
			b.pending = b.pending[:0]
		}
		if b.comment != "" {
			ins = ins.WithSource(asm.Comment(b.comment))
			b.comment = ""
		}
		b.insns = append(b.insns, ins)
	}
}

// Len is the number of instructions emitted so far.
func (b *Builder) Len() int { return len(b.insns) }

// Resolve returns the label that names the instruction name marks: labels
// marking one instruction are aliases of the first.
func (b *Builder) Resolve(name string) string {
	if p, ok := b.alias[name]; ok {
		return p
	}
	return name
}

// ReadsStack reports whether an instruction so far loads any of the n bytes
// at off from the frame pointer.
func (b *Builder) ReadsStack(off int16, n int) bool {
	for _, ins := range b.insns {
		if ins.OpCode.Class() == asm.LdXClass && ins.Src == asm.RFP {
			lo, hi := int(ins.Offset), int(ins.Offset)+ins.OpCode.Size().Sizeof()
			if lo < int(off)+n && int(off) < hi {
				return true
			}
		}
	}
	return false
}

// Remove deletes n instructions from position from. Their labels move to
// the instruction after them (the first of theirs naming it); their comments
// go with them.
func (b *Builder) Remove(from, n int) {
	var syms []string
	for _, ins := range b.insns[from : from+n] {
		if s := ins.Symbol(); s != "" {
			syms = append(syms, s)
		}
	}
	b.insns = append(b.insns[:from], b.insns[from+n:]...)
	if len(syms) == 0 {
		return
	}
	if from == len(b.insns) {
		b.pending = append(syms, b.pending...)
		return
	}
	next := b.insns[from]
	primary := syms[0]
	if s := next.Symbol(); s != "" {
		syms = append(syms, s)
	}
	b.insns[from] = next.WithSymbol(primary)
	for _, s := range syms[1:] {
		b.alias[s] = primary
	}
	for k, v := range b.alias {
		if slices.Contains(syms, v) {
			b.alias[k] = primary
		}
	}
}

// Instructions resolves label aliases and returns the program. Jumps whose
// label lies beyond the reach of a 16-bit offset are relaxed: an
// unconditional jump becomes a 32-bit "gotol", a conditional one jumps over a
// "gotol" on the opposite condition. This is the one place where relative
// offsets are written, and they only ever skip one or two instructions.
func (b *Builder) Instructions() (asm.Instructions, error) {
	if len(b.pending) > 0 {
		return nil, fmt.Errorf("labels %v mark no instruction", b.pending)
	}
	if len(b.marks) > 0 {
		return nil, fmt.Errorf("marks %v mark no instruction", b.marks)
	}
	out := make(asm.Instructions, len(b.insns))
	copy(out, b.insns)
	for i, ins := range out {
		if ref := ins.Reference(); ref != "" {
			if p, ok := b.alias[ref]; ok {
				out[i] = ins.WithReference(p)
			}
		}
	}
	out = peephole(out)
	for {
		far, err := farJumps(out)
		if err != nil {
			return nil, err
		}
		if len(far) == 0 {
			return out, nil
		}
		out = relax(out, far)
	}
}

// peephole removes the jumps code generators leave on the common path:
//
//	if c goto L1; goto L2; L1: ...   becomes   if !c goto L2; L1: ...
//	goto L1; L1: ...                 becomes   L1: ...
//
// so the fall-through path takes no jump. A removed jump's comment moves to
// the instruction after it.
func peephole(insns asm.Instructions) asm.Instructions {
	out := make(asm.Instructions, 0, len(insns))
	for i := 0; i < len(insns); i++ {
		ins := insns[i]
		isJa := func(x asm.Instruction) bool {
			return x.OpCode.Class() == asm.JumpClass && x.OpCode.JumpOp() == asm.Ja && x.Reference() != ""
		}
		// goto L1; L1:
		if isJa(ins) && ins.Symbol() == "" && i+1 < len(insns) && insns[i+1].Symbol() == ins.Reference() {
			insns[i+1] = carrySource(ins, insns[i+1])
			continue
		}
		// if c goto L1; goto L2; L1:
		if ins.OpCode.Class().IsJump() && !ins.IsFunctionCall() && ins.Reference() != "" && i+2 < len(insns) {
			inv, ok := inverse[ins.OpCode.JumpOp()]
			next, after := insns[i+1], insns[i+2]
			if ok && isJa(next) && next.Symbol() == "" && after.Symbol() == ins.Reference() {
				flipped := ins.WithReference(next.Reference())
				flipped.OpCode = ins.OpCode.SetJumpOp(inv)
				out = append(out, flipped)
				insns[i+2] = carrySource(next, after)
				i++
				continue
			}
		}
		out = append(out, ins)
	}
	return out
}

// carrySource gives to the comment of a removed instruction.
func carrySource(removed, to asm.Instruction) asm.Instruction {
	src := removed.Source()
	if src == nil {
		return to
	}
	if cur := to.Source(); cur != nil {
		return to.WithSource(asm.Comment(src.String() + "\n" + cur.String()))
	}
	return to.WithSource(src)
}

// farJumps returns the indices of jumps whose label is out of 16-bit reach.
func farJumps(insns asm.Instructions) (map[int]bool, error) {
	offsets := map[string]int{}
	pos := 0
	insPos := make([]int, len(insns))
	for i, ins := range insns {
		insPos[i] = pos
		if s := ins.Symbol(); s != "" {
			offsets[s] = pos
		}
		pos += int(ins.Size() / asm.InstructionSize)
	}
	far := map[int]bool{}
	for i, ins := range insns {
		ref := ins.Reference()
		if ref == "" || !ins.OpCode.Class().IsJump() || ins.IsFunctionCall() || ins.OpCode.Class() == asm.Jump32Class && ins.OpCode.JumpOp() == asm.Ja {
			continue
		}
		target, ok := offsets[ref]
		if !ok {
			return nil, fmt.Errorf("instruction %d jumps to undefined label %s", i, ref)
		}
		if d := target - insPos[i] - 1; d > jumpReach || d < -jumpReach {
			far[i] = true
		}
	}
	return far, nil
}

// jumpReach is how far a 16-bit jump may reach in the builder's output. The
// kernel grows programs while loading them (inlined map lookups, context
// rewrites), so a jump close to the 16-bit limit here can overflow there
// ("cannot be patched due to 16-bit range"); half the range leaves room.
const jumpReach = math.MaxInt16 / 2

var inverse = map[asm.JumpOp]asm.JumpOp{
	asm.JEq: asm.JNE, asm.JNE: asm.JEq,
	asm.JGT: asm.JLE, asm.JLE: asm.JGT,
	asm.JGE: asm.JLT, asm.JLT: asm.JGE,
	asm.JSGT: asm.JSLE, asm.JSLE: asm.JSGT,
	asm.JSGE: asm.JSLT, asm.JSLT: asm.JSGE,
}

func relax(insns asm.Instructions, far map[int]bool) asm.Instructions {
	out := make(asm.Instructions, 0, len(insns)+2*len(far))
	for i, ins := range insns {
		if !far[i] {
			out = append(out, ins)
			continue
		}
		long := asm.LongJump(ins.Reference())
		op := ins.OpCode.JumpOp()
		if op == asm.Ja {
			long.Metadata = ins.Metadata
			out = append(out, long)
			continue
		}
		skip := ins.WithReference("")
		if inv, ok := inverse[op]; ok {
			skip.OpCode = ins.OpCode.SetJumpOp(inv)
			skip.Offset = 1
			out = append(out, skip, long)
			continue
		}
		// JSet has no opposite: jump onto the gotol, or over it.
		skip.Offset = 1
		out = append(out, skip, asm.Instruction{OpCode: asm.Ja.Op(asm.ImmSource), Offset: 1}, long)
	}
	return out
}
