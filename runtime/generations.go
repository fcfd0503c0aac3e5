package runtime

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
)

// A reload loads a new rule set whose programs write into the ring buffer
// of the running one (LoadOptions.Events), then swaps each hook's program
// in place (Watcher.Update). Between the swap and the end of the old
// programs' last runs, both rule sets' events are in the ring; each event
// carries its rule set's generation (compiler.Options.Generation), by
// which the stream picks the schema that decodes it. The stream learns of
// the new rule set before its programs are attached (Swaps.Adopt), and
// lets the old one go once its last events are read (Swaps.Retire).

// generation is one rule set as the stream knows it.
type generation struct {
	num      uint32
	c        *Collection
	keys     *jsonKeys
	format   LineFormat
	stat     []int    // rule index -> index in Stats.Rules
	lostSeen []uint64 // lost counters as last read
	lostSum  uint64   // their sum
	acctSeen [][compiler.AcctSlots]uint64
	counter  *Counter // the counting rules' counts; nil: none
}

// Swaps hands rule sets to a running stream.
type Swaps struct {
	mu     sync.Mutex
	adopt  []*Collection
	retire []retireRequest
	ended  chan struct{} // closed when the stream ends
	once   sync.Once
}

type retireRequest struct {
	c    *Collection
	done chan []RuleStats
}

// NewSwaps returns a Swaps for StreamOptions.Swaps.
func NewSwaps() *Swaps { return &Swaps{ended: make(chan struct{})} }

// Adopt tells the stream of a rule set whose programs are about to write
// into its ring. Call it before attaching them: the stream then knows the
// generation of every event it reads.
func (sw *Swaps) Adopt(c *Collection) {
	sw.mu.Lock()
	sw.adopt = append(sw.adopt, c)
	sw.mu.Unlock()
}

// ErrStreamEnded is returned by Retire when the stream has ended.
var ErrStreamEnded = errors.New("the stream has ended")

// Retire waits until the stream has read the last events and lost counts
// of a rule set whose programs are detached or replaced, and returns the
// statistics of its rules (totals since the start of the stream, for rules
// that a later rule set has kept too). The collection may be closed then.
func (sw *Swaps) Retire(c *Collection) ([]RuleStats, error) {
	r := retireRequest{c: c, done: make(chan []RuleStats, 1)}
	sw.mu.Lock()
	sw.retire = append(sw.retire, r)
	sw.mu.Unlock()
	select {
	case st := <-r.done:
		return st, nil
	case <-sw.ended:
		return nil, ErrStreamEnded
	}
}

func (sw *Swaps) end() {
	if sw != nil {
		sw.once.Do(func() { close(sw.ended) })
	}
}

// takeAdopted returns the rule sets handed over since the last call.
func (sw *Swaps) takeAdopted() []*Collection {
	if sw == nil {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	a := sw.adopt
	sw.adopt = nil
	return a
}

func (sw *Swaps) takeRetired() []retireRequest {
	if sw == nil {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	r := sw.retire
	sw.retire = nil
	return r
}

// ruleKey identifies a rule across rule sets: a rule kept by a reload
// (same name, same hook) keeps counting in one row of the statistics.
type ruleKey struct{ name, hook string }

// addGeneration makes c's rule set known to the stream and current.
func (s *streamer) addGeneration(c *Collection) *generation {
	g := &generation{
		num:      c.Output.Options.Generation,
		c:        c,
		keys:     keysOf(c.Output.Schema),
		format:   JSONLines(c.Output.Schema),
		lostSeen: make([]uint64, len(c.Output.Schema.Rules)),
		acctSeen: make([][compiler.AcctSlots]uint64, len(c.Output.Schema.Rules)),
		counter:  NewCounter(c.Output.Schema),
	}
	if s.opts.Format != nil {
		g.format = s.opts.Format(c.Output.Schema)
	}
	if g.counter != nil {
		g.counter.OnInterval = s.onInterval(g)
	}
	if s.liveCounts == nil {
		s.liveCounts = map[string][]LiveCount{}
	}
	if s.rows == nil {
		s.rows = map[ruleKey]int{}
		s.gens = map[uint32]*generation{}
	}
	for _, r := range c.Output.Schema.Rules {
		k := ruleKey{r.Name, r.Hook}
		i, ok := s.rows[k]
		if !ok {
			i = len(s.stats.Rules)
			s.rows[k] = i
			s.stats.Rules = append(s.stats.Rules, RuleStats{Name: r.Name, Hook: r.Hook})
		}
		s.stats.Rules[i].Volume = s.stats.Rules[i].Volume || r.Volume()
		g.stat = append(g.stat, i)
	}
	s.gens[g.num] = g
	s.gen = g
	return g
}

// generationOf finds the rule set of an event that is not of the current
// one: an older one still being read, or one just handed over.
func (s *streamer) generationOf(num uint32) *generation {
	if g, ok := s.gens[num]; ok {
		return g
	}
	s.applyAdopted()
	return s.gens[num]
}

func (s *streamer) applyAdopted() {
	for _, c := range s.opts.Swaps.takeAdopted() {
		s.addGeneration(c)
	}
}

// applyRetired lets go of rule sets whose last events have been read (the
// caller has just read the ring to its end) after a last look at their
// lost counters.
func (s *streamer) applyRetired(now time.Time) error {
	reqs := s.opts.Swaps.takeRetired()
	if len(reqs) == 0 {
		return nil
	}
	if err := s.checkLost(now); err != nil {
		return err
	}
	for _, r := range reqs {
		g, ok := s.gens[r.c.Output.Options.Generation]
		var st []RuleStats
		if ok && g.c == r.c {
			if err := s.finishCounts(g, now); err != nil {
				return err
			}
			if g != s.gen {
				if err := s.retireTx(g.c); err != nil {
					return err
				}
				if err := s.retireLimits(g.c); err != nil {
					return err
				}
			}
			for _, i := range g.stat {
				st = append(st, s.stats.Rules[i])
			}
			delete(s.gens, g.num)
		}
		r.done <- st
	}
	return nil
}

// generationsInOrder lists the loaded rule sets, oldest first.
func (s *streamer) generationsInOrder() []*generation {
	out := make([]*generation, 0, len(s.gens))
	for _, g := range s.gens {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out
}

// eventGeneration reads the generation of a record.
func eventGeneration(raw []byte) uint32 {
	if len(raw) < compiler.HeaderSize {
		return 0
	}
	return compiler.ByteOrder.Uint32(raw[compiler.EvGeneration:])
}
