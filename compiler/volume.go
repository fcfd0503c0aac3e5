package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Counting rules (`count by … every …`) count their matches per key in the
// kernel instead of emitting events. The counts live in a per-CPU hash map,
// keyed by the rule and the key fields, reached through a one-slot array of
// maps (AggCurrentMap): the runtime keeps two such hash maps and, at the end
// of an interval, points the slot at the empty one. The kernel waits for
// every program running with the old pointer to finish before that update
// returns (an update of a map of maps synchronises RCU), so the runtime then
// reads and empties the old map while nothing writes it: no count is lost or
// counted twice between intervals, and no program pays for the swap.
//
// A key that finds the map full is counted per rule (AcctMap, AcctKeysFull),
// and reported like lost events.

// Map names of counting and accounting.
const (
	// AggCurrentMap is an array of maps with one slot: the per-CPU hash map
	// the programs count into now.
	AggCurrentMap = "agg_cur"
	// AggKeyMap is a per-CPU array holding the key being built and the
	// value to insert (the stack is the packet record's).
	AggKeyMap = "agg_key"
	// AcctMap counts, per rule and CPU, the matches not logged by choice or
	// for want of room besides a full ring buffer (lost events are LostMap's):
	// AcctSlots u64 counters, indexed by the Acct* constants.
	AcctMap = "acct"
)

// The counters of AcctMap's values.
const (
	AcctSampledOut = iota // not taken by the rule's sample
	AcctOverLimit         // no token in the rule's bucket
	AcctKeysFull          // a new count key, and the count map was full
	AcctSlots
)

// Layout of a count key: the rule index, the presence bits of the key fields
// (the packet's presence bitmap masked to their facts), then the key fields
// laid out as in an event, HeaderSize-AggKeyHeader bytes earlier. Every key
// has the same size (Schema.AggKeySize), padded with zeros.
const (
	AggKeyRule     = 0
	AggKeyPresence = 8
	AggKeyHeader   = 16
	// AggValueSize is a count's value: packets, then bytes (u64 each).
	AggValueSize = 16
	// DefaultAggEntries is the default bound of the count map, in keys.
	DefaultAggEntries = 1 << 16
)

// CountSchema describes a counting rule's records.
type CountSchema struct {
	EveryNS int64 `json:"every_ns"`
	SumLen  bool  `json:"sum_len,omitempty"`
	Top     int   `json:"top,omitempty"`
}

// aggKeySize is the key size of a counting rule's layout.
func aggKeySize(rs RuleSchema) int { return AggKeyHeader + rs.EventSize - HeaderSize }

// keyMask is the presence bits of a counting rule's key fields.
func keyMask(r *rules.Rule) uint64 {
	var m uint64
	for _, lf := range r.Log {
		m |= 1 << FactOf(lf.Ref)
	}
	return m
}

// emitRule ends a matching rule: counts the match, or logs it (through its
// sample and limit), then goes to next.
func (g *gen) emitRule(r *rules.Rule, rs RuleSchema, keySize int, next string) {
	if r.Count != nil {
		g.count(r, rs, keySize, next)
		return
	}
	if r.Sample != nil {
		g.sample(r, next)
	}
	if r.Limit != nil {
		g.limit(r, next)
	}
	g.emit(ruleEvent(r, rs), next)
}

// zeroKey stores 0 in the lost-counter key slot and points R2 at it: the key
// of one-slot maps.
func (g *gen) zeroKey() {
	key := int16(keyOff) - g.delta
	g.b.Emit(asm.StoreImm(g.base, key, 0, asm.Word), asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(key)))
}

// currentAggMap sets R0 to the count map of this interval, or goes to fail.
func (g *gen) currentAggMap(fail string) {
	g.zeroKey()
	g.b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(AggCurrentMap), asm.FnMapLookupElem.Call())
	g.b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
}

// count adds the packet to its key's count.
func (g *gen) count(r *rules.Rule, rs RuleSchema, keySize int, next string) {
	b := g.b
	full, insert, raced := b.NewLabel("keys.full"), b.NewLabel("key.insert"), b.NewLabel("key.raced")
	b.Comment("rule %s: count by key (%d-byte key)", r.Name, keySize)
	g.zeroKey()
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(AggKeyMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, next), asm.Mov.Reg(rEvent, asm.R0))
	b.Emit(asm.StoreImm(rEvent, AggKeyRule, int64(r.Index), asm.Word), asm.StoreImm(rEvent, AggKeyRule+4, 0, asm.Word))
	b.Emit(asm.LoadImm(asm.R1, int64(keyMask(r)), asm.DWord), asm.And.Reg(asm.R1, rPresence), asm.StoreMem(rEvent, AggKeyPresence, asm.R1, asm.DWord))
	shift := AggKeyHeader - HeaderSize
	end := AggKeyHeader
	for i, lf := range r.Log {
		fs := rs.Fields[i]
		fs.Offset += shift
		b.Comment("key: %s", lf.Name)
		g.zeroRange(end, fs.Offset)
		g.writeField(lf.Ref, fs)
		end = fs.Offset + fs.Size
	}
	g.zeroRange(end, keySize)
	b.Comment("the value to insert for a new key: one packet, its bytes")
	b.Emit(asm.Mov.Imm(asm.R1, 1), asm.StoreMem(rEvent, int16(keySize), asm.R1, asm.DWord))
	if r.Count.SumLen {
		if s, ok := g.rec.slots[slotKey{computed: compFrameLen, size: 4, layer: 1}]; ok {
			b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta, asm.Word))
		} else {
			g.frameLen(asm.R1)
		}
	} else {
		b.Emit(asm.Mov.Imm(asm.R1, 0))
	}
	b.Emit(asm.StoreMem(rEvent, int16(keySize+8), asm.R1, asm.DWord))

	add := func() {
		b.Emit(asm.LoadMem(asm.R1, rEvent, int16(keySize), asm.DWord), asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
		b.Emit(asm.LoadMem(asm.R1, rEvent, int16(keySize+8), asm.DWord), asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, 8))
		b.Emit(asm.Ja.Label(next))
	}
	lookup := func(miss string) {
		g.currentAggMap(next)
		b.Emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Reg(asm.R2, rEvent), asm.FnMapLookupElem.Call())
		b.Emit(asm.JEq.Imm(asm.R0, 0, miss))
	}
	lookup(insert)
	add()

	b.Label(insert)
	b.Comment("a new key: insert it, unless another CPU just did")
	g.currentAggMap(next)
	b.Emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Reg(asm.R2, rEvent))
	b.Emit(asm.Mov.Reg(asm.R3, rEvent), asm.Add.Imm(asm.R3, int32(keySize)))
	b.Emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)), asm.FnMapUpdateElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, next))
	b.Emit(asm.JEq.Imm(asm.R0, -17, raced)) // -EEXIST
	b.Emit(asm.Ja.Label(full))
	b.Label(raced)
	lookup(full)
	add()

	b.Label(full)
	b.Comment("rule %s: the count map is full, count the key not counted", r.Name)
	g.acctAdd(r.Index, AcctKeysFull, next)
	b.Emit(asm.Ja.Label(next))
}

// acctAdd adds one to a rule's accounting counter; it may end at fail (it
// cannot: the map is an array) or fall through.
func (g *gen) acctAdd(index, counter int, fail string) {
	b := g.b
	key := int16(keyOff) - g.delta
	b.Emit(asm.StoreImm(g.base, key, int64(index), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(AcctMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
	b.Emit(asm.Mov.Imm(asm.R1, 1), asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, int16(8*counter)))
}

// volumeMaps adds the maps of counting and accounting to the collection.
func (o *Output) volumeMaps(spec *ebpf.CollectionSpec, rulesN int) {
	o.thinMaps(spec, rulesN, o.Schema.Rules)
	spec.Maps[AcctMap] = &ebpf.MapSpec{Name: AcctMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8 * AcctSlots, MaxEntries: uint32(rulesN)}
	if o.Schema.AggKeySize == 0 {
		return
	}
	spec.Maps[AggKeyMap] = &ebpf.MapSpec{Name: AggKeyMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(o.Schema.AggKeySize + AggValueSize), MaxEntries: 1}
	spec.Maps[AggCurrentMap] = &ebpf.MapSpec{Name: AggCurrentMap, Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1,
		InnerMap: o.AggMapSpec()}
}

// AggMapSpec is the spec of a count map (the runtime makes two).
func (o *Output) AggMapSpec() *ebpf.MapSpec {
	n := o.Options.AggEntries
	if n <= 0 {
		n = DefaultAggEntries
	}
	return &ebpf.MapSpec{Name: "agg", Type: ebpf.PerCPUHash, KeySize: uint32(o.Schema.AggKeySize), ValueSize: AggValueSize,
		MaxEntries: uint32(n)}
}

// Sampling and limits.
//
// `sample 1/N` keeps a match when a 32-bit number is 0 modulo N: a random
// one (bpf_get_prandom_u32), or, `by flow`, rules.FlowHash of the packet, the
// same for both directions of a flow. `limit R/s burst B` is a token
// bucket kept as the generic cell rate algorithm: one u64 per rule, the
// theoretical arrival time TAT, in a shared array (LimitMap). A match at
// time now conforms when TAT - now <= (B-1)·T, T = 1 s / R; it then adds T
// to TAT (first raised to now if behind, by compare-and-exchange). The add
// is an atomic fetch-and-add whose result is checked again, and undone
// when another CPU took the last token first: the bucket is shared by the
// CPUs without a lock, and never gives more than B at once or R per
// second over time. Sampling comes first: a limit counts sampled matches.
//
// Replays (Options.TestRun) take the time of a limit and the number a
// random sample draws from ReplayClockMap, which the replayer sets for
// each frame: the capture time, and the frame number, hashed with the rule
// index (Mix32). The reference evaluator does the same, so a replay through
// the kernel and one through the reference agree (rules/reference/volume.go).

// Maps of sampling and limits.
const (
	LimitMap       = "limits"
	ReplayClockMap = "replay_clock"
	// ReplayClockSize: u64 capture time (ns since the Unix epoch), u64
	// frame number.
	ReplayClockSize = 16
)

// flowRefs are the field occurrences of FlowFields.
func flowRefs() []rules.FieldRef {
	var out []rules.FieldRef
	for _, n := range rules.FlowFields {
		f, _ := rules.LookupField(n)
		out = append(out, rules.FieldRef{Field: f, Layer: 1})
	}
	return out
}

// volumeRefs are the fields a rule's volume statements read.
func volumeRefs(r *rules.Rule) []rules.FieldRef {
	if r.Sample != nil && r.Sample.ByFlow {
		return flowRefs()
	}
	return nil
}

// mix32 applies rules.Mix32 to R1 (R2 is clobbered).
func (g *gen) mix32() {
	b := g.b
	for _, step := range []struct {
		shift int32
		mul   uint32
	}{{16, 0x7feb352d}, {15, 0x846ca68b}, {16, 0}} {
		b.Emit(asm.Mov.Reg32(asm.R2, asm.R1), asm.RSh.Imm32(asm.R2, step.shift), asm.Xor.Reg32(asm.R1, asm.R2))
		if step.mul != 0 {
			b.Emit(asm.Mul.Imm32(asm.R1, int32(step.mul)))
		}
	}
}

// replayClock sets R0 to the replay clock's value, or goes to fail.
func (g *gen) replayClock(fail string) {
	g.zeroKey()
	g.b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(ReplayClockMap), asm.FnMapLookupElem.Call())
	g.b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
}

// sample goes to next, counting the match as sampled out, unless the
// rule's sample keeps it.
func (g *gen) sample(r *rules.Rule, next string) {
	b := g.b
	keep := b.NewLabel("sample.keep")
	b.Comment("rule %s: sample 1/%d (by flow: %v)", r.Name, r.Sample.N, r.Sample.ByFlow)
	switch {
	case r.Sample.ByFlow:
		b.Emit(asm.Mov.Imm(asm.R1, 0), asm.Mov.Imm(asm.R3, 0))
		for _, ref := range flowRefs() {
			s := g.rec.slots[keyOf(ref)]
			if ref.Field.Size == 2 {
				b.Emit(asm.LoadMem(asm.R2, g.base, s.off-g.delta, asm.Half), asm.Xor.Reg32(asm.R3, asm.R2))
				continue
			}
			for w := 0; w < s.size; w += 4 {
				b.Emit(asm.LoadMem(asm.R2, g.base, s.off-g.delta+int16(w), asm.Word), asm.Xor.Reg32(asm.R1, asm.R2))
			}
		}
		b.Emit(asm.LSh.Imm32(asm.R3, 16), asm.Xor.Reg32(asm.R1, asm.R3))
		g.mix32()
	case g.opts.TestRun:
		g.replayClock(keep)
		b.Emit(asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord), asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, 32))
		b.Emit(asm.Mul.Imm32(asm.R2, int32(0x9e3779b9-1<<32)), asm.Xor.Reg32(asm.R1, asm.R2))
		b.Emit(asm.Xor.Imm32(asm.R1, int32(uint32(r.Index)*0x85ebca6b)))
		g.mix32()
	default:
		b.Emit(asm.FnGetPrandomU32.Call(), asm.Mov.Reg32(asm.R1, asm.R0))
	}
	b.Emit(asm.Mod.Imm32(asm.R1, int32(r.Sample.N)), asm.JEq.Imm(asm.R1, 0, keep))
	g.acctAdd(r.Index, AcctSampledOut, next)
	b.Emit(asm.Ja.Label(next))
	b.Label(keep)
}

// limit goes to next, counting the match as over the limit, unless the
// rule's bucket has a token.
func (g *gen) limit(r *rules.Rule, next string) {
	b := g.b
	take, conform, over := b.NewLabel("limit.take"), b.NewLabel("limit.conform"), b.NewLabel("limit.over")
	t, tau := rules.LimitParams(r.Limit)
	b.Comment("rule %s: limit %d/s burst %d (T %d ns)", r.Name, r.Limit.PerSecond, r.Limit.Burst, t)
	if g.opts.TestRun {
		g.replayClock(conform)
		b.Emit(asm.LoadMem(rEvent, asm.R0, 0, asm.DWord))
	} else {
		b.Emit(asm.FnKtimeGetNs.Call(), asm.Mov.Reg(rEvent, asm.R0))
	}
	key := int16(keyOff) - g.delta
	b.Emit(asm.StoreImm(g.base, key, int64(r.Index), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(LimitMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, conform), asm.Mov.Reg(asm.R1, asm.R0))
	b.Comment("TAT behind now: raise it to now, unless another CPU moved it")
	b.Emit(asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord), asm.JGE.Reg(asm.R0, rEvent, take))
	b.Emit(atomicFetch(asm.CmpXchg, asm.R1, rEvent))
	b.Label(take)
	b.Emit(asm.LoadImm(asm.R3, t, asm.DWord), atomicFetch(asm.FetchAdd, asm.R1, asm.R3))
	b.Emit(asm.Sub.Reg(asm.R3, rEvent), asm.LoadImm(asm.R4, tau, asm.DWord), asm.JSLE.Reg(asm.R3, asm.R4, conform))
	b.Label(over)
	b.Emit(asm.LoadImm(asm.R3, -t, asm.DWord), asm.AddAtomic.Mem(asm.R1, asm.R3, asm.DWord, 0))
	g.acctAdd(r.Index, AcctOverLimit, next)
	b.Emit(asm.Ja.Label(next))
	b.Label(conform)
}

// Kernel encodings of the fetching atomics, in the instruction's immediate
// (include/uapi/linux/bpf.h: BPF_ADD|BPF_FETCH, BPF_CMPXCHG).
var atomicImm = map[asm.AtomicOp]int64{asm.FetchAdd: 0x01, asm.CmpXchg: 0xf1}

// atomicFetch is op on the u64 at dst with src. The immediate is set
// explicitly: cilium/ebpf v0.22 marshals these operations with an
// immediate of 0, which the kernel runs as a plain atomic add
// (TestAtomicEncoding).
func atomicFetch(op asm.AtomicOp, dst, src asm.Register) asm.Instruction {
	ins := op.Mem(dst, src, asm.DWord, 0)
	ins.Constant = atomicImm[op]
	return ins
}

// thinMaps adds the maps of limits and of the replay clock.
func (o *Output) thinMaps(spec *ebpf.CollectionSpec, rulesN int, rs []RuleSchema) {
	limits, clock := false, false
	for _, r := range rs {
		limits = limits || r.Limit != 0
		clock = clock || (o.Options.TestRun && (r.Limit != 0 || (r.Sample != 0 && !r.SampleByFlow)))
	}
	if limits {
		spec.Maps[LimitMap] = &ebpf.MapSpec{Name: LimitMap, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(rulesN)}
	}
	if clock {
		spec.Maps[ReplayClockMap] = &ebpf.MapSpec{Name: ReplayClockMap, Type: ebpf.Array, KeySize: 4, ValueSize: ReplayClockSize, MaxEntries: 1}
	}
}
