package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/hdrlog/hdrlog/bench/internal/cbpf"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// impl is one loaded program under test, with its ring buffer and lost
// counters when it logs.
type impl struct {
	name   string
	prog   *ebpf.Program
	events *ebpf.Map
	lost   *ebpf.Map
	rd     *ringbuf.Reader
	insns  int // instructions as generated/compiled (raw 8-byte slots)
	loadT  time.Duration
	closer func()
	dec    *runtime.Decoder // hdrlog's, when set
}

func (im *impl) Close() {
	if im.rd != nil {
		im.rd.Close()
	}
	if im.closer != nil {
		im.closer()
	}
}

// drain empties the ring buffer and returns the records it held (copied
// when keep is set; counted only otherwise).
func (im *impl) drain(keep bool) (int, [][]byte, error) {
	if im.events == nil {
		return 0, nil, nil
	}
	if im.rd == nil {
		rd, err := ringbuf.NewReader(im.events)
		if err != nil {
			return 0, nil, err
		}
		im.rd = rd
	}
	var rec ringbuf.Record
	var out [][]byte
	n := 0
	for im.rd.AvailableBytes() > 0 {
		im.rd.SetDeadline(time.Now())
		if err := im.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return n, out, err
		}
		n++
		if keep {
			out = append(out, append([]byte(nil), rec.RawSample...))
		}
	}
	return n, out, nil
}

// lostTotal sums the per-CPU lost-event counters of every rule.
func (im *impl) lostTotal() (uint64, error) {
	if im.lost == nil {
		return 0, nil
	}
	var total uint64
	n := im.lost.MaxEntries()
	for i := uint32(0); i < n; i++ {
		var per []uint64
		if err := im.lost.Lookup(i, &per); err != nil {
			return 0, err
		}
		for _, v := range per {
			total += v
		}
	}
	return total, nil
}

// resetLost zeroes the lost counters.
func (im *impl) resetLost() error {
	if im.lost == nil {
		return nil
	}
	zero := make([]uint64, ebpf.MustPossibleCPU())
	for i := uint32(0); i < im.lost.MaxEntries(); i++ {
		if err := im.lost.Put(i, zero); err != nil {
			return err
		}
	}
	return nil
}

func loadEmpty(typ ebpf.ProgramType, pass int32) (*impl, error) {
	spec := &ebpf.ProgramSpec{
		Name: "bench_empty", Type: typ, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, pass), asm.Return()},
	}
	p, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, fmt.Errorf("load empty %s program: %w", typ, err)
	}
	return &impl{name: "empty", prog: p, insns: 2, closer: func() { p.Close() }}, nil
}

// loadHdrlog loads a compilation with hdrlog's runtime.Load and returns the
// program of hook h.
func loadHdrlog(name string, out *compiler.Output, h rules.Hook, ringBytes int) (*impl, error) {
	start := time.Now()
	c, err := runtime.Load(out, runtime.LoadOptions{RingBytes: ringBytes})
	el := time.Since(start)
	if err != nil {
		return nil, err
	}
	p, ok := c.Programs[h]
	if !ok {
		c.Close()
		return nil, fmt.Errorf("no %s program", h)
	}
	n := 0
	for _, cp := range out.Programs {
		if cp.Hook == h {
			for _, ins := range cp.Insns {
				n += int(ins.Size() / asm.InstructionSize)
			}
		}
	}
	return &impl{name: name, prog: p, events: c.Events, lost: c.Lost, insns: n, loadT: el, closer: func() { c.Close() }}, nil
}

// loadC loads a clang-compiled object of bench/c.
func loadC(name, path string, ringBytes int) (*impl, error) {
	return loadCWithRing(name, path, ringBytes, nil)
}

// loadCWithRing loads a clang-compiled object of bench/c; with a non-nil
// events map, the program writes its events there instead of a ring of its
// own.
func loadCWithRing(name, path string, ringBytes int, events *ebpf.Map) (*impl, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m, ok := spec.Maps["events"]; ok {
		m.MaxEntries = uint32(ringBytes)
	}
	if len(spec.Programs) != 1 {
		return nil, fmt.Errorf("%s: %d programs, want 1", path, len(spec.Programs))
	}
	var pname string
	n := 0
	for k, ps := range spec.Programs {
		pname = k
		for _, ins := range ps.Instructions {
			n += int(ins.Size() / asm.InstructionSize)
		}
	}
	start := time.Now()
	var opts ebpf.CollectionOptions
	if events != nil {
		opts.MapReplacements = map[string]*ebpf.Map{"events": events}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, opts)
	el := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	ev := coll.Maps["events"]
	if events != nil {
		ev = events
	}
	return &impl{name: name, prog: coll.Programs[pname], events: ev, lost: coll.Maps["lost"],
		insns: n, loadT: el, closer: func() { coll.Close() }}, nil
}

// loadPcap compiles a pcap-filter expression with libpcap and loads its
// translation as a SchedCLS program.
func loadPcap(name, expr string, mode cbpf.Mode) (*impl, int, error) {
	classic, err := cbpf.Compile(expr)
	if err != nil {
		return nil, 0, err
	}
	insns, err := cbpf.Translate(classic, mode)
	if err != nil {
		return nil, 0, err
	}
	insns[0] = insns[0].WithSymbol("bench_pcap")
	spec := &ebpf.ProgramSpec{Name: "bench_pcap", Type: ebpf.SchedCLS, License: "GPL", Instructions: insns}
	start := time.Now()
	p, err := ebpf.NewProgram(spec)
	el := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("load libpcap translation of %q: %w", expr, err)
	}
	n := 0
	for _, ins := range insns {
		n += int(ins.Size() / asm.InstructionSize)
	}
	return &impl{name: name, prog: p, insns: n, loadT: el, closer: func() { p.Close() }}, len(classic), nil
}

// staticCost is what the kernel says about a loaded program.
type staticCost struct {
	Insns    int // as generated (raw instruction slots)
	Xlated   int // after the verifier's rewrites
	Jited    int // bytes of machine code
	Verified int // instructions the verifier processed
	Load     time.Duration
}

func (im *impl) static() (staticCost, error) {
	info, err := im.prog.Info()
	if err != nil {
		return staticCost{}, err
	}
	sc := staticCost{Insns: im.insns, Load: im.loadT}
	if x, err := info.TranslatedSize(); err == nil {
		sc.Xlated = x / asm.InstructionSize
	}
	if j, err := info.JitedSize(); err == nil {
		sc.Jited = int(j)
	}
	if v, ok := info.VerifiedInstructions(); ok {
		sc.Verified = int(v)
	}
	return sc, nil
}
