package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// When an L7 decoder gives up at one of its limits (rules.L7Limits: an
// extension walk at its bound, headers past the window…), a field may be
// missing that Wireshark shows, and a rule on it can be passed by padding
// the message. So a limit hit leaves a trace: the decoder sets the limit's
// bit in sLimits and its protocol's fact (http.truncated, dns.truncated,
// tls.truncated), and the commit adds each bit set to the rule set's
// counter of that limit in the l7_limits map (per CPU, one u64 per limit),
// which user space reports (runtime.L7Limits).

// L7LimitsMap counts the limits the decoders met, per CPU: one u64 per
// rules.L7Limit, in one entry shared by the hooks of the rule set.
const L7LimitsMap = "l7_limits"

// truncKey is the record slot of a protocol's limit field (one byte, 0 or
// 1, set from the fact at the commit).
func truncKey(h rules.Header) slotKey {
	return slotKey{computed: "trunc:" + h.String(), size: 1, layer: 1}
}

// limitFact is the fact of a protocol's limit field.
var limitFact = map[rules.Header]int{rules.HdrHTTP: FactHTTPLimit, rules.HdrDNS: FactDNSLimit, rules.HdrTLS: FactTLSLimit}

// l7Limit records that the decoder gave up at limit l: its bit in sLimits
// and its protocol's fact. It clobbers R0; R9 holds the l7 value.
func (g *gen) l7Limit(l rules.L7Limit) {
	b := g.b
	b.Comment("gave up at a limit: %s %s", rules.L7Limits[l].Proto, rules.L7Limits[l].Reason)
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sLimits), asm.DWord), asm.Or.Imm(asm.R0, 1<<l), asm.StoreMem(asm.R9, stF(sLimits), asm.R0, asm.DWord))
	g.l7SetFact(limitFact[rules.L7Limits[l].Proto])
}

// limitBits are the bits of sLimits of protocol h.
func limitBits(h rules.Header) uint64 {
	var m uint64
	for l, info := range rules.L7Limits {
		if info.Proto == h {
			m |= 1 << l
		}
	}
	return m
}

// l7ClearLimits forgets the limits protocol h met (its message is not
// shown on this segment: a held ClientHello). Clobbers R1, R2.
func (g *gen) l7ClearLimits(h rules.Header) {
	b := g.b
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLimits), asm.DWord))
	g.andMask(asm.R1, ^limitBits(h), asm.R2)
	b.Emit(asm.StoreMem(asm.R9, stF(sLimits), asm.R1, asm.DWord))
}

// l7TruncSlots copies the limit facts of the protocols in facts (R1 holds
// sFacts) to their record slots, from base (R10 or the record's base
// register, less delta). Clobbers R2.
func (g *gen) l7TruncSlots(protos []rules.Header, base asm.Register, delta int16) {
	b := g.b
	for _, h := range protos {
		s, ok := g.rec.slots[truncKey(h)]
		if !ok {
			continue
		}
		b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, int32(limitFact[h])), asm.And.Imm(asm.R2, 1), asm.StoreMem(base, s.off-delta, asm.R2, asm.Byte))
	}
}

// l7Limits are the limits the hook's decoders can meet: those of the
// walks the rules need.
func (g *gen) l7Limits() []rules.L7Limit {
	var out []rules.L7Limit
	for l, info := range rules.L7Limits {
		switch {
		case info.Proto == rules.HdrHTTP && g.l7.protos[rules.HdrHTTP],
			info.Proto == rules.HdrTLS && g.l7.protos[rules.HdrTLS] && g.tlsWalkUsed(),
			info.Proto == rules.HdrDNS && g.l7.protos[rules.HdrDNS] && g.dnsRecordsUsed():
			out = append(out, rules.L7Limit(l))
		}
	}
	return out
}

// l7CountLimits adds each limit of sLimits to the rule set's counters.
// Clobbers R0-R5; R9 holds the l7 value.
func (g *gen) l7CountLimits() {
	limits := g.l7Limits()
	if len(limits) == 0 {
		return
	}
	b := g.b
	done := b.NewLabel("limits.done")
	b.Comment("limits the decoders met: count them (l7_limits)")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLimits), asm.DWord), asm.JEq.Imm(asm.R1, 0, done))
	b.Emit(asm.StoreImm(asm.R10, keyOff, 0, asm.Word), asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, keyOff))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(L7LimitsMap), asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLimits), asm.DWord))
	for _, l := range limits {
		skip := b.NewLabel("limit.skip")
		b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.And.Imm(asm.R2, 1<<l), asm.JEq.Imm(asm.R2, 0, skip))
		b.Emit(asm.LoadMem(asm.R3, asm.R0, int16(8*l), asm.DWord), asm.Add.Imm(asm.R3, 1), asm.StoreMem(asm.R0, int16(8*l), asm.R3, asm.DWord))
		b.Label(skip)
	}
	b.Label(done)
}

// l7LimitsMapSpec is the l7_limits map.
func l7LimitsMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: L7LimitsMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(8 * rules.NumL7Limits), MaxEntries: 1}
}
