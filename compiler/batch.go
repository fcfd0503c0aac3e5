package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Batched test runs (Options.Batch): one BPF_PROG_TEST_RUN replays up to
// BatchFrames frames through the XDP program, because on a machine where a
// system call costs microseconds, one test run per frame caps a replay far
// below what the programs themselves cost.
//
// The test run's data holds the frames back to back in reverse order, each
// after BatchPad bytes of room for the test-run metadata (TestRunMeta):
//
//	meta | pad f[m-1] | ... | pad f[1] | pad f[0]
//
// BatchMap's single value says where each frame lies (BatchEntry: offset
// from the start of the data after the metadata, length, length on the
// wire, time) and how far the program got (BatchHeader). On entry, the
// program takes the next frame i: it moves the packet's head to the frame
// (bpf_xdp_adjust_head, which carries the metadata along into the frame's
// pad) and its end to the frame's end (bpf_xdp_adjust_tail, which only ever
// shrinks here: the frames lie in reverse order, so that growing the tail,
// which zeroes what it uncovers, is never needed), and writes the frame's
// metadata: its length on the wire and time, read as in a one-frame test
// run, and i, which every event carries in its ifindex word (the runtime
// gives events their frame from it). Then the rules run as usual. Instead
// of returning, the program tail-calls itself (BatchProgsMap) for frame
// i+1; after the last frame it returns XDP_PASS. Any other verdict means
// the batch was cut short (XDP_ABORTED: a window could not be set;
// XDP_DROP: the tail call failed), which the runtime reports as an error.
//
// A tail-call chain is at most 33 calls long (MAX_TAIL_CALL_CNT), and the
// data of an XDP test run must fit in its linear part (the runtime bounds
// the sum): BatchFrames frames take BatchFrames calls, the final check one
// more.
//
// Only the replay uses this, for rules with no state across frames (see
// SameAtXDP, BatchableAt): what a frame gives does not depend on which
// frames share its test run.

// Map names of a batch build.
const (
	BatchMap      = "batch"
	BatchProgsMap = "batch_progs"
)

// Layout of BatchMap's value.
const (
	BatchFrames = 32 // frames per test run at most
	// BatchHeader: u32 next frame, u32 frames, u32 current data offset,
	// u32 current data end (offsets from the data after the metadata).
	BatchHeader = 16
	// BatchEntry: u32 offset, u32 length, u32 length on the wire, u32 0,
	// u64 time (ns).
	BatchEntry = 24
	BatchValue = BatchHeader + BatchFrames*BatchEntry
	// BatchPad is the room before each frame, where the metadata goes.
	BatchPad = TestRunMeta
	// TestRunMeta is the metadata an XDP test run passes before the frame:
	// u32 length on the wire at 0, u32 batch index at 4 (batch builds),
	// u64 time at 8.
	TestRunMeta = 16
)

// Offsets in BatchMap's value.
const (
	batchNext    = 0
	batchCount   = 4
	batchPos     = 8
	batchEnd     = 12
	entOff       = BatchHeader + 0
	entLen       = BatchHeader + 4
	entWire      = BatchHeader + 8
	entTime      = BatchHeader + 16
	bpfFMmapable = 1 << 10 // BPF_F_MMAPABLE
	xdpAborted   = 0
	xdpDrop      = 1
)

// batched reports whether the program being generated is a batch program.
func (g *gen) batched() bool {
	return g.opts.Batch && g.opts.TestRun && g.hook == rules.HookXDP
}

// batchPrologue windows the next frame of the batch (see above); it ends
// with the context in R1, as the program's entry has it.
func (g *gen) batchPrologue() {
	b := g.b
	abort, done := b.NewLabel("batch.abort"), b.NewLabel("batch.done")
	start := b.NewLabel("batch.frame")
	b.Comment("batch: take the next frame of the test run")
	b.Emit(asm.Mov.Reg(rCtx, asm.R1))
	b.Emit(asm.StoreImm(asm.R10, keyOff, 0, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, keyOff))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(BatchMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, abort))
	b.Emit(asm.Mov.Reg(asm.R7, asm.R0))
	b.Emit(asm.LoadMem(asm.R1, asm.R7, batchNext, asm.Word), asm.LoadMem(asm.R2, asm.R7, batchCount, asm.Word))
	b.Emit(asm.JGE.Reg(asm.R1, asm.R2, done))
	b.Emit(asm.JGE.Imm(asm.R1, BatchFrames, abort))
	b.Emit(asm.Mov.Reg(asm.R8, asm.R1), asm.Mul.Imm(asm.R8, BatchEntry), asm.Add.Reg(asm.R8, asm.R7))
	b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R7, batchNext, asm.R1, asm.Word))
	b.Comment("head to the frame's start (the metadata moves along)")
	b.Emit(asm.LoadMem(asm.R2, asm.R8, entOff, asm.Word), asm.LoadMem(asm.R3, asm.R7, batchPos, asm.Word))
	b.Emit(asm.StoreMem(asm.R7, batchPos, asm.R2, asm.Word), asm.Sub.Reg(asm.R2, asm.R3))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpAdjustHead.Call(), asm.JNE.Imm(asm.R0, 0, abort))
	b.Comment("end to the frame's end (never grows: frames lie in reverse order)")
	b.Emit(asm.LoadMem(asm.R2, asm.R8, entOff, asm.Word), asm.LoadMem(asm.R3, asm.R8, entLen, asm.Word), asm.Add.Reg(asm.R2, asm.R3))
	b.Emit(asm.LoadMem(asm.R3, asm.R7, batchEnd, asm.Word))
	b.Emit(asm.StoreMem(asm.R7, batchEnd, asm.R2, asm.Word), asm.Sub.Reg(asm.R2, asm.R3))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpAdjustTail.Call(), asm.JNE.Imm(asm.R0, 0, abort))
	b.Comment("the frame's metadata: length on the wire, batch index, time")
	b.Emit(asm.LoadMem(asm.R2, rCtx, g.fl.CtxDataMeta, asm.Word), asm.LoadMem(asm.R3, rCtx, g.fl.CtxData, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, TestRunMeta), asm.JGT.Reg(asm.R4, asm.R3, abort))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, entWire, asm.Word), asm.StoreMem(asm.R2, 0, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R7, batchNext, asm.Word), asm.Sub.Imm(asm.R1, 1), asm.StoreMem(asm.R2, 4, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, entTime, asm.DWord), asm.StoreMem(asm.R2, 8, asm.R1, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Ja.Label(start))
	b.Label(done)
	b.Comment("every frame replayed")
	b.Emit(asm.Mov.Imm(asm.R0, g.fl.Pass), asm.Return())
	b.Label(abort)
	b.Comment("a frame's window could not be set: the batch is cut short")
	b.Emit(asm.Mov.Imm(asm.R0, xdpAborted), asm.Return())
	b.Label(start)
}

// batchEpilogue ends a batch program's frame: the program tail-calls itself
// for the next frame.
func (g *gen) batchEpilogue() {
	b := g.b
	b.Comment("batch: on to the next frame (the program again)")
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMapPtr(asm.R2, 0).WithReference(BatchProgsMap), asm.Mov.Imm(asm.R3, 0))
	b.Emit(asm.FnTailCall.Call())
	b.Comment("the tail call failed: the batch is cut short")
	b.Emit(asm.Mov.Imm(asm.R0, xdpDrop), asm.Return())
}

// batchIndex writes the frame's index in the batch (metadata at 4) into the
// event's ifindex word; 0xffffffff if the metadata is missing.
func (g *gen) batchIndex() {
	b := g.b
	none, store := b.NewLabel("batch.noidx"), b.NewLabel("batch.idx")
	b.Emit(asm.LoadMem(asm.R1, rCtx, g.fl.CtxDataMeta, asm.Word), asm.LoadMem(asm.R2, rCtx, g.fl.CtxData, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Imm(asm.R3, 8), asm.JGT.Reg(asm.R3, asm.R2, none))
	b.Emit(asm.LoadMem(asm.R1, asm.R1, 4, asm.Word), asm.Ja.Label(store))
	b.Label(none)
	b.Emit(asm.Mov.Imm32(asm.R1, -1))
	b.Label(store)
	b.Emit(asm.StoreMem(rEvent, EvIfindex, asm.R1, asm.Word))
}

// batchMaps adds a batch build's maps.
func (o *Output) batchMaps(spec *ebpf.CollectionSpec) {
	if !o.Options.Batch || !o.Options.TestRun {
		return
	}
	for _, p := range o.Programs {
		if p.Hook != rules.HookXDP {
			continue
		}
		// Memory-mapped: the runtime writes the table without a system call.
		spec.Maps[BatchMap] = &ebpf.MapSpec{Name: BatchMap, Type: ebpf.Array, KeySize: 4, ValueSize: BatchValue, MaxEntries: 1,
			Flags: bpfFMmapable}
		spec.Maps[BatchProgsMap] = &ebpf.MapSpec{Name: BatchProgsMap, Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1,
			Contents: []ebpf.MapKV{{Key: uint32(0), Value: p.Flavour.Name}}}
	}
}

// BatchableAt reports whether the program of hook h, in this test-run
// build, keeps no state from one frame to the next, so that its XDP build
// may replay frames in batches (Options.Batch); if not, why not. For a tc
// hook, SameAtXDP must hold too.
func (out *Output) BatchableAt(h rules.Hook) (bool, string) {
	if !out.Options.TestRun {
		return false, "not a test-run build"
	}
	var p *Program
	for _, q := range out.Programs {
		if q.Hook == h {
			p = q
		}
	}
	if p == nil {
		return false, "no program"
	}
	if ok, why := out.stateless(p); !ok {
		return false, why
	}
	for _, ins := range p.Insns {
		if ins.IsLoadFromMap() && ins.Reference() == ReplayClockMap {
			return false, "reads the replay clock, which is set frame by frame"
		}
	}
	return true, ""
}

// stateless says whether p keeps no state across frames (the rules' maps
// are per-frame ones and sets); if not, why not.
func (out *Output) stateless(p *Program) (bool, string) {
	for _, i := range p.Rules {
		r := &out.Schema.Rules[i]
		if r.Count != nil || r.Sample != 0 || r.Limit != 0 {
			return false, "rule " + r.Name + " counts, samples or limits (state across frames)"
		}
	}
	sets := map[string]bool{}
	for _, s := range out.Sets {
		sets[s.Name] = true
	}
	for name := range out.GroupMapNames() {
		sets[name] = true // fixed contents, like a set's
	}
	for _, ins := range p.Insns {
		if ins.IsLoadFromMap() && !perFrameMaps[ins.Reference()] && !sets[ins.Reference()] {
			return false, "uses map " + ins.Reference() + " (state across frames, or keyed by hook)"
		}
	}
	return true, ""
}
