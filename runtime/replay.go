package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// Replaying a capture runs each frame through the compiled programs with
// BPF_PROG_TEST_RUN (repeat 1), once per hook that has rules, and prints the
// events as `run` does, plus the frame number and the capture time.
//
// Test runs do not take every frame (TestRunLimits). Nothing is skipped or
// cut silently; a frame goes, per hook:
//
//   - shorter than MinFrame (14 bytes, not even an Ethernet header): skipped,
//     for every hook, with a reason;
//   - tc hooks, up to TCMaxFrame (3,712 bytes), unless the frame is an IPv4
//     or IPv6 frame shorter than the network header the tc test run insists
//     on (TCMinIPv4, TCMinIPv6), or longer on the wire than a tc test run's
//     context carries (TCMaxWireLen): the hook's tc program;
//   - tc hooks, other frames: an XDP build of the same rules (compiled once,
//     on the first such frame). That is faithful in a test run: both program
//     types get the same bytes with VLAN tags inline, and frame.len is the
//     length on the wire in both (compiler.Options.TestRun). The header
//     parser reads only the XDP program's linear part, so the frame must
//     also pass the next condition (L7 fields are read with
//     bpf_xdp_load_bytes, fragments included);
//   - XDP, and tc through XDP: up to XDPMaxFrame (73,152 bytes) with every
//     header the rules decode inside the XDPLinear (3,520) bytes the program
//     sees directly (reference.Packet.HeadersEnd): run; otherwise skipped
//     with the reason.
//
// Skips are reported one by one (a line on stderr) and counted by reason in
// the summary. The decision depends only on the frame and the limits, so a
// replay through the reference evaluator (--no-kernel) skips the same frames
// and prints the same lines.

// Skip says why a frame was not replayed for a hook.
type Skip struct {
	Frame  int
	Len    int
	Hook   rules.Hook
	Reason string // one of a few fixed texts, for counting
	Detail string // about this frame; may be empty
}

func (s Skip) String() string {
	msg := fmt.Sprintf("frame %d (%d bytes) not replayed at %s: %s", s.Frame, s.Len, s.Hook, s.Reason)
	if s.Detail != "" {
		msg += " (" + s.Detail + ")"
	}
	return msg
}

// FrameReport says how one frame went through the hooks.
type FrameReport struct {
	Skips  []Skip
	ViaXDP int       // tc hooks whose rules ran through their XDP build
	Dir    Direction // the hooks it went to: those of its direction, or all
}

// ReplayOptions tune a replay.
type ReplayOptions struct {
	// NoKernel evaluates the rules with the reference evaluator instead of
	// running the programs in the kernel.
	NoKernel bool
	// Hooks restricts the replay to these hooks; nil means every hook that
	// has rules.
	Hooks []rules.Hook
	// Direction, when set, is the direction of every frame (hdrlog test
	// --direction), whatever the capture says.
	Direction Direction
	// Local gives a direction to the frames the capture gives none
	// (--local-mac, --local-addr).
	Local Local
	// Workers is how many workers Replay spreads the frames over; 0: one
	// per CPU (GOMAXPROCS). Rules that keep state between frames take one.
	Workers int
	// TCAsTC runs the rules of tc hooks through the tc programs even where
	// their XDP build means the same and costs less (see SameAtXDP); for
	// tests that compare the two.
	TCAsTC bool
	// OneFrame replays one frame per test run, never many (see
	// replay_batch.go): the path the batched one is held to.
	OneFrame bool
}

// Replayer runs frames through a rule set's programs, or through the
// reference evaluator.
type Replayer struct {
	rs     *rules.RuleSet
	out    *compiler.Output
	hooks  []rules.Hook
	limits TestRunLimits
	dir    Direction // forced direction, or DirUnknown
	local  Local

	loaded  *compiler.Output // what coll was loaded from (a test-run build)
	workers int              // ReplayOptions.Workers
	forks   []*Replayer      // other workers' replayers (replay_parallel.go)
	runners map[*Collection]*testRunner

	coll   *Collection                // nil without the kernel
	viaXDP map[rules.Hook]*Collection // XDP builds of tc rules, for long frames
	// xdpOut are the XDP builds compiled (workers load their own copy).
	xdpOut map[rules.Hook]*compiler.Output
	// sameXDP are the tc hooks whose rules run through their XDP build
	// whenever an XDP test run takes the frame whole, because they mean
	// the same there (compiler.Output.SameAtXDP) and an XDP test run costs
	// less than a tc one.
	sameXDP map[rules.Hook]bool
	// batched are the hooks whose frames run many per test run, through
	// batch builds (replay_batch.go): batchOut compiled once, batchRun
	// loaded per worker; pre holds what they gave for the frames of the
	// replay batch being replayed.
	batched  map[rules.Hook]bool
	batchOut map[rules.Hook]*compiler.Output
	batchRun map[rules.Hook]*batchRunner
	pre      preRun
	ref      *reference.Evaluator // nil with the kernel
	dec      *reference.Decoder   // this worker's, reused frame after frame
	refEv    Event                // the reference's event being written
	refSlots [][]Value            // per rule: reference values wrapped with their schema slots
	// counter gathers the counting rules' counts (nil: no rule counts),
	// cut into intervals by the frames' capture times (count.go).
	counter *Counter
	// The frame being replayed, for the replay clock of sampling and
	// limits (compiler.ReplayClockMap), and the reference's buckets and
	// accounting.
	frameNum  uint64
	frameTime time.Time
	thinner   *reference.Thinner
	refAcct   [][compiler.AcctSlots]uint64
}

// NewReplayer prepares a replay of rule set rs, compiled as out. With the
// kernel it loads the programs and measures the test-run limits.
func NewReplayer(rs *rules.RuleSet, out *compiler.Output, opts ReplayOptions) (*Replayer, error) {
	if err := RefuseSyscallRules(rs); err != nil {
		return nil, err
	}
	r := &Replayer{rs: rs, out: out, viaXDP: map[rules.Hook]*Collection{}, dir: opts.Direction, local: opts.Local, workers: opts.Workers,
		counter: NewCounter(out.Schema), thinner: reference.NewThinner(), refAcct: make([][compiler.AcctSlots]uint64, len(rs.Rules))}
	for _, h := range rules.Hooks {
		if len(rs.ForHook(h)) == 0 {
			continue
		}
		if opts.Hooks != nil && !hasHook(opts.Hooks, h) {
			continue
		}
		r.hooks = append(r.hooks, h)
	}
	for _, h := range opts.Hooks {
		if len(rs.ForHook(h)) == 0 {
			return nil, fmt.Errorf("no rule runs at hook %s", h)
		}
	}
	if opts.NoKernel {
		ev, err := reference.New(rs)
		if err != nil {
			return nil, err
		}
		r.ref, r.limits = ev, DefaultTestRunLimits
		return r, nil
	}
	limits, err := ProbeTestRunLimits()
	if err != nil {
		return nil, err
	}
	r.limits = limits
	if !out.Options.TestRun {
		// frame.len must be the capture's length on the wire (a snap
		// length cuts frames): a build for test runs reads it from the
		// test run's context. Same rules, same schema.
		opts := out.Options
		opts.TestRun = true
		if out, err = compiler.Compile(rs, opts); err != nil {
			return nil, err
		}
	}
	r.loaded = out
	if r.coll, err = Load(out, LoadOptions{}); err != nil {
		return nil, err
	}
	if !opts.TCAsTC {
		for _, h := range r.hooks {
			if same, _ := out.SameAtXDP(h); !same {
				continue
			}
			// A build that fails (the verifier refusing it at XDP,
			// say) leaves the tc program to run: same events.
			if _, err := r.xdpBuild(h); err == nil {
				if r.sameXDP == nil {
					r.sameXDP = map[rules.Hook]bool{}
				}
				r.sameXDP[h] = true
			}
		}
	}
	if !opts.OneFrame {
		r.setUpBatches()
	}
	return r, nil
}

// ThroughXDP returns the tc hooks whose rules the replay runs through their
// XDP build, where an XDP test run takes the frame whole.
func (r *Replayer) ThroughXDP() []rules.Hook {
	var hs []rules.Hook
	for _, h := range r.hooks {
		if r.sameXDP[h] {
			hs = append(hs, h)
		}
	}
	return hs
}

func hasHook(hs []rules.Hook, h rules.Hook) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// Hooks returns the hooks replayed, in the order frames go through them.
func (r *Replayer) Hooks() []rules.Hook { return r.hooks }

// Limits returns the test-run limits the replay goes by.
func (r *Replayer) Limits() TestRunLimits { return r.limits }

// Close releases the loaded programs.
func (r *Replayer) Close() error {
	if r.coll != nil {
		r.coll.Close()
	}
	for _, c := range r.viaXDP {
		c.Close()
	}
	for _, br := range r.batchRun {
		br.c.Close()
	}
	for _, f := range r.forks {
		f.Close()
	}
	return nil
}

// tcTakes reports whether a tc test run accepts the frame.
func (l TestRunLimits) tcTakes(frame []byte) bool {
	n := len(frame)
	if n < l.MinFrame || n > l.TCMaxFrame {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		return n >= l.TCMinIPv4
	case 0x86dd:
		return n >= l.TCMinIPv6
	}
	return true
}

// route is how a frame goes through hook h: the hook's own program, the XDP
// build of its rules (viaXDP), or not at all (skip.Reason set).
func (r *Replayer) route(h rules.Hook, frame []byte, wireLen int, pkt func() *reference.Packet) (viaXDP bool, skip Skip) {
	n, l := len(frame), r.limits
	switch {
	case n < l.MinFrame:
		skip.Reason = fmt.Sprintf("shorter than the %d bytes a test run takes", l.MinFrame)
	case h != rules.HookXDP && l.tcTakes(frame) && wireLen <= TCMaxWireLen:
	case n > l.XDPMaxFrame:
		skip.Reason = fmt.Sprintf("longer than the %d bytes an XDP test run takes", l.XDPMaxFrame)
	case n > l.XDPLinear && pkt().HeadersEnd > l.XDPLinear:
		skip.Reason = fmt.Sprintf("headers reach past the %d bytes an XDP test run holds linear", l.XDPLinear)
		skip.Detail = fmt.Sprintf("they end at byte %d", pkt().HeadersEnd)
	default:
		viaXDP = h != rules.HookXDP
	}
	return viaXDP, skip
}

// Frame replays one whole frame through every hook: fn gets each event, in
// hook order (rules.Hooks) and rule order. The events are valid only during
// the call.
func (r *Replayer) Frame(number int, frame []byte, fn func(*Event) error) (FrameReport, error) {
	return r.ReplayFrame(&CapturedFrame{Number: number, Data: frame, OrigLen: len(frame)}, fn)
}

// ReplayFrame is Frame on a frame of a capture, which may hold only the
// first bytes of the frame (OrigLen is its length on the wire, frame.len).
// The frame goes to the hooks of its direction (Direction), or to every
// hook when its direction is not known.
func (r *Replayer) ReplayFrame(fr *CapturedFrame, fn func(*Event) error) (FrameReport, error) {
	number, frame, wireLen := fr.Number, fr.Data, max(fr.OrigLen, len(fr.Data))
	var decoded *reference.Packet
	pkt := func() *reference.Packet {
		if decoded == nil {
			if r.dec == nil {
				r.dec = new(reference.Decoder)
			}
			decoded = r.dec.DecodeWire(frame, wireLen)
		}
		return decoded
	}
	rep := FrameReport{Dir: r.Direction(fr)}
	r.frameNum, r.frameTime = uint64(number), fr.Time
	for k, h := range r.hooks {
		if !hookSees(h, rep.Dir) {
			continue
		}
		viaXDP, skip := r.route(h, frame, wireLen, pkt)
		if skip.Reason != "" {
			skip.Frame, skip.Len, skip.Hook = number, len(frame), h
			rep.Skips = append(rep.Skips, skip)
			continue
		}
		if viaXDP {
			rep.ViaXDP++
		}
		var err error
		if r.ref != nil {
			r.ref.SetTime(frameNanos(fr))
			err = r.evalReference(h, pkt(), fn)
		} else if ran, perr := r.ranAhead(k, h, fn); ran {
			// Replayed in a batch, with other frames.
			err = perr
		} else {
			// The XDP build of rules that mean the same there, for
			// frames an XDP test run holds linear (as a tc one does).
			same := r.sameXDP[h] && len(frame) <= r.limits.XDPLinear
			err = r.runKernel(h, viaXDP || same, frame, wireLen, frameNanos(fr), fn)
		}
		if err != nil {
			return rep, fmt.Errorf("frame %d, %s: %w", number, h, err)
		}
	}
	return rep, nil
}

// Direction is the direction a frame is replayed in: the one the options
// force, else the capture's, else the one its addresses give (Local).
func (r *Replayer) Direction(fr *CapturedFrame) Direction {
	switch {
	case r.dir != DirUnknown:
		return r.dir
	case fr.Dir != DirUnknown:
		return fr.Dir
	}
	return r.local.Direction(fr.Data)
}

// frameNanos is a frame's time as the programs take it in a test run:
// nanoseconds since the epoch, 0 for a frame without a time.
func frameNanos(fr *CapturedFrame) uint64 {
	if fr.Time.IsZero() || fr.Time.UnixNano() < 0 {
		return 0
	}
	return uint64(fr.Time.UnixNano())
}

func (r *Replayer) runKernel(h rules.Hook, viaXDP bool, frame []byte, wireLen int, tstamp uint64, fn func(*Event) error) error {
	c, runAs := r.coll, h
	if viaXDP {
		var err error
		if c, err = r.xdpBuild(h); err != nil {
			return err
		}
		runAs = rules.HookXDP
	}
	t := r.runners[c]
	if t == nil {
		if r.runners == nil {
			r.runners = map[*Collection]*testRunner{}
		}
		t = newTestRunner(c)
		r.runners[c] = t
	}
	if c.clock != nil {
		var v [compiler.ReplayClockSize]byte
		binary.NativeEndian.PutUint64(v[0:], uint64(r.frameTime.UnixNano()))
		binary.NativeEndian.PutUint64(v[8:], r.frameNum)
		if err := c.clock.Put(uint32(0), v[:]); err != nil {
			return fmt.Errorf("set the replay clock: %w", err)
		}
	}
	if err := t.run(runAs, frame, wireLen, tstamp); err != nil {
		return fmt.Errorf("test run of %d bytes: %w", len(frame), err)
	}
	return c.Drain(fn)
}

// xdpBuild returns the rule set compiled with the rules of hook h at the XDP
// hook (and the XDP rules, if any, at h, so that every rule keeps its index
// and its event layout).
func (r *Replayer) xdpBuild(h rules.Hook) (*Collection, error) {
	if c, ok := r.viaXDP[h]; ok {
		return c, nil
	}
	out := r.xdpOut[h]
	if out == nil {
		var err error
		if out, err = r.compileAtXDP(h, false); err != nil {
			return nil, err
		}
		if r.xdpOut == nil {
			r.xdpOut = map[rules.Hook]*compiler.Output{}
		}
		r.xdpOut[h] = out
	}
	c, err := Load(out, LoadOptions{TxOf: r.coll})
	if err != nil {
		return nil, fmt.Errorf("load the %s rules built for XDP (long frames): %w", h, err)
	}
	r.viaXDP[h] = c
	return c, nil
}

// compileAtXDP compiles the rule set with the rules of hook h at the XDP
// hook (see xdpBuild), as a batch build if batch is set.
func (r *Replayer) compileAtXDP(h rules.Hook, batch bool) (*compiler.Output, error) {
	swapped := &rules.RuleSet{SecretQuery: r.rs.SecretQuery}
	for _, rule := range r.rs.Rules {
		cp := *rule
		switch rule.Hook {
		case h:
			cp.Hook = rules.HookXDP
		case rules.HookXDP:
			cp.Hook = h
		}
		swapped.Rules = append(swapped.Rules, &cp)
	}
	opts := r.out.Options
	opts.TestRun, opts.Batch = true, batch
	out, err := compiler.Compile(swapped, opts)
	if err != nil {
		return nil, fmt.Errorf("compile the %s rules for XDP (long frames): %w", h, err)
	}
	return out, nil
}

// evalReference turns the reference's events into runtime events with the
// compiler's schema slots, so that they print exactly like the kernel's.
func (r *Replayer) evalReference(h rules.Hook, p *reference.Packet, fn func(*Event) error) error {
	ev := &r.refEv
	for _, re := range r.ref.EvalPacket(h, p) {
		rs := &r.out.Schema.Rules[re.Rule]
		if len(rs.Fields) != len(re.Values) {
			return fmt.Errorf("reference logged %d fields for rule %s, the schema has %d", len(re.Values), rs.Name, len(rs.Fields))
		}
		*ev = Event{Rule: re.Rule, FrameLen: uint32(p.Len), Values: ev.Values[:0]}
		for i, v := range re.Values {
			if r := rs.Fields[i].Render; r == compiler.RenderText || r == compiler.RenderBytes {
				// Cut and redacted as the kernel does (text.go).
				ev.Values = append(ev.Values, TextValue(&rs.Fields[i], v.Present, v.Bytes))
				continue
			}
			ev.Values = append(ev.Values, Value{Slot: &rs.Fields[i], Present: v.Present, U: v.U, Bytes: v.Bytes})
		}
		if rule := r.rs.Rules[re.Rule]; rule.Thinned() {
			switch r.thinner.Decide(rule, p, r.frameNum, uint64(r.frameTime.UnixNano())) {
			case reference.SampledOut:
				r.refAcct[re.Rule][compiler.AcctSampledOut]++
				continue
			case reference.OverLimit:
				r.refAcct[re.Rule][compiler.AcctOverLimit]++
				continue
			}
		}
		if rs.Count != nil {
			var octets uint64
			if rs.Count.SumLen {
				octets = uint64(p.Len)
			}
			r.counter.Add(ev, 1, octets)
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// addTx puts the transactions' counters into the summary (one worker and
// one collection replay rules that keep transactions).
func (r *Replayer) addTx(s *ReplaySummary) error {
	if r.coll == nil {
		return nil
	}
	tx, err := r.coll.TxStats()
	s.Tx = tx
	if err != nil {
		return err
	}
	s.L7Limits, err = r.l7Limits()
	return err
}

// l7Limits sums the L7 limit counters of every program the replay loaded:
// its collection, the XDP and batch builds (each has its own l7_limits
// map) and the other workers'.
func (r *Replayer) l7Limits() ([]L7LimitCount, error) {
	var total []L7LimitCount
	colls := append([]*Collection{r.coll}, r.extraColls()...)
	for _, f := range r.forks {
		colls = append(colls, f.coll)
		colls = append(colls, f.extraColls()...)
	}
	for _, c := range colls {
		st, err := c.L7Limits()
		if err != nil {
			return nil, err
		}
		if st != nil {
			total = sumLimits(total, st)
		}
	}
	return total, nil
}

// LostCounts returns the events the kernel could not queue, per rule, over
// every program the replay loaded (nil without the kernel).
func (r *Replayer) LostCounts() ([]uint64, error) {
	if r.coll == nil {
		return nil, nil
	}
	total, err := r.coll.LostCounts()
	if err != nil {
		return nil, err
	}
	for _, c := range r.extraColls() {
		lost, err := c.LostCounts()
		if err != nil {
			return nil, err
		}
		for i, n := range lost {
			total[i] += n
		}
	}
	for _, f := range r.forks {
		lost, err := f.LostCounts()
		if err != nil {
			return nil, err
		}
		for i, n := range lost {
			total[i] += n
		}
	}
	return total, nil
}

// countsAt ends the counting intervals that end at or before the capture
// time t (the kernel's counts taken first): their records go to fn.
func (r *Replayer) countsAt(t time.Time, fn func(*CountRecord) error) error {
	if r.counter == nil || !r.counter.Due(t) {
		return nil
	}
	if err := r.takeCounts(); err != nil {
		return err
	}
	return r.counter.Advance(t, fn)
}

// countsEnd writes the last interval of every counting rule.
func (r *Replayer) countsEnd(fn func(*CountRecord) error) error {
	if r.counter == nil {
		return nil
	}
	if err := r.takeCounts(); err != nil {
		return err
	}
	return r.counter.Finish(time.Time{}, fn)
}

// takeCounts moves the kernel's counts, of every program the replay
// loaded, to the counter.
func (r *Replayer) takeCounts() error {
	if r.coll == nil {
		return nil
	}
	colls := append([]*Collection{r.coll}, r.extraColls()...)
	for _, c := range colls {
		if err := c.TakeCounts(r.counter); err != nil {
			return err
		}
	}
	return nil
}

// extraColls returns the collections this replayer loaded besides coll:
// the XDP builds and the batch builds, in hook order.
func (r *Replayer) extraColls() []*Collection {
	var cs []*Collection
	for _, h := range rules.Hooks {
		if c, ok := r.viaXDP[h]; ok {
			cs = append(cs, c)
		}
	}
	for _, h := range rules.Hooks {
		if br, ok := r.batchRun[h]; ok {
			cs = append(cs, br.c)
		}
	}
	return cs
}

// ReplaySummary counts what a replay did.
type ReplaySummary struct {
	Frames  int      // frames read from the capture
	Events  []int    // per rule index
	Counts  []int    // per rule index: count records written (counting rules)
	Counted []uint64 // per rule index: packets counted (counting rules)
	// Acct holds the accounting counters per rule index (compiler.Acct*):
	// the kernel's, or the reference evaluator's.
	Acct [][compiler.AcctSlots]uint64
	// Volume is set per rule index for rules that count, sample or limit.
	Volume   []bool
	Skipped  map[string]int // "hook: reason" -> frames
	ViaXDP   int            // runs of tc rules through their XDP build (long frames)
	CutShort int            // frames the capture holds fewer bytes of than were on the wire
	// Direction counts the frames by the direction they were replayed in
	// (DirUnknown: no known direction, through every hook).
	Direction [3]int
	Cooked    int       // frames rebuilt as Ethernet from a Linux cooked capture
	Lost      []uint64  // per rule index; nil without the kernel
	Tx        []TxStats // the transactions' counters at the end; nil without the kernel or transactions
	// L7Limits counts the messages the L7 decoders gave up on, per limit;
	// nil without the kernel or L7 rules.
	L7Limits  []L7LimitCount
	NoKernel  bool
	Limits    TestRunLimits
	RuleNames []string // per rule index
	RuleHooks []string // per rule index
}

func newReplaySummary(r *Replayer) *ReplaySummary {
	s := &ReplaySummary{
		Events: make([]int, len(r.rs.Rules)), Counts: make([]int, len(r.rs.Rules)), Skipped: map[string]int{},
		NoKernel: r.ref != nil, Limits: r.limits,
	}
	for _, rule := range r.rs.Rules {
		s.RuleNames = append(s.RuleNames, rule.Name)
		s.RuleHooks = append(s.RuleHooks, rule.Hook.String())
		s.Volume = append(s.Volume, r.out.Schema.Rules[rule.Index].Volume())
	}
	s.Counted = make([]uint64, len(r.rs.Rules))
	return s
}

// addFrame counts a replayed frame (its events are counted as they are
// written) and reports its skips.
func (s *ReplaySummary) addFrame(fr *CapturedFrame, rep FrameReport, skipped func(Skip)) {
	s.Frames++
	if fr.OrigLen > len(fr.Data) {
		s.CutShort++
	}
	s.ViaXDP += rep.ViaXDP
	s.Direction[rep.Dir]++
	if fr.Cooked {
		s.Cooked++
	}
	for _, sk := range rep.Skips {
		s.Skipped[sk.Hook.String()+": "+sk.Reason]++
		if skipped != nil {
			skipped(sk)
		}
	}
}

// ReplaySerial is Replay one frame at a time on one goroutine: the plain
// path Replay is held to (its output is the same, byte for byte).
func ReplaySerial(r *Replayer, c *Capture, w io.Writer, skipped func(Skip), progress func(frames int)) (*ReplaySummary, error) {
	s := newReplaySummary(r)
	var buf []byte
	writeCount := func(rec *CountRecord) error {
		s.Counts[rec.Rule]++
		buf = AppendCountJSON(buf[:0], rec)
		_, err := w.Write(buf)
		return err
	}
	for {
		fr, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, err
		}
		meta := Meta{Time: fr.Time, Iface: fr.Iface, Frame: fr.Number}
		if err := r.countsAt(fr.Time, writeCount); err != nil {
			return s, err
		}
		rep, err := r.ReplayFrame(fr, func(ev *Event) error {
			s.Events[ev.Rule]++
			buf = AppendJSON(buf[:0], r.out.Schema, ev, meta)
			buf = append(buf, '\n')
			_, err := w.Write(buf)
			return err
		})
		if err != nil {
			s.Frames++
			return s, err
		}
		s.addFrame(fr, rep, skipped)
		if progress != nil {
			progress(s.Frames)
		}
	}
	if err := r.countsEnd(writeCount); err != nil {
		return s, err
	}
	return s, s.finish(r)
}

// finish reads the kernel's counters into the summary.
func (s *ReplaySummary) finish(r *Replayer) error {
	lost, err := r.LostCounts()
	if err != nil {
		return err
	}
	s.Lost = lost
	if r.counter != nil {
		for rule, n := range r.counter.TakeTotals() {
			s.Counted[rule] += n
		}
	}
	s.Acct = make([][compiler.AcctSlots]uint64, len(r.rs.Rules))
	if r.coll == nil {
		copy(s.Acct, r.refAcct)
		for _, f := range r.forks {
			for i := range f.refAcct {
				for j := range f.refAcct[i] {
					s.Acct[i][j] += f.refAcct[i][j]
				}
			}
		}
	} else {
		colls := append([]*Collection{r.coll}, r.extraColls()...)
		for _, f := range r.forks {
			colls = append(colls, f.coll)
			colls = append(colls, f.extraColls()...)
		}
		for _, c := range colls {
			acct, err := c.AcctCounts()
			if err != nil {
				return err
			}
			for i := range acct {
				for j := range acct[i] {
					s.Acct[i][j] += acct[i][j]
				}
			}
		}
	}
	return r.addTx(s)
}

// ReplayHandlers receive what ReplayEvents finds. Event is required; the
// others may be nil.
type ReplayHandlers struct {
	// Event gets each event with its line's metadata and the frame that
	// produced it (valid only during the call). ErrReplayDone from it ends
	// the replay without error.
	Event    func(ev *Event, m Meta, fr *CapturedFrame) error
	Skipped  func(Skip)
	Progress func(frames int)
	// Count gets each count record of the counting rules; nil writes them
	// nowhere.
	Count func(rec *CountRecord) error
}

// ErrReplayDone, returned by an event handler, ends a replay early (hdrlog
// test -c N).
var ErrReplayDone = errors.New("replay ended by its event handler")

// ReplayEvents is ReplaySerial handing each event, with its frame, to a
// handler rather than writing it: for the outputs that need the frame
// (hdrlog test -w) or the decoded event (other formats, OTLP), or stop
// early (-c).
func ReplayEvents(r *Replayer, c *Capture, h ReplayHandlers) (*ReplaySummary, error) {
	s := newReplaySummary(r)
	writeCount := func(rec *CountRecord) error {
		s.Counts[rec.Rule]++
		if h.Count == nil {
			return nil
		}
		return h.Count(rec)
	}
	// With hooks that replay many frames per test run, the frames are
	// read ahead in batches, run through those hooks' batch builds, then
	// replayed one by one as below (replay_batch.go).
	var b *replayBatch
	if len(r.batched) > 0 {
		b = &replayBatch{}
		defer func() { r.pre.on = false }()
	}
	next := 0 // in b
	var fr0 CapturedFrame
	for {
		var fr *CapturedFrame
		if b == nil {
			var err error
			if fr, err = c.Next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return s, err
			}
		} else {
			if next == len(b.frames) {
				b.reset()
				next = 0
				var err error
				for len(b.frames) < batchFrames && len(b.data) < maxBatchPayload {
					if err = c.read(&fr0, true); err != nil {
						break
					}
					b.add(&fr0)
				}
				b.fixData()
				if err != nil && !errors.Is(err, io.EOF) && len(b.frames) == 0 {
					return s, err
				}
				if len(b.frames) == 0 {
					break
				}
				if aerr := r.runAhead(b.frames); aerr != nil {
					s.Frames++
					return s, aerr
				}
				if err != nil && !errors.Is(err, io.EOF) {
					// Replay what was read, then report the error.
					b.err = err
				}
			}
			fr = &b.frames[next]
			r.pre.frame = next
			next++
		}
		meta := Meta{Time: fr.Time, Iface: fr.Iface, Frame: fr.Number, Schema: r.out.Schema}
		if err := r.countsAt(fr.Time, writeCount); err != nil {
			return s, err
		}
		rep, err := r.ReplayFrame(fr, func(ev *Event) error {
			s.Events[ev.Rule]++
			return h.Event(ev, meta, fr)
		})
		done := errors.Is(err, ErrReplayDone)
		if err != nil && !done {
			s.Frames++
			return s, err
		}
		s.addFrame(fr, rep, h.Skipped)
		if h.Progress != nil {
			h.Progress(s.Frames)
		}
		if done {
			break
		}
		if b != nil && next == len(b.frames) && b.err != nil {
			return s, b.err
		}
	}
	if err := r.countsEnd(writeCount); err != nil {
		return s, err
	}
	return s, s.finish(r)
}
