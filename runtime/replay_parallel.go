package runtime

import (
	"errors"
	"fmt"
	"io"
	"maps"
	goruntime "runtime"
	"sync"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// A replay spreads the frames over every CPU: a reader cuts the capture
// into batches of consecutive frames, workers replay whole batches, each
// with programs (or a reference evaluator) of its own, and the batches are
// written back in capture order. Each frame still goes through the real
// programs, one BPF_PROG_TEST_RUN per frame and hook, its events drained
// right after its test run; only the order of the writing is restored.
// The output is byte for byte that of ReplaySerial, the one-frame-at-a-time
// path (TestParallelReplayMatchesSerial).
//
// Rules that keep state from one frame to the next (a TLS ClientHello held
// for the flow's next segment) must see every frame in order: their replay
// takes one worker. The reader and the writer still run beside it.
//
// Memory stays bounded whatever the capture's size: at most maxBatches
// batches of at most batchFrames frames and about maxBatchPayload bytes
// exist at once (TestReplayMemoryBounded).
const (
	batchesPerLane  = 4
	maxBatches      = 32      // in flight, whatever the number of CPUs
	maxBatchPayload = 1 << 20 // a batch is cut short when its frames hold this many bytes
)

// batchFrames is the most frames a batch holds (tests make it small, so that
// a short capture spans many batches).
var batchFrames = 256

// Workers reports how many workers a replay spreads frames over.
func (r *Replayer) Workers() int {
	if r.stateful() {
		return 1
	}
	if r.workers > 0 {
		return r.workers
	}
	return goruntime.GOMAXPROCS(0)
}

// thinned reports whether some rule samples or limits.
func (r *Replayer) thinned() bool {
	for _, rule := range r.rs.Rules {
		if rule.Thinned() {
			return true
		}
	}
	return false
}

// stateful reports whether the rules keep state between frames (in the
// kernel, a map the programs write and read across frames; the reference
// evaluator models the same state).
func (r *Replayer) stateful() bool {
	for _, p := range r.out.Programs {
		for _, ins := range p.Insns {
			if ins.Reference() == compiler.TLSHeldMap || ins.Reference() == compiler.TxStatsMap {
				return true
			}
		}
	}
	return false
}

// lanes returns n replayers of the same rules, r first, the others with
// programs (or a reference evaluator) of their own, made once and kept for
// the next replay.
func (r *Replayer) lanes(n int) ([]*Replayer, error) {
	for len(r.forks) < n-1 {
		f := *r
		f.forks, f.viaXDP, f.coll, f.ref, f.runners, f.dec, f.refEv = nil, map[rules.Hook]*Collection{}, nil, nil, nil, nil, Event{}
		f.batchRun, f.pre = nil, preRun{}
		var err error
		if r.ref != nil {
			f.ref, err = reference.New(r.rs)
		} else {
			f.coll, err = Load(r.loaded, LoadOptions{})
		}
		f.xdpOut = maps.Clone(r.xdpOut)
		for h := range r.sameXDP {
			if err == nil {
				_, err = f.xdpBuild(h)
			}
		}
		f.batchOut = maps.Clone(r.batchOut)
		for h := range r.batched {
			if err == nil {
				_, err = f.batchBuild(h)
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("replay worker %d: %w", len(r.forks)+2, err)
		}
		r.forks = append(r.forks, &f)
	}
	return append([]*Replayer{r}, r.forks[:n-1]...), nil
}

// replayBatch is a run of consecutive frames and what their replay gave.
type replayBatch struct {
	seq    int
	frames []CapturedFrame
	data   []byte // the frames' bytes, one after the other

	out   []byte // JSON lines of every event, in order
	lines []int  // end of each line in out
	done  []frameDone
	err   error // the error that stopped the batch at frame len(done)
}

// frameDone is what one frame gave: its events (lines up to lineEnd) and
// how it went through the hooks.
type frameDone struct {
	lineEnd int
	rep     FrameReport
	events  []int32 // rule index of each event (summary counts)
}

func (b *replayBatch) reset() {
	b.frames, b.data, b.out, b.lines, b.done, b.err = b.frames[:0], b.data[:0], b.out[:0], b.lines[:0], b.done[:0], nil
}

// add copies fr into the batch.
func (b *replayBatch) add(fr *CapturedFrame) {
	b.data = append(b.data, fr.Data...)
	b.frames = append(b.frames, *fr) // Data re-pointed by fixData
}

// fixData points every frame at its bytes in data (append may have moved
// it).
func (b *replayBatch) fixData() {
	off := 0
	for i := range b.frames {
		n := len(b.frames[i].Data)
		b.frames[i].Data = b.data[off : off+n : off+n]
		off += n
	}
}

// replay runs the batch's frames through r.
func (b *replayBatch) replay(r *Replayer) {
	var ev []int32
	// The frames that go many per test run first (replay_batch.go).
	defer func() { r.pre.on = false }()
	if err := r.runAhead(b.frames); err != nil {
		b.done = append(b.done, frameDone{})
		b.err = err
		return
	}
	for i := range b.frames {
		r.pre.frame = i
		fr := &b.frames[i]
		meta := Meta{Time: fr.Time, Iface: fr.Iface, Frame: fr.Number}
		ev = ev[:0]
		rep, err := r.ReplayFrame(fr, func(e *Event) error {
			b.out = AppendJSON(b.out, r.out.Schema, e, meta)
			b.out = append(b.out, '\n')
			b.lines = append(b.lines, len(b.out))
			ev = append(ev, int32(e.Rule))
			return nil
		})
		d := frameDone{lineEnd: len(b.lines), rep: rep}
		if len(ev) > 0 {
			d.events = append([]int32(nil), ev...)
		}
		if err != nil {
			// The events before the error are written, as the serial
			// path writes them before it stops.
			b.done = append(b.done, d)
			b.err = err
			return
		}
		b.done = append(b.done, d)
	}
}

// Replay replays every frame of a capture and writes one JSON line per event
// to w (one Write per line). Each skip goes to skipped (which may be nil)
// after the frame's events, as it happens in capture order; progress, if
// not nil, is called after every frame. The frames are spread over
// r.Workers() workers (see above); the output is that of ReplaySerial.
func Replay(r *Replayer, c *Capture, w io.Writer, skipped func(Skip), progress func(frames int)) (*ReplaySummary, error) {
	if r.counter != nil || r.thinned() {
		// Counting rules cut intervals by capture time, between frames;
		// limits keep a bucket from frame to frame.
		return ReplaySerial(r, c, w, skipped, progress)
	}
	workers := r.Workers()
	lanes, err := r.lanes(workers)
	if err != nil {
		return nil, err
	}
	s := newReplaySummary(r)
	inFlight := min(batchesPerLane*workers, maxBatches)
	free := make(chan *replayBatch, inFlight)
	for i := 0; i < inFlight; i++ {
		free <- &replayBatch{}
	}
	todo := make(chan *replayBatch, inFlight)
	done := make(chan *replayBatch, inFlight)
	stop := make(chan struct{})
	var readErr error

	// Reader: cuts the capture into batches.
	go func() {
		defer close(todo)
		seq := 0
		var fr CapturedFrame
		for {
			var b *replayBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.reset()
			b.seq = seq
			seq++
			for len(b.frames) < batchFrames && len(b.data) < maxBatchPayload {
				if err := c.read(&fr, true); err != nil {
					if !errors.Is(err, io.EOF) {
						readErr = err
					}
					break
				}
				b.add(&fr)
			}
			b.fixData()
			if len(b.frames) == 0 {
				return
			}
			select {
			case todo <- b:
			case <-stop:
				return
			}
			if readErr != nil {
				return
			}
		}
	}()

	// Workers.
	var wg sync.WaitGroup
	for _, lane := range lanes {
		wg.Add(1)
		go func(lane *Replayer) {
			defer wg.Done()
			if lane.coll != nil {
				// A test run is quickest on the CPU the thread
				// stays on (per-CPU maps stay warm).
				goruntime.LockOSThread()
				defer goruntime.UnlockOSThread()
			}
			for b := range todo {
				b.replay(lane)
				done <- b
			}
		}(lane)
	}
	go func() { wg.Wait(); close(done) }()

	// Writer: batches in capture order.
	pending := map[int]*replayBatch{}
	next := 0
	for b := range done {
		if err != nil {
			continue // drain: the workers finish what they hold
		}
		pending[b.seq] = b
		for err == nil {
			nb, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err = s.writeBatch(nb, w, skipped, progress); err != nil {
				close(stop)
				break
			}
			free <- nb
		}
	}
	if err != nil {
		return s, err
	}
	if readErr != nil {
		return s, readErr
	}
	return s, s.finish(r)
}

// writeBatch writes a replayed batch's events, frame by frame, and counts
// what it did, as ReplaySerial does frame by frame.
func (s *ReplaySummary) writeBatch(b *replayBatch, w io.Writer, skipped func(Skip), progress func(int)) error {
	line := 0
	for i, d := range b.done {
		for ; line < d.lineEnd; line++ {
			start := 0
			if line > 0 {
				start = b.lines[line-1]
			}
			if _, err := w.Write(b.out[start:b.lines[line]]); err != nil {
				return err
			}
		}
		for _, rule := range d.events {
			s.Events[rule]++
		}
		if i == len(b.done)-1 && b.err != nil {
			s.Frames++
			return b.err
		}
		s.addFrame(&b.frames[i], d.rep, skipped)
		if progress != nil {
			progress(s.Frames)
		}
	}
	return nil
}
