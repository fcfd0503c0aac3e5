package compiler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// The code generator's contract, as code (after cloudflare/cbpfc's EBPFOpts):
// a program is a sequence of phases, and each phase owns some registers and
// some stack slots. A phase writes only what it owns; what it does not own it
// hands on as it found it. CheckContract holds every compiled program to it
// (the golden listings and every kernel test's program go through it), so a
// change that, say, makes a rule write the packet record, or the L7 stage
// clobber the context, fails a test instead of a packet.

// Phase is one part of a compiled program.
type Phase int

const (
	// PhaseParser is the header parser, from the entry to .parse.done
	// (its out-of-line blocks included).
	PhaseParser Phase = iota
	// PhaseL7 is the L7 stage, the parser's last part: from .l7.tcp or
	// .l7.udp to .parse.done.
	PhaseL7
	// PhaseRules is the rules and their events: .parse.done to .epilogue.
	PhaseRules
	// PhaseEpilogue returns the verdict.
	PhaseEpilogue
	// PhaseGroup is a group's subprogram (a BPF-to-BPF call, its own frame).
	PhaseGroup
	// PhaseCallback is an L7 bpf_loop callback (its own frame).
	PhaseCallback
	// PhaseL7Pipe decodes a further HTTP request of the segment into the
	// record, between runs of the rules that use HTTP (l7_pipe.go).
	PhaseL7Pipe
	// PhasePayload copies the byte fields' windows to the payload map, at
	// the parser's end (payload.go).
	PhasePayload
	// PhaseBatch takes the next frame of a batched test run, before the
	// parser (batch.go).
	PhaseBatch
)

var phaseNames = [...]string{"parser", "l7", "rules", "epilogue", "group", "callback", "l7.pipe", "payload", "batch"}

func (p Phase) String() string { return phaseNames[p] }

// StackSlot names a range of the frame: [Off, Off+Size) from R10.
type StackSlot struct {
	Name      string
	Off, Size int
}

// frameOf is the stack layout of a program whose packet record has recSize
// bytes: the slots the phases may own.
func frameOf(recSize int) map[string]StackSlot {
	lo := recordTop - recSize
	return map[string]StackSlot{
		"record":   {"record", lo, recSize},
		"presence": {"presence", presenceOff, 8},
		"key":      {"key", keyOff, 8},
		"l7.ctx":   {"l7.ctx", lo - 8, 8},
		"l7.pres":  {"l7.pres", lo - 16, 8},
		// The held TLS bytes' map value, next to the context (l7_tlshold.go).
		"l7.held": {"l7.held", lo - 24, 8},
		// The pipelined requests' counter, and the record's base register
		// kept while their decoders run (l7_pipe.go).
		"l7.pipe": {"l7.pipe", lo - 32, 8},
		"l7.base": {"l7.base", lo - 40, 8},
		// A set lookup's key (sets.go).
		"set.key":    {"set.key", lo - 64, 24},
		"fn.set.key": {"fn.set.key", fnSetKeyOff, 24},
		// A subprogram's own frame (groups and callbacks).
		"fn.index":  {"fn.index", fnIndexOff, 8},
		"fn.key":    {"fn.key", fnKeyOff, 8},
		"fn.l7.ctx": {"fn.l7.ctx", fnL7CtxOff, 8},
	}
}

// PhaseContract is what one phase owns.
type PhaseContract struct {
	Phase Phase
	// Entry are the registers the phase sets once, at its first
	// instruction (the context, in every function).
	Entry []asm.Register
	// Writes are the registers it may write anywhere. R0-R5 are scratch
	// everywhere (helper calls clobber them); R10 is nobody's.
	Writes []asm.Register
	// Stack names the slots of frameOf it may write.
	Stack []string
}

var scratch = []asm.Register{asm.R0, asm.R1, asm.R2, asm.R3, asm.R4, asm.R5}

// Contract is the generator's contract: what each phase owns. The register
// convention of parse.go says what the registers hold.
var Contract = []PhaseContract{
	{Phase: PhaseParser, Entry: []asm.Register{rCtx},
		// Presence, packet data and end.
		Writes: []asm.Register{rPresence, rData, rDataEnd},
		Stack:  []string{"record", "presence"}},
	{Phase: PhaseL7,
		// R7: the facts the decoders found are ORed in at the commit; R8,
		// R9: the stage's own (the l7 value in R9). The context is kept.
		Writes: []asm.Register{rPresence, asm.R8, asm.R9},
		// The commit writes the L7 slots of the record; the map key and the
		// callbacks' context and the held TLS bytes' pointer are its own.
		Stack: []string{"record", "key", "l7.ctx", "l7.held"}},
	{Phase: PhaseRules,
		// R7 reloaded from the presence slot (a gated L7 rule clears the
		// facts of protocols it does not see), R8 the scratch copy of the
		// record in large programs, R9 the event being filled.
		Writes: []asm.Register{rPresence, asm.R8, rEvent},
		// Rules read the record and never write it: the lost-counter key,
		// a gated L7 rule's presence and the callbacks' context (text
		// tests loop over the l7 value) are theirs.
		// A set lookup builds its key in set.key.
		Stack: []string{"key", "l7.pres", "l7.ctx", "set.key"}},
	// The epilogue clears the L7 window (l7Clear): the l7 value in R9, the
	// map key and the callbacks' context are its own.
	{Phase: PhaseEpilogue, Writes: []asm.Register{asm.R9}, Stack: []string{"key", "l7.ctx"}},
	{Phase: PhaseGroup, Entry: []asm.Register{rCtx},
		Writes: []asm.Register{rPresence, asm.R8, rEvent},
		Stack:  []string{"fn.index", "fn.key", "fn.l7.ctx", "fn.set.key"}},
	{Phase: PhaseCallback, Entry: []asm.Register{rCtx},
		Writes: []asm.Register{asm.R7, asm.R8, asm.R9},
		Stack:  nil},
	{Phase: PhaseL7Pipe,
		// The L7 stage's registers, and the record's base (R8) restored.
		Writes: []asm.Register{rPresence, asm.R8, asm.R9},
		// The HTTP slots of the record (and the presence bitmap) for the
		// next request, the stage's own slots, the loop's.
		Stack: []string{"record", "presence", "key", "l7.ctx", "l7.pipe", "l7.base"}},
	{Phase: PhasePayload,
		// The payload facts; R8 the map value, R9 the frame's length (the
		// parser is done with packet data and end).
		Writes: []asm.Register{rPresence, asm.R8, asm.R9},
		// The byte fields' slots (lengths clamped to the frame), the
		// lookup key.
		Stack: []string{"record", "key"}},
	{Phase: PhaseBatch, Entry: []asm.Register{rCtx},
		// The batch map's value and the frame's entry; R1 gets the
		// context back for the parser's entry.
		Writes: []asm.Register{asm.R7, asm.R8},
		Stack:  []string{"key"}},
}

// PhaseSpan is where a phase's code lies in a program: instructions
// [Start, End) of Insns.
type PhaseSpan struct {
	Phase      Phase
	Start, End int
}

// phaseKey marks, in an instruction's metadata, the first instruction of a
// phase.
type phaseKey struct{}

// markPhase makes the next instruction start phase p.
func (g *gen) markPhase(p Phase) { g.b.Mark(phaseKey{}, p) }

// phaseSpans finds the phases' spans from their marks.
func phaseSpans(insns asm.Instructions) []PhaseSpan {
	var out []PhaseSpan
	for i, ins := range insns {
		if p, ok := ins.Metadata.Get(phaseKey{}).(Phase); ok {
			if n := len(out); n > 0 {
				out[n-1].End = i
			}
			out = append(out, PhaseSpan{Phase: p, Start: i, End: len(insns)})
		}
	}
	return out
}

// CheckContract checks that every instruction of p writes only registers
// and stack slots its phase owns.
func CheckContract(p *Program) error {
	if len(p.Phases) == 0 || p.Phases[0].Start != 0 {
		return fmt.Errorf("contract: program %s: no phase at the entry", p.Flavour.Name)
	}
	frame := frameOf(p.RecordSize)
	var errs []string
	for _, span := range p.Phases {
		c := Contract[span.Phase]
		for i := span.Start; i < span.End; i++ {
			ins := p.Insns[i]
			if msg := c.violation(ins, i == span.Start, frame); msg != "" {
				errs = append(errs, fmt.Sprintf("%d: %s: %v: %s", i, span.Phase, ins, msg))
			}
		}
	}
	if len(errs) > 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Sprintf("... %d more", len(errs)-10))
		}
		return fmt.Errorf("contract: program %s:\n%s", p.Flavour.Name, strings.Join(errs, "\n"))
	}
	return nil
}

// violation says how ins breaks the phase's contract, or "".
func (c *PhaseContract) violation(ins asm.Instruction, entry bool, frame map[string]StackSlot) string {
	op := ins.OpCode
	switch op.Class() {
	case asm.StXClass, asm.StClass:
		if ins.Dst != asm.R10 {
			return "" // map or packet memory: not the frame
		}
		lo, hi := int(ins.Offset), int(ins.Offset)+op.Size().Sizeof()
		for _, name := range c.Stack {
			s := frame[name]
			if s.Off <= lo && hi <= s.Off+s.Size {
				return ""
			}
		}
		return fmt.Sprintf("writes stack [%d,%d), which is not among its slots %v", lo, hi, c.Stack)
	case asm.ALUClass, asm.ALU64Class, asm.LdXClass, asm.LdClass:
		dst := ins.Dst
		switch {
		case dst == asm.R10:
			return "writes the frame pointer"
		case slices.Contains(scratch, dst), slices.Contains(c.Writes, dst):
			return ""
		case entry && slices.Contains(c.Entry, dst):
			return ""
		}
		return fmt.Sprintf("writes %s, which it does not own", dst)
	}
	return ""
}
