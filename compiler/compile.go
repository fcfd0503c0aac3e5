package compiler

import (
	"fmt"
	"runtime/debug"
	"slices"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/rules"
)

// Options tune code generation.
type Options struct {
	// WakeupBytes sets when a submitted event wakes the reader: when it takes
	// the ring's backlog across a multiple of WakeupBytes (rounded up to a
	// power of two). Other events wait for the reader's next poll, so the
	// reader is woken at most once per WakeupBytes of events. Default 64 KiB.
	WakeupBytes int
	// TestRun builds programs for replays with BPF_PROG_TEST_RUN, where the
	// frame may be a capture's first bytes only (a snap length): frame.len
	// is then the length on the wire the test run passes, not the bytes
	// the program is given. tc programs read it from the context's
	// wire_len (skb->len when the test run sets none); XDP programs from a
	// u32 of metadata before the frame (the buffer's length when there is
	// none). Nothing else differs. Programs
	// built so are not meant to be attached.
	TestRun bool
	// Batch (with TestRun) builds the XDP program to replay many frames
	// per test run (batch.go). For replays only.
	Batch bool
	// Generation is written into every event (EvGeneration). When rules
	// are reloaded, the old and the new programs share one ring buffer;
	// the generation tells which rule set, hence which schema, an event
	// belongs to. Zero for a rule set that is never replaced.
	Generation uint32
	// TxFlows is how many flows each transaction map holds (LRU);
	// default rules.DefaultTxFlows.
	TxFlows int

	// txStrings: some rule uses a request's values on its response
	// (http.response_for.*), so every hook keeps them (the flow map's
	// value is one layout for all hooks). Set by Compile.
	txStrings bool
	// AggEntries bounds the count map of counting rules, in keys (both
	// maps the runtime swaps). Default DefaultAggEntries.
	AggEntries int
}

// SmallProgram is the number of rule-phase steps (chained rules and groups)
// up to which rules read the packet record on the stack; larger programs read
// a per-CPU copy (see useScratch).
const SmallProgram = 16

// listedElements is how many elements of a set a listing's comments show.
const listedElements = 8

// DefaultWakeupBytes is the default of Options.WakeupBytes.
const DefaultWakeupBytes = 64 << 10

// Program is the compiled program of one hook.
type Program struct {
	Hook       rules.Hook
	Flavour    bpf.Flavour
	Rules      []int // indices of the rules it serves
	Insns      asm.Instructions
	RecordSize int // bytes of packet record on the stack
	// ScratchSize is the bytes of per-CPU scratch the program needs (0: none).
	ScratchSize int
	// RuleStarts maps raw instruction offsets to rules: the code of rule
	// RuleStarts[i].Rule starts at RuleStarts[i].Offset.
	RuleStarts []RuleStart
	// Phases says which part of the generator each instruction comes from
	// (contract.go).
	Phases []PhaseSpan
	// GroupMaps are the groups of rules compiled into hash maps
	// (groupmap.go), which the loader fills.
	GroupMaps []*GroupMap
	epilogue  int
	usesProc  bool // reads ProcMap (proc.go)
	usesTask  bool // reads TaskMap (syscall.go)
	// tcOnly says why the program's rules may mean something else at the
	// XDP hook ("" when nothing in them is tc's alone): see SameAtXDP.
	tcOnly string
}

// RuleStart marks where a rule's code begins in a program.
type RuleStart struct {
	Rule   int
	Offset int // raw instruction offset (wide loads count twice)
}

// RuleAt returns the rule whose code holds the raw instruction offset, or -1
// for the shared header parser and epilogue.
func (p *Program) RuleAt(offset int) int {
	r := -1
	for _, s := range p.RuleStarts {
		if offset >= s.Offset {
			r = s.Rule
		}
	}
	if r >= 0 && offset >= p.epilogue {
		return -1
	}
	return r
}

// Output is a compilation: one program per hook that has rules, and the
// schema of the events they emit.
type Output struct {
	Programs []*Program
	Schema   *Schema
	Options  Options // as compiled with (defaults filled in)
	// Sets are the sets compiled into maps, shared by the programs.
	Sets []*SetMap
}

// FlavourOf returns the program flavour of a hook.
func FlavourOf(h rules.Hook) bpf.Flavour {
	if d := h.Syscall(); d != nil {
		return syscallFlavour(d)
	}
	switch h {
	case rules.HookCgroupIngress:
		return bpf.CgroupIngress
	case rules.HookCgroupEgress:
		return bpf.CgroupEgress
	case rules.HookXDP:
		return bpf.XDP
	case rules.HookTCEgress:
		return bpf.TCEgress
	}
	return bpf.TCIngress
}

// Compile turns a rule set into programs. A bug in the compiler is reported
// as an error naming the rule set, never as a panic.
func Compile(rs *rules.RuleSet, opts Options) (out *Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("internal compiler error (please report it with the rule file): %v\n%s", r, debug.Stack())
		}
	}()
	if opts.WakeupBytes <= 0 {
		opts.WakeupBytes = DefaultWakeupBytes
	}
	// A power of two, so that crossing a multiple of it is two shifts.
	for w := 64; ; w <<= 1 {
		if w >= opts.WakeupBytes {
			opts.WakeupBytes = w
			break
		}
	}
	if opts.TxFlows <= 0 {
		opts.TxFlows = rules.DefaultTxFlows
	}
	opts.txStrings = usesTxStrings(rs)
	if opts.AggEntries <= 0 {
		opts.AggEntries = DefaultAggEntries
	}
	out = &Output{Schema: &Schema{HeaderSize: HeaderSize}, Options: opts}
	for _, r := range rs.Rules {
		l := layoutEvent(r)
		if r.Count != nil {
			l.Count = &CountSchema{EveryNS: int64(r.Count.Every), SumLen: r.Count.SumLen, Top: r.Count.Top}
			out.Schema.AggKeySize = max(out.Schema.AggKeySize, aggKeySize(l))
		}
		if r.Sample != nil {
			l.Sample, l.SampleByFlow = r.Sample.N, r.Sample.ByFlow
		}
		if r.Limit != nil {
			l.Limit = r.Limit.PerSecond
		}
		out.Schema.Rules = append(out.Schema.Rules, l)
	}
	sets := newSetPlanner()
	for _, h := range rules.AllHooks {
		rr := rs.ForHook(h)
		if len(rr) == 0 {
			continue
		}
		p, err := compileHook(h, rr, out.Schema, opts, sets, rs.SecretQuery)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h, err)
		}
		out.Programs = append(out.Programs, p)
	}
	out.Sets = sets.maps
	return out, nil
}

// needs says how deep the parser must go for the rules of a hook: the
// headers it parses, closed over the header table's parents.
type needs struct {
	hdr [rules.NumHeaders]bool
	// l3: some header after the link layer (and its tags); l4: some header
	// carried by IP.
	l3, l4 bool
}

// has reports whether the parser parses h.
func (n *needs) has(h rules.Header) bool { return n.hdr[h] }

type gen struct {
	// outOfLine emits the groups' decision trees after the main
	// program's exit (see tree).
	outOfLine []func()
	// base is the register the packet record is addressed from: R10 in the
	// main program, the caller's frame pointer (R8) in a group's subprogram.
	base  asm.Register
	delta int16 // record offsets are relative to R10; base points delta below it
	// inFunc is set while emitting a group's subprogram.
	inFunc bool
	hook   rules.Hook
	b      *bpf.Builder
	fl     bpf.Flavour
	rec    *record
	need   needs
	opts   Options
	// l7 is the L7 stage's plan and state (nil: the hook's rules use no L7 field).
	l7 *l7gen
	// pay is what the rules need of byte fields (nil: none; payload.go).
	pay *paygen
	// ruleNeeds and factsSet drive the parser's early exit (see reach.go).
	ruleNeeds []uint64
	factsSet  uint64
	// cold are parser blocks waiting to be emitted out of line.
	cold []func()
	// spillAt is where parseEnd stored the presence bitmap, removed when
	// nothing reads it back.
	spillAt int
	// sets decides which set tests are map lookups (sets.go).
	sets *setPlanner
	// usesTask: the program reads TaskMap (proc.pname).
	usesTask bool
	// txMask are the hashes of the secret query parameters
	// (rules.RuleSet.SecretQuery): the request target an HTTP transaction
	// keeps for its response is masked with them (l7_httptx.go).
	txMask []uint32
}

func compileHook(h rules.Hook, rr0 []*rules.Rule, schema *Schema, opts Options, sets *setPlanner, txMask []uint32) (*Program, error) {
	// Fold what is known in advance; a rule that can never match emits
	// nothing (the checker has warned about it).
	var rr []*rules.Rule
	for _, r := range rr0 {
		m := simplify(foldSyscall(r.Match, h))
		if c, ok := m.(*rules.PredConst); ok && !c.Value {
			continue
		}
		folded := *r
		folded.Match = m
		rr = append(rr, &folded)
	}
	g := &gen{base: asm.R10, b: bpf.NewBuilder(), fl: FlavourOf(h), opts: opts, hook: h, sets: sets, txMask: txMask}

	// Every field occurrence the rules use, in predicates or logs.
	var refs []rules.FieldRef
	for _, r := range rr {
		walkRefs(r.Match, func(ref rules.FieldRef) { refs = append(refs, ref) })
		for _, lf := range r.Log {
			refs = append(refs, lf.Ref)
		}
		refs = append(refs, volumeRefs(r)...)
	}
	l7, err := planL7(rr, opts.txStrings)
	if err != nil {
		return nil, err
	}
	g.l7 = l7
	var keys []slotKey
	if l7 != nil {
		keys = append(keys, l7.slotKeys()...)
	}
	for _, ref := range refs {
		g.need.add(ref)
		if ref.Field.Type != rules.TypeProto {
			keys = append(keys, keyOf(ref))
		}
	}
	if g.pay = planPayload(refs); g.pay != nil {
		keys = append(keys, g.pay.slotKeys()...)
	}
	g.need.close()
	keys = append(keys, g.procKeys()...)
	if slices.Contains(keys, (slotKey{computed: compTCPLen, size: 4, layer: 1})) {
		// tcp.len is bounded by the frame's length on the wire.
		keys = append(keys, slotKey{computed: compFrameLen, size: 4, layer: 1})
	}
	g.rec = layoutRecord(keys)

	g.markPhase(PhaseParser)
	if h.IsSyscall() {
		g.parseSyscall()
	} else {
		g.planEarlyExit(rr)
		if g.batched() {
			g.markPhase(PhaseBatch)
			g.batchPrologue()
			g.markPhase(PhaseParser)
		}
		g.parse()
	}
	g.markPhase(PhaseRules)
	units := planUnits(rr)
	hasGroups := false
	for _, u := range units {
		hasGroups = hasGroups || u.group != nil
	}
	if hasGroups || len(units) > SmallProgram {
		g.useScratch(epilogue)
	}
	starts := map[int]string{} // rule index -> label of its code
	var groups []*group
	var groupMaps []*GroupMap
	for _, u := range units {
		if u.group != nil {
			groups = append(groups, u.group)
			if u.group.hm = planGroupMap(u.group, int(h)); u.group.hm != nil {
				groupMaps = append(groupMaps, u.group.hm)
			}
			end := g.b.NewLabel(u.group.fn + ".end")
			start := g.b.NewLabel(u.group.fn + ".start")
			g.b.Label(start)
			for _, r := range u.group.rules {
				starts[r.Index] = start
			}
			g.groupCode(u.group, end)
			g.b.Label(end)
			continue
		}
		r := u.rule
		starts[r.Index] = g.b.NewLabel("rule." + r.Name + ".start")
		g.b.Label(starts[r.Index])
		next := g.b.NewLabel("rule." + r.Name + ".next")
		g.b.Comment("rule %s: match %s", r.Name, rules.PredSummary(r.Match, listedElements))
		g.l7RuleEnter(r)
		if r.Match != nil {
			g.branch(r.Match, next, false)
		}
		g.emitRule(r, schema.Rules[r.Index], schema.AggKeySize, next)
		g.b.Label(next)
		g.l7RuleLeave(r)
	}
	g.l7Pipeline(units, schema)
	g.markPhase(PhaseEpilogue)
	g.b.MainLabel(epilogue)
	g.l7Clear()
	g.payClear()
	if g.batched() {
		g.batchEpilogue()
	} else {
		g.b.Comment("logging never changes traffic")
		g.fl.ReturnPass(g.b)
	}
	for _, f := range g.outOfLine {
		f()
	}
	g.outOfLine = nil
	for _, gr := range groups {
		g.groupFunc(gr, schema)
	}
	g.l7EmitFuncs()
	g.payEmitFuncs()
	if g.l7 == nil && !g.b.ReadsStack(presenceOff, 8) {
		// No load from the slot (presence tests, and the copy to the
		// scratch map that groups read): the presence spill has no reader.
		g.b.Remove(g.spillAt, spillLen)
	}

	insns, err := g.b.Instructions()
	if err != nil {
		return nil, err
	}
	insns[0] = insns[0].WithSymbol(g.fl.Name)
	if len(groups) > 0 || g.l7HasFuncs() || len(g.payFuncNames()) > 0 {
		// Global subprograms need BTF function information for every function.
		ctxName := "__sk_buff"
		if g.fl.Type == bpf.XDP.Type {
			ctxName = "xdp_md"
		}
		insns[0] = btf.WithFuncMetadata(insns[0], funcBTF(g.fl.Name, ctxName, false))
		for i, ins := range insns {
			for _, gr := range groups {
				if ins.Symbol() == gr.fn {
					insns[i] = btf.WithFuncMetadata(ins, funcBTF(gr.fn, ctxName, true))
				}
			}
		}
		g.l7FuncBTF(insns)
		g.payFuncBTF(insns)
	}
	p := &Program{Hook: h, Flavour: g.fl, Insns: insns, RecordSize: g.rec.Size(), usesProc: g.procLookup(), usesTask: g.usesTask, tcOnly: tcOnly(h, refs), GroupMaps: groupMaps}
	p.Phases = phaseSpans(insns)
	if g.base != asm.R10 {
		p.ScratchSize = g.scratchSize()
	}
	// Raw offsets of rule code, found by the labels that mark it in the
	// final program (after the builder's peephole and jump relaxation).
	raw := rawOffsets(insns)
	at := map[string]int{}
	for i, ins := range insns {
		if s := ins.Symbol(); s != "" {
			at[s] = raw[i]
		}
	}
	for _, r := range rr {
		p.Rules = append(p.Rules, r.Index)
		p.RuleStarts = append(p.RuleStarts, RuleStart{Rule: r.Index, Offset: at[g.b.Resolve(starts[r.Index])]})
	}
	sort.Slice(p.RuleStarts, func(i, j int) bool { return p.RuleStarts[i].Offset < p.RuleStarts[j].Offset })
	p.epilogue = at[g.b.Resolve(epilogue)]
	return p, nil
}

func (n *needs) add(ref rules.FieldRef) {
	n.hdr[ref.Field.Header] = true
	for _, h := range ref.Field.Also {
		n.hdr[h] = true
	}
	if ref.Field.Name == "eth.type" || ref.Field.Header == rules.HdrIEEE8021AD {
		// At tc ingress the tag the kernel moved to metadata holds the
		// frame's eth.type; an S-tag is a VLAN tag: the tag parser reads
		// them.
		n.hdr[rules.HdrVLAN] = true
	}
}

// close adds the headers that lead to the ones needed: the table lists
// parents before children, so one backward pass closes the set.
func (n *needs) close() {
	defs := rules.HeaderDefs()
	for i := len(defs) - 1; i >= 0; i-- {
		d := defs[i]
		if !n.hdr[d.Header] {
			continue
		}
		for _, l := range d.Under {
			n.hdr[l.Parent] = true
		}
		n.l4 = n.l4 || d.IsTransport()
		n.l3 = n.l3 || (d.Follows(rules.HdrEth) && d.Header != rules.HdrVLAN)
	}
}

// walkRefs calls fn for every field occurrence a predicate uses.
func walkRefs(p rules.Pred, fn func(rules.FieldRef)) {
	switch p := p.(type) {
	case *rules.PredAnd:
		for _, t := range p.Terms {
			walkRefs(t, fn)
		}
	case *rules.PredOr:
		for _, t := range p.Terms {
			walkRefs(t, fn)
		}
	case *rules.PredNot:
		walkRefs(p.X, fn)
	case *rules.PredExists:
		fn(p.Ref)
	case *rules.PredCompare:
		fn(p.Ref)
	case *rules.PredInSet:
		fn(p.Ref)
	case *rules.PredBitTest:
		fn(p.Ref)
	case *rules.PredText:
		fn(p.Ref)
	case *rules.PredTextSet:
		fn(p.Ref)
	case *rules.PredFieldCompare:
		fn(p.Left)
		fn(p.Right)
	case *rules.PredSlice:
		fn(p.Ref)
	case *rules.PredLen:
		fn(p.Ref)
	}
}

// Spec returns the collection to load: the programs, the ring buffer of
// ringBytes (a power of two, multiple of the page size) and the per-CPU
// lost-event counters.
func (o *Output) Spec(ringBytes int) *ebpf.CollectionSpec {
	n := len(o.Schema.Rules)
	if n == 0 {
		n = 1
	}
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			EventsMap: {Name: EventsMap, Type: ebpf.RingBuf, MaxEntries: uint32(ringBytes)},
			LostMap:   {Name: LostMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(n)},
		},
		Programs: map[string]*ebpf.ProgramSpec{},
	}
	scratch := 0
	for _, p := range o.Programs {
		scratch = max(scratch, p.ScratchSize)
	}
	if scratch > 0 {
		spec.Maps[ScratchMap] = &ebpf.MapSpec{Name: ScratchMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(scratch), MaxEntries: uint32(rules.NumHooks)}
	}
	for _, p := range o.Programs {
		spec.Programs[p.Flavour.Name] = &ebpf.ProgramSpec{
			Name:         p.Flavour.Name,
			Type:         p.Flavour.Type,
			AttachType:   p.Flavour.AttachType,
			Instructions: p.Insns,
			License:      "GPL",
		}
	}
	o.l7Maps(spec)
	o.payMaps(spec)
	o.syscallSpec(spec)
	o.setMapSpecs(spec)
	o.groupMapSpecs(spec)
	if o.NeedsProc() {
		spec.Maps[ProcMap] = ProcMapSpec()
	}
	o.volumeMaps(spec, n)
	o.batchMaps(spec)
	return spec
}

// rawOffsets maps instruction indices to raw offsets (wide loads take two
// slots); the extra last entry is the program's length.
func rawOffsets(insns asm.Instructions) []int {
	out := make([]int, 0, len(insns)+1)
	off := 0
	for _, ins := range insns {
		out = append(out, off)
		off += int(ins.Size() / asm.InstructionSize)
	}
	return append(out, off)
}
