package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Many frames per test run. On a machine where a system call costs
// microseconds (a paravirtualised one: ~2 µs for the test run of an empty
// program), one BPF_PROG_TEST_RUN per frame caps a replay at a few hundred
// thousand frames per second whatever the rules cost. So a replay runs the
// frames of a hook whose rules keep no state across frames through a batch
// build of its XDP program (compiler.Options.Batch): one test run replays up
// to compiler.BatchFrames frames, the program tail-calling itself from one
// frame to the next, and each event carries its frame's index in the batch.
//
// The batches are run ahead, for the frames of one replay batch (a worker's
// run of consecutive frames) at a time, and their events kept as the ring
// buffer gave them; then the frames are replayed one by one as before, and
// a frame's events for a batched hook are taken from what was kept instead
// of from a test run of its own. So the skips, the routes, the order of the
// events (capture order, hook order, rule order) and the summary are those
// of the one-frame-at-a-time path, byte for byte
// (TestBatchedReplayMatchesOneFrame*).
//
// Which frames go in batches: those an XDP test run holds whole and linear
// (at most XDPLinear bytes, and at least MinFrame), at the XDP hook, or at
// a tc hook whose rules mean the same at XDP (SameAtXDP), when the rules
// keep no state across frames (compiler.Output.BatchableAt). Others take
// the one-frame path.

// batchRunner runs frames through a batch build, many per test run.
type batchRunner struct {
	c     *Collection
	prog  *ebpf.Program
	table *ebpf.Map
	mem   *ebpf.Memory // the table, memory-mapped (nil: written with a system call)
	val   []byte       // BatchMap's value
	data  []byte       // the test run's data
	attr  testRunAttr
	ctx   [8]byte
	rec   ringbuf.Record
}

func newBatchRunner(c *Collection) (*batchRunner, error) {
	br := &batchRunner{c: c, prog: c.Programs[rules.HookXDP], table: c.coll.Maps[compiler.BatchMap],
		val: make([]byte, compiler.BatchValue)}
	if br.prog == nil || br.table == nil || c.coll.Maps[compiler.BatchProgsMap] == nil {
		return nil, errors.New("not a batch build")
	}
	if mem, err := br.table.Memory(); err == nil {
		br.mem = mem
	}
	return br, nil
}

// batchFits reports whether frames of these lengths fit in one test run.
func batchFits(n, bytes int, l TestRunLimits) bool {
	return n <= compiler.BatchFrames && bytes <= l.XDPLinear
}

// run replays frames (with their lengths on the wire and times) in one test
// run; raw gets each event's bytes and its frame's index in frames, in the
// order the ring buffer gives them.
func (br *batchRunner) run(frames [][]byte, wire []int, tstamps []uint64, raw func(idx int, b []byte) error) error {
	m := len(frames)
	if m == 0 || m > compiler.BatchFrames {
		return fmt.Errorf("a batch of %d frames", m)
	}
	v := br.val
	clear(v[:compiler.BatchHeader])
	le := binary.NativeEndian
	// Frames in reverse order, each after its pad (compiler/batch.go).
	pos := 0
	for k := m - 1; k >= 0; k-- {
		pos += compiler.BatchPad
		pos += len(frames[k])
	}
	need := compiler.TestRunMeta + pos
	if cap(br.data) < need {
		br.data = make([]byte, need)
	}
	d := br.data[:need]
	clear(d[:compiler.TestRunMeta])
	p := compiler.TestRunMeta
	for k := m - 1; k >= 0; k-- {
		clear(d[p : p+compiler.BatchPad])
		p += compiler.BatchPad
		e := v[compiler.BatchHeader+k*compiler.BatchEntry:]
		le.PutUint32(e[0:], uint32(p-compiler.TestRunMeta))
		le.PutUint32(e[4:], uint32(len(frames[k])))
		le.PutUint32(e[8:], uint32(max(wire[k], len(frames[k]))))
		le.PutUint32(e[12:], 0)
		le.PutUint64(e[16:], tstamps[k])
		p += copy(d[p:], frames[k])
	}
	le.PutUint32(v[4:], uint32(m))
	le.PutUint32(v[12:], uint32(pos))
	if br.mem != nil {
		if _, err := br.mem.WriteAt(v[:compiler.BatchHeader+m*compiler.BatchEntry], 0); err != nil {
			return fmt.Errorf("set the batch table: %w", err)
		}
	} else if err := br.table.Put(uint32(0), v); err != nil {
		return fmt.Errorf("set the batch table: %w", err)
	}
	le.PutUint32(br.ctx[0:], compiler.TestRunMeta)
	le.PutUint32(br.ctx[4:], uint32(need))
	a := &br.attr
	*a = testRunAttr{progFD: uint32(br.prog.FD()), repeat: 1,
		dataIn: unsafe.Pointer(&d[0]), dataSizeIn: uint32(need),
		ctxIn: unsafe.Pointer(&br.ctx[0]), ctxSizeIn: 8}
	_, _, errno := unix.RawSyscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(a)), unsafe.Sizeof(*a))
	if errno != 0 && errno != unix.EINTR {
		return fmt.Errorf("BPF_PROG_TEST_RUN of a batch of %d frames: %w", m, errno)
	}
	if a.retval != uint32(compiler.FlavourOf(rules.HookXDP).Pass) {
		return fmt.Errorf("a batch of %d frames was cut short (verdict %d)", m, a.retval)
	}
	return br.c.drainRaw(&br.rec, func(b []byte) error {
		if len(b) < compiler.HeaderSize {
			return fmt.Errorf("an event of %d bytes", len(b))
		}
		idx := le.Uint32(b[compiler.EvIfindex:])
		if int(idx) >= m {
			return fmt.Errorf("an event of frame %d of a batch of %d", idx, m)
		}
		return raw(int(idx), b)
	})
}

// drainRaw hands fn the bytes of every event waiting in the ring buffer,
// without blocking (valid during the call only).
func (c *Collection) drainRaw(rec *ringbuf.Record, fn func([]byte) error) error {
	rd, err := c.ringReader()
	if err != nil {
		return err
	}
	if rd.AvailableBytes() == 0 {
		return nil
	}
	rd.SetDeadline(time.Now())
	for rd.AvailableBytes() > 0 {
		if err := rd.ReadInto(rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
				return nil
			}
			return err
		}
		if err := fn(rec.RawSample); err != nil {
			return err
		}
	}
	return nil
}

// preRun is what the batches gave for the frames of one replay batch.
type preRun struct {
	on    bool
	hooks int     // len(Replayer.hooks)
	ran   []bool  // per frame and hook position: taken from here
	span  []int32 // per frame and hook position: start, end in ends (2 each)
	ends  []int32 // end of each event in raw
	raw   []byte
	frame int // the frame being replayed (index in the replay batch)

	// scratch of runAhead
	chunk   []int
	data    [][]byte
	wire    []int
	tstamps []uint64
	idx     []int32 // frame position in the chunk of each event
	dirs    []Direction
	ev      Event
}

// batchBuild returns the batch build of hook h's rules (compiled once,
// loaded per worker).
func (r *Replayer) batchBuild(h rules.Hook) (*batchRunner, error) {
	if br, ok := r.batchRun[h]; ok {
		return br, nil
	}
	out := r.batchOut[h]
	if out == nil {
		var err error
		if h == rules.HookXDP {
			opts := r.loaded.Options
			opts.Batch = true
			out, err = compiler.Compile(r.rs, opts)
		} else {
			out, err = r.compileAtXDP(h, true)
		}
		if err != nil {
			return nil, err
		}
		if r.batchOut == nil {
			r.batchOut = map[rules.Hook]*compiler.Output{}
		}
		r.batchOut[h] = out
	}
	c, err := Load(out, LoadOptions{TxOf: r.coll})
	if err != nil {
		return nil, fmt.Errorf("load the %s rules built for batched test runs: %w", h, err)
	}
	if c.clock != nil {
		c.Close()
		return nil, errors.New("the batch build reads the replay clock")
	}
	br, err := newBatchRunner(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	if r.batchRun == nil {
		r.batchRun = map[rules.Hook]*batchRunner{}
	}
	r.batchRun[h] = br
	return br, nil
}

// setUpBatches decides which hooks replay in batches and loads their
// builds; a build that fails leaves the hook to the one-frame path.
func (r *Replayer) setUpBatches() {
	for _, h := range r.hooks {
		switch {
		case h == rules.HookXDP:
			if ok, _ := r.loaded.BatchableAt(h); !ok {
				continue
			}
		case r.sameXDP[h]:
			if ok, _ := r.loaded.BatchableAt(h); !ok {
				continue
			}
		default:
			continue
		}
		if _, err := r.batchBuild(h); err == nil {
			if r.batched == nil {
				r.batched = map[rules.Hook]bool{}
			}
			r.batched[h] = true
		}
	}
}

// Batched returns the hooks whose frames the replay runs many per test run.
func (r *Replayer) Batched() []rules.Hook {
	var hs []rules.Hook
	for _, h := range r.hooks {
		if r.batched[h] {
			hs = append(hs, h)
		}
	}
	return hs
}

// runAhead runs the frames of a replay batch that go in batches, hook by
// hook, and keeps their events for ReplayFrame (see above).
func (r *Replayer) runAhead(frames []CapturedFrame) error {
	p := &r.pre
	p.on, p.hooks = false, len(r.hooks)
	if len(r.batched) == 0 || len(frames) == 0 {
		return nil
	}
	n := len(frames) * p.hooks
	p.ran = append(p.ran[:0], make([]bool, n)...)
	p.span = append(p.span[:0], make([]int32, 2*n)...)
	p.ends, p.raw = p.ends[:0], p.raw[:0]
	p.dirs = p.dirs[:0]
	for i := range frames {
		p.dirs = append(p.dirs, r.Direction(&frames[i]))
	}
	l := r.limits
	for k, h := range r.hooks {
		if !r.batched[h] {
			continue
		}
		br := r.batchRun[h]
		p.chunk = p.chunk[:0]
		bytes := 0
		for j := range frames {
			fr := &frames[j]
			n := len(fr.Data)
			if n < l.MinFrame || n > l.XDPLinear || !hookSees(h, p.dirs[j]) {
				continue
			}
			if !batchFits(len(p.chunk)+1, bytes+compiler.BatchPad+n, l) {
				if err := r.runChunk(br, frames, k); err != nil {
					return err
				}
				p.chunk, bytes = p.chunk[:0], 0
			}
			p.chunk = append(p.chunk, j)
			bytes += compiler.BatchPad + n
		}
		if err := r.runChunk(br, frames, k); err != nil {
			return err
		}
	}
	p.on = true
	return nil
}

// runChunk runs the frames of pre.chunk through hook position k's batch
// build in one test run.
func (r *Replayer) runChunk(br *batchRunner, frames []CapturedFrame, k int) error {
	p := &r.pre
	if len(p.chunk) == 0 {
		return nil
	}
	p.data, p.wire, p.tstamps, p.idx = p.data[:0], p.wire[:0], p.tstamps[:0], p.idx[:0]
	for _, j := range p.chunk {
		fr := &frames[j]
		p.data = append(p.data, fr.Data)
		p.wire = append(p.wire, max(fr.OrigLen, len(fr.Data)))
		p.tstamps = append(p.tstamps, frameNanos(fr))
	}
	first := len(p.ends)
	err := br.run(p.data, p.wire, p.tstamps, func(idx int, b []byte) error {
		p.raw = append(p.raw, b...)
		p.ends = append(p.ends, int32(len(p.raw)))
		p.idx = append(p.idx, int32(idx))
		return nil
	})
	if err != nil {
		return fmt.Errorf("frames %d-%d, %s: %w", frames[p.chunk[0]].Number, frames[p.chunk[len(p.chunk)-1]].Number, r.hooks[k], err)
	}
	// The ring gives the events frame after frame: cut them by frame.
	e := 0
	for pos, j := range p.chunk {
		start := e
		for e < len(p.idx) && int(p.idx[e]) == pos {
			e++
		}
		at := j*p.hooks + k
		p.ran[at] = true
		p.span[2*at], p.span[2*at+1] = int32(first+start), int32(first+e)
	}
	if e != len(p.idx) {
		return fmt.Errorf("frames %d-%d, %s: the batch's events came out of frame order", frames[p.chunk[0]].Number, frames[p.chunk[len(p.chunk)-1]].Number, r.hooks[k])
	}
	return nil
}

// ranAhead hands fn the events kept for hook position k of the frame being
// replayed; false if the frame did not go through a batch there.
func (r *Replayer) ranAhead(k int, h rules.Hook, fn func(*Event) error) (bool, error) {
	p := &r.pre
	if !p.on {
		return false, nil
	}
	at := p.frame*p.hooks + k
	if at >= len(p.ran) || !p.ran[at] {
		return false, nil
	}
	dec := r.batchRun[h].c.Decoder
	ev := &p.ev
	for i := p.span[2*at]; i < p.span[2*at+1]; i++ {
		start := int32(0)
		if i > 0 {
			start = p.ends[i-1]
		}
		if err := dec.Decode(p.raw[start:p.ends[i]], ev); err != nil {
			return true, err
		}
		if err := fn(ev); err != nil {
			return true, err
		}
	}
	return true, nil
}
