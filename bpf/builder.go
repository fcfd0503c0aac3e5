package bpf

import (
	"fmt"
	"math"

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

// Comment attaches a source comment to the next emitted instruction; listings
// print it above the instruction.
func (b *Builder) Comment(format string, args ...any) {
	c := fmt.Sprintf(format, args...)
	if b.comment != "" {
		b.comment += "; " + c
	} else {
		b.comment = c
	}
}

// Emit appends instructions.
func (b *Builder) Emit(insns ...asm.Instruction) {
	for _, ins := range insns {
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

// Instructions resolves label aliases, checks that every jump reaches its
// label within the range of a 16-bit offset, and returns the program.
func (b *Builder) Instructions() (asm.Instructions, error) {
	if len(b.pending) > 0 {
		return nil, fmt.Errorf("labels %v mark no instruction", b.pending)
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
	// Check jump distances: the loader truncates offsets to 16 bits silently.
	offsets := map[string]int{}
	pos := 0
	insPos := make([]int, len(out))
	for i, ins := range out {
		insPos[i] = pos
		if s := ins.Symbol(); s != "" {
			offsets[s] = pos
		}
		pos += int(ins.Size() / asm.InstructionSize)
	}
	for i, ins := range out {
		ref := ins.Reference()
		if ref == "" || !ins.OpCode.Class().IsJump() || ins.IsFunctionCall() {
			continue
		}
		target, ok := offsets[ref]
		if !ok {
			return nil, fmt.Errorf("instruction %d jumps to undefined label %s", i, ref)
		}
		if d := target - insPos[i] - 1; d > math.MaxInt16 || d < math.MinInt16 {
			return nil, fmt.Errorf("instruction %d: jump to %s spans %d instructions, more than a BPF jump reaches", i, ref, d)
		}
	}
	return out, nil
}
