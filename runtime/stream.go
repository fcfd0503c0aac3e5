package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/hdrlog/hdrlog/compiler"
	"golang.org/x/sys/unix"
)

// The programs submit events without waking the reader until WakeupBytes
// wait in the ring (compiler.Options), so the reader polls: it waits for a
// wake-up or the next tick of the poll interval, whichever comes first, then
// reads everything there is. The tick bounds the latency of a quiet stream;
// the wake-up threshold bounds the ring's fill level under load.

// Poll intervals. An idle stream still wakes once per interval, and a wake-up
// costs tens of microseconds of CPU on a virtual machine: under a
// millisecond that is several percent of a core for nothing.
const (
	DefaultPollInterval = 10 * time.Millisecond
	MinPollInterval     = time.Millisecond
)

// Defaults of the slower periodic tasks of a stream.
const (
	DefaultLostInterval  = time.Second
	DefaultClockInterval = 10 * time.Second
)

// StreamOptions tune Stream.
type StreamOptions struct {
	// PollInterval is the longest an event waits in a quiet ring before it
	// is written. Default DefaultPollInterval; under MinPollInterval is an
	// error.
	PollInterval time.Duration
	// LostInterval is how often the lost-event counters are read. Default
	// DefaultLostInterval.
	LostInterval time.Duration
	// ClockInterval is how often the offset between CLOCK_BOOTTIME (event
	// times) and the wall clock is measured again, to follow clock
	// adjustments. Default DefaultClockInterval.
	ClockInterval time.Duration
	// Interfaces names interfaces by index (Attachments.Interfaces); other
	// indexes are looked up in the reader's network namespace.
	Interfaces map[uint32]string
	// IfName names the interfaces of another network namespace, or of
	// interfaces that come and go (Watcher.IfName); it is asked before
	// Interfaces and the reader's namespace.
	IfName func(ifindex uint32) (string, bool)
	// Records are lines to write into the stream besides events
	// (interfaces attached and gone, reloads).
	Records *Records
	// Swaps hands the stream the rule sets of reloads (see Swaps).
	Swaps *Swaps
	// Notices receives one line per lost-event report and decode error, for
	// people watching the terminal; nil means os.Stderr.
	Notices io.Writer
	// Format makes the line format of a rule set's schema (each reload has
	// its own); nil means JSONLines.
	Format func(*compiler.Schema) LineFormat
	// MaxEvents, when not 0, ends the stream once it has written that many
	// events (the rest of the ring is left unread).
	MaxEvents uint64
	// Live, when not nil, receives the stream's counts, for readers in
	// other goroutines (metrics).
	Live *LiveStats
	// Sinks receive every event written, besides w (an OTLP export).
	Sinks []EventSink
	// MoreLost, when not nil, is asked at every lost-event check for the
	// events lost after the stream (by a sink), to report them alike.
	MoreLost func(now time.Time) []LostReport
	// StopProducers, when not nil, is called once when writing to the
	// output fails, before the stream counts what is left in the ring: it
	// must detach the programs, so that every event is either written or
	// counted as not written (RuleStats.Unwritten).
	StopProducers func() error
}

// EventSink receives events as the stream writes them; the event is valid
// only during the call, m.Schema names its rule.
type EventSink interface {
	Event(ev *Event, m Meta) error
}

// CountSink is an EventSink that also takes counting rules' records (an
// OTLP export); the record is valid only during the call.
type CountSink interface {
	Count(r *CountRecord, m Meta) error
}

// LiveStats are a stream's counts as of its last write, safe to read from
// any goroutine.
type LiveStats struct {
	mu     sync.Mutex
	rules  []RuleStats
	tx     []TxStats
	limits []L7LimitCount
	counts map[string][]LiveCount // counting rules' last intervals, by rule
	// RingBytes is the ring buffer's size; RingBacklog the bytes that
	// waited in it when the reader last woke up (before reading them).
	RingBytes   atomic.Uint64
	RingBacklog atomic.Uint64
	// LagNanos is how late the reader was for the last event it wrote:
	// the wall clock at the write minus the event's time.
	LagNanos atomic.Int64
}

// Rules returns the events and lost events per rule, as of the stream's
// last write.
func (l *LiveStats) Rules() []RuleStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RuleStats(nil), l.rules...)
}

// Counts returns the records of each counting rule's last complete
// interval.
func (l *LiveStats) Counts() []LiveCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LiveCount
	for _, name := range slices.Sorted(maps.Keys(l.counts)) {
		out = append(out, l.counts[name]...)
	}
	return out
}

func (l *LiveStats) setCounts(rule string, recs []LiveCount) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string][]LiveCount{}
	}
	l.counts[rule] = append([]LiveCount(nil), recs...)
}

// Tx returns the transactions' counters as of the stream's last reading.
func (l *LiveStats) Tx() []TxStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]TxStats(nil), l.tx...)
}

// L7Limits returns how many messages the L7 decoders gave up on, per
// protocol and limit, as of the stream's last reading.
func (l *LiveStats) L7Limits() []L7LimitCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]L7LimitCount(nil), l.limits...)
}

func (l *LiveStats) updateLimits(st []L7LimitCount) {
	l.mu.Lock()
	l.limits = append(l.limits[:0], st...)
	l.mu.Unlock()
}

func (l *LiveStats) updateTx(tx []TxStats) {
	l.mu.Lock()
	l.tx = append(l.tx[:0], tx...)
	l.mu.Unlock()
}

func (l *LiveStats) update(rules []RuleStats) {
	l.mu.Lock()
	l.rules = append(l.rules[:0], rules...)
	l.mu.Unlock()
}

// RuleStats counts what one rule produced during a stream.
type RuleStats struct {
	Name   string
	Hook   string
	Events uint64 // events written
	Lost   uint64 // events the kernel could not reserve (ring buffer full), since the collection was loaded
	// Unwritten counts the events read from the ring, or left in it, that
	// were not written because writing to the output failed.
	Unwritten uint64
	// Counting rules: packets counted, records written, and packets whose
	// new key found the count map full (not counted).
	Counted  uint64
	Records  uint64
	KeysFull uint64
	// Rules that sample or limit: matches not logged by choice.
	SampledOut uint64
	OverLimit  uint64
	// Volume is set for a rule that counts, samples or limits.
	Volume bool
}

// Matched is every packet the rule matched: logged, lost, counted, not
// counted for a full map, sampled out or over the limit.
func (r *RuleStats) Matched() uint64 {
	return r.Events + r.Lost + r.Unwritten + r.Counted + r.KeysFull + r.SampledOut + r.OverLimit
}

// Stats is what a stream did.
type Stats struct {
	Rules        []RuleStats // indexed by rule index
	DecodeErrors uint64      // records that did not decode (and were not written)
	// OutputErr is the error that ended writing to the output (nil when
	// none did); LeftInRing the events of RuleStats.Unwritten that were
	// still in the ring buffer then.
	OutputErr  error
	LeftInRing uint64
	// Tx is what became of the requests the transactions stored, as last
	// read (nil when the rules keep none).
	Tx []TxStats
	// L7Limits counts the messages the L7 decoders gave up on, per limit
	// (nil when the rules decode no L7 protocol).
	L7Limits []L7LimitCount
}

// TotalEvents is the number of events written.
func (s *Stats) TotalEvents() uint64 {
	var n uint64
	for _, r := range s.Rules {
		n += r.Events
	}
	return n
}

// TotalUnwritten is the number of events not written because the output
// failed.
func (s *Stats) TotalUnwritten() uint64 {
	var n uint64
	for _, r := range s.Rules {
		n += r.Unwritten
	}
	return n
}

// TotalLost is the number of events lost.
func (s *Stats) TotalLost() uint64 {
	var n uint64
	for _, r := range s.Rules {
		n += r.Lost
	}
	return n
}

// ringReader returns the collection's ring-buffer reader, creating it on
// first use (Drain and Stream share it: a ring has one consumer position).
func (c *Collection) ringReader() (*ringbuf.Reader, error) {
	if c.reader == nil {
		rd, err := ringbuf.NewReader(c.Events)
		if err != nil {
			return nil, fmt.Errorf("open ring buffer: %w", err)
		}
		c.reader = rd
	}
	return c.reader, nil
}

// Stream writes every event of the collection to w as a JSON line until ctx
// is cancelled; then it drains what is left in the ring and returns. Writes
// go through a buffer flushed after each poll, so a line reaches w at most
// one poll interval after the event. Whenever the lost-event counters grow,
// Stream writes a line saying so to w, e.g.
//
//	{"time":"…","lost":{"new_tcp":12},"total_lost":40}
//
// ("lost" holds the growth since the previous report, "total_lost" the
// total since the collection was loaded) and a line to opts.Notices. The
// returned Stats are valid even with an error.
//
// To miss nothing at the end, detach the programs before cancelling ctx.
func (c *Collection) Stream(ctx context.Context, w io.Writer, opts StreamOptions) (Stats, error) {
	s, err := newStreamer(c, w, opts)
	if err != nil {
		return Stats{}, err
	}
	ring, err := newRingConsumer(c.Events.FD(), int(c.Events.MaxEntries()))
	if err != nil {
		return s.stats, err
	}
	defer ring.close()
	waiter, err := newRingWaiter(c.Events.FD(), s.opts.PollInterval)
	if err != nil {
		return s.stats, err
	}
	defer waiter.close()
	s.waiter = waiter
	if s.opts.Live != nil {
		s.opts.Live.RingBytes.Store(uint64(c.Events.MaxEntries()))
		s.opts.Live.update(s.stats.Rules)
	}
	// Cancelling interrupts the wait at once.
	stop := context.AfterFunc(ctx, waiter.interrupt)
	defer stop()
	defer s.opts.Swaps.end()
	s.watch = newWriteWatch(s.opts.Notices, s.opts.LostInterval)
	defer s.watch.close()
	err = s.run(ctx, ring)
	if s.stats.OutputErr != nil {
		s.countLeft(ring)
	}
	return s.stats, err
}

// countLeft, once writing to the output has failed, stops the programs
// and counts every event still in the ring as not written, so that the
// stream's counts account for every event: written, lost, or not written.
func (s *streamer) countLeft(ring *ringConsumer) {
	if s.opts.StopProducers != nil {
		if err := s.opts.StopProducers(); err != nil {
			fmt.Fprintf(s.opts.Notices, "hdrlog: detach after the output failed: %v\n", err)
		}
	}
	if s.full {
		return // -c N: the rest of the ring is left unread by request
	}
	for try := 0; try < 100; try++ {
		if _, err := ring.readBatch(s.handle); err != nil {
			break
		}
		if ring.backlog() == 0 {
			break
		}
		time.Sleep(time.Millisecond) // a record still being written
	}
	if err := s.checkLost(time.Now()); err != nil {
		fmt.Fprintf(s.opts.Notices, "hdrlog: read the lost-event counters: %v\n", err)
	}
}

type streamer struct {
	opts StreamOptions
	// liveCounts are the records of the counting intervals ended since
	// the last publication to opts.Live, by rule.
	liveCounts map[string][]LiveCount
	w          io.Writer // the output, raw where possible (directOutput)
	out        []byte    // lines not yet written to w
	stats      Stats
	// The rule sets whose events may be in the ring: the current one, and
	// older ones until they are retired (generations.go).
	gen  *generation
	gens map[uint32]*generation
	rows map[ruleKey]int // rule -> index in stats.Rules

	ev      Event
	handle  func([]byte) error // s.event, bound once
	line    []byte
	ifnames map[uint32]string
	// written counts the events written, for MaxEvents; full is set once
	// it is reached.
	written uint64
	full    bool
	// pend holds, for each event line in out, its statistics row and the
	// end of its line: an event counts as written once its line is.
	pend []pendingEvent
	// watch reports losses while a write is blocked (nil: not watched).
	watch *writeWatch
	// The last interface looked up: streams mostly see one or two.
	lastIfindex uint32
	lastIfname  string
	clockOff    int64 // wall-clock ns minus CLOCK_BOOTTIME ns
	waiter      *ringWaiter
	tx          txSeen     // transaction counters as last reported (txstream.go)
	limits      limitsSeen // L7 limit counters as last reported (l7limits.go)
}

func newStreamer(c *Collection, w io.Writer, opts StreamOptions) (*streamer, error) {
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.PollInterval < MinPollInterval {
		return nil, fmt.Errorf("poll interval %v is below %v: the reader would spin on the CPU waking up", opts.PollInterval, MinPollInterval)
	}
	if opts.LostInterval <= 0 {
		opts.LostInterval = DefaultLostInterval
	}
	if opts.ClockInterval <= 0 {
		opts.ClockInterval = DefaultClockInterval
	}
	if opts.Notices == nil {
		opts.Notices = os.Stderr
	}
	s := &streamer{
		opts:    opts,
		w:       directOutput(w),
		out:     make([]byte, 0, outBufferSize+4<<10),
		ifnames: map[uint32]string{},
	}
	s.handle = s.event
	for i, n := range opts.Interfaces {
		s.ifnames[i] = n
	}
	s.addGeneration(c)
	return s, nil
}

func (s *streamer) run(ctx context.Context, ring *ringConsumer) error {
	now := time.Now()
	s.clockOff = bootToWall()
	nextLost, nextClock := now.Add(s.opts.LostInterval), now.Add(s.opts.ClockInterval)
	for {
		// After cancellation one more pass reads whatever is left
		// without waiting.
		final := ctx.Err() != nil
		if !final {
			if err := s.waiter.wait(); err != nil {
				return fmt.Errorf("wait for events: %w", err)
			}
		}
		s.out = s.opts.Records.appendTo(s.out, s.recordFormat())
		s.applyAdopted()
		if s.opts.Live != nil {
			s.opts.Live.RingBacklog.Store(ring.backlog())
		}
		_, err := ring.readBatch(s.handle)
		if errors.Is(err, errStreamFull) {
			// -c N: the events asked for are written.
			final, err = true, nil
		}
		for try := 0; final && !s.full && err == nil && ring.backlog() > 0 && try < 100; try++ {
			// A program still writing its last record (the batch
			// stops at a record in progress): give it a moment.
			time.Sleep(time.Millisecond)
			_, err = ring.readBatch(s.handle)
		}
		if ferr := s.flush(); err == nil && ferr != nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		if s.opts.Live != nil {
			s.opts.Live.update(s.stats.Rules)
		}
		now := time.Now()
		if err := s.applyRetired(now); err != nil {
			return err
		}
		if final || !now.Before(nextLost) {
			if err := s.checkLost(now); err != nil {
				return err
			}
			if err := s.checkTx(now, final); err != nil {
				return err
			}
			if err := s.checkLimits(now); err != nil {
				return err
			}
			if s.opts.Live != nil {
				s.opts.Live.update(s.stats.Rules)
			}
			nextLost = now.Add(s.opts.LostInterval)
		}
		if err := s.checkCounts(now, final); err != nil {
			return err
		}
		if final {
			return nil
		}
		if !now.Before(nextClock) {
			s.clockOff = bootToWall()
			nextClock = now.Add(s.opts.ClockInterval)
		}
	}
}

// errStreamFull ends a batch once MaxEvents are written.
var errStreamFull = errors.New("the stream wrote the events it was asked for")

// event decodes one ring-buffer record and writes it as a line.
func (s *streamer) event(raw []byte) error {
	if s.full {
		return errStreamFull
	}
	g := s.gen
	if n := eventGeneration(raw); n != g.num {
		if g = s.generationOf(n); g == nil {
			s.stats.DecodeErrors++
			if s.stats.DecodeErrors <= 3 {
				fmt.Fprintf(s.opts.Notices, "hdrlog: event not written: it belongs to rule set %d, which the stream does not have (retired, or never handed over)\n", n)
			}
			return nil
		}
	}
	if err := g.c.Decoder.Decode(raw, &s.ev); err != nil {
		s.stats.DecodeErrors++
		if s.stats.DecodeErrors <= 3 {
			fmt.Fprintf(s.opts.Notices, "hdrlog: event not written: %v\n", err)
		}
		return nil
	}
	row := g.stat[s.ev.Rule]
	if s.stats.OutputErr != nil {
		// The output failed: what is left in the ring is counted.
		s.stats.Rules[row].Unwritten++
		s.stats.LeftInRing++
		return nil
	}
	m := Meta{Time: time.Unix(0, int64(s.ev.BootNS)+s.clockOff), Iface: s.ifname(s.ev.Ifindex), Schema: g.c.Output.Schema}
	s.out = g.format.AppendEvent(s.out, &s.ev, m)
	s.pend = append(s.pend, pendingEvent{row: row, end: len(s.out)})
	for _, sink := range s.opts.Sinks {
		if err := sink.Event(&s.ev, m); err != nil {
			return err
		}
	}
	if s.opts.Live != nil {
		s.opts.Live.LagNanos.Store(time.Now().UnixNano() - m.Time.UnixNano())
	}
	if s.written++; s.opts.MaxEvents != 0 && s.written >= s.opts.MaxEvents {
		s.full = true
		if err := s.flush(); err != nil {
			return err
		}
		return errStreamFull
	}
	if len(s.out) >= outBufferSize {
		return s.flush()
	}
	return nil
}

// outBufferSize is how many bytes of lines the stream gathers before it
// writes them (it writes after every poll too).
const outBufferSize = 64 << 10

// pendingEvent is an event line not yet written.
type pendingEvent struct {
	row int // in stats.Rules
	end int // the end of its line in streamer.out
}

// flush writes the gathered lines, and counts each event whose line was
// written, and, when the write fails, each one whose line was not. After a
// failure it writes nothing more (the first error is returned once).
func (s *streamer) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	n, err := 0, s.stats.OutputErr
	if err == nil {
		if s.watch != nil {
			s.watch.writing(s.gen.c, s.gen.lostSum)
		}
		n, err = s.w.Write(s.out)
		if s.watch != nil {
			s.watch.wrote()
		}
	}
	for _, p := range s.pend {
		if p.end <= n {
			s.stats.Rules[p.row].Events++
		} else {
			s.stats.Rules[p.row].Unwritten++
		}
	}
	s.pend = s.pend[:0]
	s.out = s.out[:0]
	if err != nil && s.stats.OutputErr == nil {
		s.stats.OutputErr = err
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// recordFormat is the format of the current rule set, for the records.
func (s *streamer) recordFormat() LineFormat {
	if s.gen == nil {
		return nil
	}
	return s.gen.format
}

// checkLost reads the lost-event counters and reports any growth, in the
// stream and on the notices writer.
func (s *streamer) checkLost(now time.Time) error {
	if s.opts.MoreLost != nil {
		for _, rep := range s.opts.MoreLost(now) {
			s.out = s.gen.format.AppendLost(s.out, rep)
			fmt.Fprintf(s.opts.Notices, "hdrlog: %s\n", LostNotice(rep))
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
	if err := s.checkAcct(now); err != nil {
		return err
	}
	// Growth per row of the statistics, over every rule set still loaded.
	grownBy := map[int]uint64{}
	var rows []int
	for _, g := range s.generationsInOrder() {
		counts, err := g.c.LostCounts()
		if err != nil {
			return err
		}
		for i, n := range counts {
			if n <= g.lostSeen[i] {
				continue
			}
			row := g.stat[i]
			if _, ok := grownBy[row]; !ok {
				rows = append(rows, row)
			}
			grownBy[row] += n - g.lostSeen[i]
			g.lostSum += n - g.lostSeen[i]
			g.lostSeen[i] = n
		}
	}
	if len(rows) == 0 {
		return nil
	}
	sort.Ints(rows)
	var grown, total uint64
	for _, row := range rows {
		s.stats.Rules[row].Lost += grownBy[row]
		grown += grownBy[row]
	}
	total = s.stats.TotalLost()
	rep := LostReport{Time: now, Reason: LostRingFull, Total: total}
	var notice []byte
	for _, row := range rows {
		if len(notice) > 0 {
			notice = append(notice, ", "...)
		}
		d := grownBy[row]
		rep.Rules = append(rep.Rules, s.stats.Rules[row].Name)
		rep.Counts = append(rep.Counts, d)
		notice = fmt.Appendf(notice, "%s %d", s.stats.Rules[row].Name, d)
	}
	line := s.gen.format.AppendLost(s.line[:0], rep)
	s.line = line
	s.out = append(s.out, line...)
	if err := s.flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.opts.Notices, "hdrlog: %d events lost, ring buffer full (%s); %d lost in all; a larger --ring-size or a shorter --poll-interval may help\n",
		grown, notice, total)
	return nil
}

// ifname names an interface index, caching the answer.
func (s *streamer) ifname(ifindex uint32) string {
	if ifindex == s.lastIfindex && s.lastIfname != "" {
		return s.lastIfname
	}
	s.lastIfindex, s.lastIfname = ifindex, s.ifnameSlow(ifindex)
	return s.lastIfname
}

func (s *streamer) ifnameSlow(ifindex uint32) string {
	if ifindex == 0 {
		return "" // no interface: a system-call event (iface is null)
	}
	if s.opts.IfName != nil {
		if n, ok := s.opts.IfName(ifindex); ok {
			return n
		}
	}
	if n, ok := s.ifnames[ifindex]; ok {
		return n
	}
	n := "if" + strconv.FormatUint(uint64(ifindex), 10)
	if ifi, err := net.InterfaceByIndex(int(ifindex)); err == nil {
		n = ifi.Name
	}
	s.ifnames[ifindex] = n
	return n
}

// bootToWall measures the wall clock minus CLOCK_BOOTTIME, in nanoseconds:
// the offset that turns an event's bpf_ktime_get_boot_ns into a time of day.
// The boot clock is read between two wall-clock readings and matched with
// their midpoint.
func bootToWall() int64 {
	var ts unix.Timespec
	t0 := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	t1 := time.Now()
	mid := t0.UnixNano() + t1.Sub(t0).Nanoseconds()/2
	return mid - ts.Nano()
}
