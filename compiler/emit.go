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
		maxLen := 0
		_, container := rules.ContainerOf[lf.Ref.Field.Name]
		switch {
		case container:
			render, size, align = RenderContainer, 8, 8
		case lf.Ref.Field.Type == rules.TypeString:
			render, maxLen, size, align = RenderText, lf.MaxLen, textSlotSize(lf.MaxLen), 8
		case lf.Ref.Field.Type == rules.TypeBytes:
			render, maxLen, size, align = RenderBytes, lf.MaxLen, textSlotSize(lf.MaxLen), 8
		}
		off = (off + align - 1) &^ (align - 1)
		rs.Fields = append(rs.Fields, FieldSlot{
			Name: lf.Name, Field: lf.Ref.Field.Name, Render: render, HexDigits: digits,
			Offset: off, Size: size, Fact: FactOf(lf.Ref), MaxLen: maxLen, Redact: lf.Redact,
			MaskURL: lf.MaskURL, MaskQuery: lf.SecretQuery,
		})
		off += size
	}
	rs.EventSize = (off + 7) &^ 7
	return rs
}

// eventSpec says what to emit: the layout of the events and the rule index,
// known at compile time or, in a group's shared code, read at run time from
// the subprogram's stack (fnIndexOff).
type eventSpec struct {
	what    string // for comments
	index   int
	dynamic bool
	schema  RuleSchema
	log     []rules.LogField
}

func ruleEvent(r *rules.Rule, rs RuleSchema) eventSpec {
	return eventSpec{what: "rule " + r.Name, index: r.Index, schema: rs, log: r.Log}
}

// Stack of a group's subprogram: the rule index it serves this call, and the
// lost-counter key.
const (
	fnIndexOff = -8
	fnKeyOff   = -16
)

// emit reserves an event, fills it and submits it; when the ring buffer is
// full it counts the loss. It ends by jumping to next.
func (g *gen) emit(ev eventSpec, next string) {
	b := g.b
	rs := ev.schema
	lost := b.NewLabel("lost")
	b.Comment("%s: reserve a %d-byte event", ev.what, rs.EventSize)
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(EventsMap))
	b.Emit(asm.Mov.Imm(asm.R2, int32(rs.EventSize)), asm.Mov.Imm(asm.R3, 0))
	b.Emit(asm.FnRingbufReserve.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, lost))
	b.Emit(asm.Mov.Reg(rEvent, asm.R0))

	b.Comment("event header: time, presence, rule, ifindex, frame length")
	b.Emit(asm.FnKtimeGetBootNs.Call())
	b.Emit(asm.StoreMem(rEvent, EvTime, asm.R0, asm.DWord))
	b.Emit(asm.StoreMem(rEvent, EvPresence, rPresence, asm.DWord))
	if ev.dynamic {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, fnIndexOff, asm.DWord), asm.StoreMem(rEvent, EvRule, asm.R1, asm.Word))
	} else {
		b.Emit(asm.StoreImm(rEvent, EvRule, int64(ev.index), asm.Word))
	}
	if g.fl.CtxIfindex < 0 {
		// No packet (system-call programs): no interface, no frame.
		b.Emit(asm.StoreImm(rEvent, EvIfindex, 0, asm.Word), asm.StoreImm(rEvent, EvFrameLen, 0, asm.Word))
	} else {
		g.packetHeader()
	}
	b.Emit(asm.StoreImm(rEvent, EvGeneration, int64(g.opts.Generation), asm.Word))

	for i, lf := range ev.log {
		fs := rs.Fields[i]
		b.Comment("%s", lf.Name)
		g.writeField(lf.Ref, fs)
	}
	// Clear padding so no stale ring-buffer bytes reach user space, with
	// the widest aligned stores that fit.
	end := HeaderSize
	for _, fs := range rs.Fields {
		g.zeroRange(end, fs.Offset)
		end = fs.Offset + fs.Size
	}
	g.zeroRange(end, rs.EventSize)

	// Wake-ups cost microseconds (irq_work, IPI), events ~100 ns: an event
	// wakes the reader only when it takes the backlog across a multiple of
	// WakeupBytes (a power of two), not each time the backlog is above it.
	// A reader that lags far behind is woken once per WakeupBytes of events;
	// a quiet stream is read at the reader's poll interval.
	b.Comment("submit; wake the reader when this event takes the backlog across a multiple of %d bytes", g.opts.WakeupBytes)
	wake := b.NewLabel("wake")
	shift := int32(bits.TrailingZeros(uint(g.opts.WakeupBytes)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(EventsMap), asm.Mov.Imm(asm.R2, rbAvailData))
	b.Emit(asm.FnRingbufQuery.Call())
	b.Emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Sub.Imm(asm.R1, int32(rs.EventSize+8)))
	b.Emit(asm.RSh.Imm(asm.R0, shift), asm.RSh.Imm(asm.R1, shift))
	b.Emit(asm.Mov.Imm(asm.R2, rbNoWakeup))
	b.Emit(asm.JEq.Reg(asm.R0, asm.R1, wake))
	b.Emit(asm.Mov.Imm(asm.R2, rbForceWakeup))
	b.Label(wake)
	b.Emit(asm.Mov.Reg(asm.R1, rEvent), asm.FnRingbufSubmit.Call())
	b.Emit(asm.Ja.Label(next))

	b.Label(lost)
	b.Comment("%s: ring buffer full, count the lost event", ev.what)
	// The key lives next to the record (on the stack, or in the scratch map:
	// then no stack slot is read here, see useScratch).
	key := int16(keyOff) - g.delta
	if ev.dynamic {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, fnIndexOff, asm.DWord), asm.StoreMem(g.base, key, asm.R1, asm.Word))
	} else {
		b.Emit(asm.StoreImm(g.base, key, int64(ev.index), asm.Word))
	}
	b.Emit(asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(LostMap))
	b.Emit(asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, next))
	b.Emit(asm.Mov.Imm(asm.R1, 1), asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
}

// zeroRange zeroes event bytes [from, to) with aligned stores of up to 4
// bytes (BPF has no 8-byte store of an immediate).
func (g *gen) zeroRange(from, to int) {
	for from < to {
		n := 1
		for _, w := range []int{4, 2} {
			if from%w == 0 && from+w <= to {
				n = w
				break
			}
		}
		size := map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word}[n]
		g.b.Emit(asm.StoreImm(rEvent, int16(from), 0, size))
		from += n
	}
}

// writeField stores one logged field into the event.
func (g *gen) writeField(ref rules.FieldRef, fs FieldSlot) {
	b := g.b
	s := g.rec.slots[keyOf(ref)]
	switch fs.Render {
	case RenderContainer:
		// The cgroup id; user space names the container.
		g.copyRaw(g.base, s.off-g.delta, rEvent, int16(fs.Offset), s.size)
		return
	case RenderText:
		if ref.Field.Header.IsSyscall() || ref.Field.Header.IsProcess() {
			g.writeSyscallText(ref, fs)
			return
		}
		g.writeText(ref, fs, s)
		return
	case RenderBytes:
		g.writeBytes(ref, fs)
		return
	case RenderIPv4, RenderIPv6, RenderMAC:
		g.copyRaw(g.base, s.off-g.delta, rEvent, int16(fs.Offset), s.size)
		return
	}
	if fs.Size == 8 {
		// A 64-bit value (cgroup.id): host order in the slot and the event.
		g.copyRaw(g.base, s.off-g.delta, rEvent, int16(fs.Offset), s.size)
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

// packetHeader writes the packet part of the event header: the interface and
// the frame length.
func (g *gen) packetHeader() {
	b := g.b
	if g.batched() {
		// The frame's index in the batch, for the runtime (batch.go).
		g.batchIndex()
	} else {
		b.Emit(asm.LoadMem(asm.R1, rCtx, g.fl.CtxIfindex, asm.Word))
		b.Emit(asm.StoreMem(rEvent, EvIfindex, asm.R1, asm.Word))
	}
	if s, ok := g.rec.slots[slotKey{computed: compFrameLen, size: 4, layer: 1}]; ok {
		b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Word))
	} else {
		g.frameLen(asm.R1)
	}
	b.Emit(asm.StoreMem(rEvent, EvFrameLen, asm.R1, asm.Word))
}
