package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Text in events (RenderText): the kernel writes the value's length and
// flags, and at most MaxLen bytes of it, the rest of the slot zero; a
// redacted field carries its length only. The bytes are copied from the l7
// map eight at a time, the last word masked to the value's end, so no byte
// of another packet reaches user space.

// Flags of a text slot in an event.
const (
	TextPresent   = 1
	TextTruncated = 2 // the value is longer than MaxLen: the slot holds its first MaxLen bytes
	TextRedacted  = 4 // the value is not in the event, only its length
)

// textSlotSize is the size of a text slot holding maxLen bytes of value.
func textSlotSize(maxLen int) int { return 8 + (maxLen+7)&^7 }

// writeText fills a text slot of the event (rEvent) from string slot s.
func (g *gen) writeText(ref rules.FieldRef, fs FieldSlot, s *slot) {
	b := g.b
	done := b.NewLabel("text.done")
	for off := 0; off < fs.Size; off += 8 {
		b.Emit(storeDW(rEvent, int16(fs.Offset+off), 0))
	}
	at := s.off - g.delta
	// The presence bitmap from its opaque slot: a test on R7 itself would
	// make the verifier track the parser's constants precisely.
	reg, off := g.presence()
	b.Emit(asm.LoadMem(asm.R1, reg, off, asm.DWord), asm.And.Imm(asm.R1, 1<<FactOf(ref)), asm.JEq.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R1, g.base, at+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, done))
	redact := fs.Redact
	flags := int32(TextPresent)
	if redact {
		flags |= TextRedacted
	}
	b.Comment("length, flags (truncated when longer than %d bytes)", fs.MaxLen)
	b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.StoreMem(rEvent, int16(fs.Offset), asm.R2, asm.Half))
	full := b.NewLabel("text.fits")
	b.Emit(asm.Mov.Imm(asm.R1, flags), asm.JLE.Imm(asm.R2, int32(fs.MaxLen), full), asm.Or.Imm(asm.R1, TextTruncated), asm.Mov.Imm(asm.R2, int32(fs.MaxLen)))
	b.Label(full)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset+2), asm.R1, asm.Byte))
	if redact {
		b.Label(done)
		return
	}
	b.Emit(asm.JEq.Imm(asm.R2, 0, done))
	if fs.MaskURL {
		g.maskURL(at, fs, done) // l7_mask.go: R1 the masked copy, R2 its length
	} else {
		g.l7Lookup(asm.R1, done)
		b.Emit(asm.LoadMem(asm.R3, g.base, at, asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, done), asm.Add.Reg(asm.R1, asm.R3))
		b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half))
		fits := b.NewLabel("text.n")
		b.Emit(asm.JLE.Imm(asm.R2, int32(fs.MaxLen), fits), asm.Mov.Imm(asm.R2, int32(fs.MaxLen)))
		b.Label(fits)
	}
	b.Comment("copy min(length, %d) bytes, the last word masked", fs.MaxLen)
	for k := 0; k < (fs.MaxLen+7)/8; k++ {
		whole := b.NewLabel("text.word")
		dst := int16(fs.Offset + 8 + 8*k)
		b.Emit(asm.JLE.Imm(asm.R2, int32(8*k), done))
		b.Emit(asm.LoadMem(asm.R4, asm.R1, int16(8*k), asm.DWord), asm.JGE.Imm(asm.R2, int32(8*k+8), whole))
		b.Emit(asm.Mov.Reg(asm.R5, asm.R2), asm.Sub.Imm(asm.R5, int32(8*k)), asm.LSh.Imm(asm.R5, 3))
		b.Emit(asm.Mov.Imm(asm.R0, 1), asm.LSh.Reg(asm.R0, asm.R5), asm.Sub.Imm(asm.R0, 1), asm.And.Reg(asm.R4, asm.R0))
		b.Emit(asm.StoreMem(rEvent, dst, asm.R4, asm.DWord), asm.Ja.Label(done))
		b.Label(whole)
		b.Emit(asm.StoreMem(rEvent, dst, asm.R4, asm.DWord))
	}
	b.Label(done)
}

// presence is where the current rule reads the presence bitmap: its own
// slot when its view of an L7 protocol depends on its ports, the record's
// otherwise.
func (g *gen) presence() (asm.Register, int16) {
	if g.l7 != nil && g.l7.rulePres != 0 && !g.inFunc {
		return asm.R10, g.l7.rulePres
	}
	return g.base, presenceOff - g.delta
}

// l7RuleEnter, for a rule whose view of a protocol depends on its ports,
// computes its presence bitmap: the protocol's facts stay only when the
// packet's ports (or, for HTTP requests, the method) selected it for this
// rule. R7 holds it for the rule's events.
func (g *gen) l7RuleEnter(r *rules.Rule) {
	if g.l7 == nil || !g.l7.gated[r.Index] {
		return
	}
	b := g.b
	b.Comment("rule %s sees L7 protocols on its own ports", r.Name)
	b.Emit(asm.LoadMem(rPresence, g.base, presenceOff-g.delta, asm.DWord))
	for _, h := range rules.L7Protocols {
		if !g.l7.protos[h] {
			continue
		}
		mask := g.l7.ruleSel[r.Index][h]
		if mask == 0 {
			mask = 1
		}
		s := g.rec.slots[slotKey{computed: compL7Sel, size: 1, layer: int(h)}]
		keep := b.NewLabel("sel")
		b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Byte), asm.JSet.Imm(asm.R1, int32(mask), keep))
		g.andMask(rPresence, ^l7Facts[h], asm.R1)
		b.Label(keep)
	}
	off := g.l7RulePresOff()
	b.Emit(asm.StoreMem(asm.R10, off, rPresence, asm.DWord))
	g.l7.rulePres = off
}

// l7RuleLeave restores the shared presence bitmap after such a rule.
func (g *gen) l7RuleLeave(r *rules.Rule) {
	if g.l7 == nil || !g.l7.gated[r.Index] {
		return
	}
	g.b.Emit(asm.LoadMem(rPresence, g.base, presenceOff-g.delta, asm.DWord))
	g.l7.rulePres = 0
}

// l7Maps adds the maps of the L7 stage that the programs refer to.
func (o *Output) l7Maps(spec *ebpf.CollectionSpec) {
	uses := map[string]bool{}
	for _, p := range o.Programs {
		for _, ins := range p.Insns {
			if ref := ins.Reference(); ref != "" {
				uses[ref] = true
			}
		}
	}
	o.txMaps(spec, uses)
	hooks := uint32(len(rules.Hooks))
	if uses[L7LimitsMap] {
		spec.Maps[L7LimitsMap] = l7LimitsMapSpec()
	}
	if uses[L7Map] {
		spec.Maps[L7Map] = &ebpf.MapSpec{Name: L7Map, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(l7Size), MaxEntries: hooks}
	}
	if uses[TLSHeldMap] {
		spec.Maps[TLSHeldMap] = &ebpf.MapSpec{Name: TLSHeldMap, Type: ebpf.LRUHash, KeySize: l7KeySize, ValueSize: l7HeldValue, MaxEntries: l7HeldEntries}
		spec.Maps[TLSPendingMap] = &ebpf.MapSpec{Name: TLSPendingMap, Type: ebpf.Array, KeySize: 4, ValueSize: 4 * (l7Buckets + 1), MaxEntries: hooks}
	}
}
