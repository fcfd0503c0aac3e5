package compiler

import (
	"math/bits"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Ring-buffer constants (include/uapi/linux/bpf.h).
const (
	rbNoWakeup    = 1 // BPF_RB_NO_WAKEUP
	rbForceWakeup = 2 // BPF_RB_FORCE_WAKEUP
	rbAvailData   = 0 // BPF_RB_AVAIL_DATA
)

// Map names the programs refer to.
const (
	EventsMap = "events"
	LostMap   = "lost"
)

// layoutEvent places a rule's logged fields after the event header, each
// naturally aligned, and returns the schema of its events.
func layoutEvent(r *rules.Rule) RuleSchema {
	rs := RuleSchema{Index: r.Index, Name: r.Name, Hook: r.Hook.String()}
	off := HeaderSize
	for _, lf := range r.Log {
		render, size, digits := renderOf(lf.Ref.Field)
		align := alignOf(size)
		if render == RenderIPv6 {
			align = 8
		}
		off = (off + align - 1) &^ (align - 1)
		rs.Fields = append(rs.Fields, FieldSlot{
			Name: lf.Name, Field: lf.Ref.Field.Name, Render: render, HexDigits: digits,
			Offset: off, Size: size, Fact: FactOf(lf.Ref),
		})
		off += size
	}
	rs.EventSize = (off + 7) &^ 7
	return rs
}

// emit reserves an event for rule r, fills it and submits it; when the ring
// buffer is full it counts the loss. It ends by jumping to next.
func (g *gen) emit(r *rules.Rule, rs RuleSchema, next string) {
	b := g.b
	lost := b.NewLabel("lost")
	b.Comment("rule %s: reserve a %d-byte event", r.Name, rs.EventSize)
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(EventsMap))
	b.Emit(asm.Mov.Imm(asm.R2, int32(rs.EventSize)), asm.Mov.Imm(asm.R3, 0))
	b.Emit(asm.FnRingbufReserve.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, lost))
	b.Emit(asm.Mov.Reg(rEvent, asm.R0))

	b.Comment("event header: time, presence, rule, ifindex, frame length")
	b.Emit(asm.FnKtimeGetBootNs.Call())
	b.Emit(asm.StoreMem(rEvent, EvTime, asm.R0, asm.DWord))
	b.Emit(asm.StoreMem(rEvent, EvPresence, rPresence, asm.DWord))
	b.Emit(asm.StoreImm(rEvent, EvRule, int64(r.Index), asm.Word))
	b.Emit(asm.LoadMem(asm.R1, rCtx, g.fl.CtxIfindex, asm.Word))
	b.Emit(asm.StoreMem(rEvent, EvIfindex, asm.R1, asm.Word))
	if s, ok := g.rec.slots[slotKey{computed: compFrameLen, size: 4, layer: 1}]; ok {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, s.off, asm.Word))
	} else {
		g.frameLen(asm.R1)
	}
	b.Emit(asm.StoreMem(rEvent, EvFrameLen, asm.R1, asm.Word))
	b.Emit(asm.StoreImm(rEvent, EvFlags, 0, asm.Word))

	for i, lf := range r.Log {
		fs := rs.Fields[i]
		b.Comment("%s", lf.Name)
		g.writeField(lf.Ref, fs)
	}
	// Clear padding so no stale ring-buffer bytes reach user space.
	end := HeaderSize
	for _, fs := range rs.Fields {
		for ; end < fs.Offset; end++ {
			b.Emit(asm.StoreImm(rEvent, int16(end), 0, asm.Byte))
		}
		end = fs.Offset + fs.Size
	}
	for ; end < rs.EventSize; end++ {
		b.Emit(asm.StoreImm(rEvent, int16(end), 0, asm.Byte))
	}

	b.Comment("submit; wake the reader only once %d bytes wait (bounded latency comes from its poll interval)", g.opts.WakeupBytes)
	wake := b.NewLabel("wake")
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(EventsMap), asm.Mov.Imm(asm.R2, rbAvailData))
	b.Emit(asm.FnRingbufQuery.Call())
	b.Emit(asm.Mov.Imm(asm.R2, rbNoWakeup))
	b.Emit(asm.JLT.Imm(asm.R0, int32(g.opts.WakeupBytes), wake))
	b.Emit(asm.Mov.Imm(asm.R2, rbForceWakeup))
	b.Label(wake)
	b.Emit(asm.Mov.Reg(asm.R1, rEvent), asm.FnRingbufSubmit.Call())
	b.Emit(asm.Ja.Label(next))

	b.Label(lost)
	b.Comment("rule %s: ring buffer full, count the lost event", r.Name)
	b.Emit(asm.StoreImm(asm.R10, keyOff, int64(r.Index), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, keyOff))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(LostMap))
	b.Emit(asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, next))
	b.Emit(asm.Mov.Imm(asm.R1, 1), asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
}

// writeField stores one logged field into the event.
func (g *gen) writeField(ref rules.FieldRef, fs FieldSlot) {
	b := g.b
	s := g.rec.slots[keyOf(ref)]
	switch fs.Render {
	case RenderIPv4, RenderIPv6, RenderMAC:
		g.copyRaw(asm.R10, s.off, rEvent, int16(fs.Offset), s.size)
		return
	}
	g.loadValue(ref, asm.R1)
	if fs.Render == RenderBool && bits.OnesCount64(ref.Field.Mask) > 1 {
		one := b.NewLabel("bool")
		b.Emit(asm.JEq.Imm(asm.R1, 0, one), asm.Mov.Imm(asm.R1, 1))
		b.Label(one)
	}
	size := map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word}[fs.Size]
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset), asm.R1, size))
}
