package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
)

// Counting rules (`count by … every …`) count in the kernel (see
// compiler/volume.go); the runtime takes the counts out at the end of each
// interval and writes one record per key:
//
//	{"time":"…","start":"…","rule":"conn_count","ip.src":"10.0.0.1","tcp.dstport":22,"count":12,"bytes":840}
//
// time is the end of the interval, start its beginning. Intervals are
// aligned to multiples of their length (10s intervals start at :00, :10,
// …): the wall clock's in a live run, the capture's timestamps in a
// replay, so that a replay through the kernel and through the reference
// evaluator cut the same intervals and give the same counts.

// CountRecord is one key's count over one interval.
type CountRecord struct {
	Start, End time.Time
	Rule       int
	Name       string
	Values     []Value // the key fields, in the rule's order
	Count      uint64
	Bytes      uint64
	SumLen     bool // the rule sums frame.len: Bytes is written
}

// CountFormat is a LineFormat that writes count records its own way (the
// text format); others write them as JSON (AppendCountJSON).
type CountFormat interface {
	AppendCount(buf []byte, r *CountRecord) []byte
}

// AppendCount appends a count record in format f, or as JSON.
func AppendCount(buf []byte, f LineFormat, r *CountRecord) []byte {
	if cf, ok := f.(CountFormat); ok {
		return cf.AppendCount(buf, r)
	}
	return AppendCountJSON(buf, r)
}

// AppendCountJSON appends a count record as a JSON line.
func AppendCountJSON(buf []byte, r *CountRecord) []byte {
	buf = append(buf, `{"time":"`...)
	buf = AppendTime(buf, r.End)
	buf = append(buf, `","start":"`...)
	buf = AppendTime(buf, r.Start)
	buf = append(buf, `","rule":`...)
	buf = appendString(buf, r.Name)
	for i := range r.Values {
		buf = append(buf, ',')
		buf = appendString(buf, r.Values[i].Slot.Name)
		buf = append(buf, ':')
		buf = AppendValue(buf, &r.Values[i])
	}
	buf = append(buf, `,"count":`...)
	buf = strconv.AppendUint(buf, r.Count, 10)
	if r.SumLen {
		buf = append(buf, `,"bytes":`...)
		buf = strconv.AppendUint(buf, r.Bytes, 10)
	}
	return append(buf, "}\n"...)
}

// countEntry is one key of a rule's table.
type countEntry struct {
	values       []Value // owned copies
	count, bytes uint64
}

// countTable holds one rule's counts of the current interval.
type countTable struct {
	every      time.Duration
	start, end time.Time // the current interval; zero before the first
	keys       map[string]*countEntry
}

// Counter gathers the counts of a rule set's counting rules and cuts them
// into intervals.
type Counter struct {
	schema *compiler.Schema
	tables map[int]*countTable // by rule index
	keyBuf []byte
	taken  map[int]uint64 // packets added per rule since TakeTotals
	// OnInterval, when not nil, is called as a rule's interval ends,
	// before its records (there may be none).
	OnInterval func(rule int)
}

// NewCounter returns a counter for the counting rules of s, or nil when no
// rule counts.
func NewCounter(s *compiler.Schema) *Counter {
	c := &Counter{schema: s, tables: map[int]*countTable{}, taken: map[int]uint64{}}
	for _, r := range s.Rules {
		if r.Count != nil {
			c.tables[r.Index] = &countTable{every: time.Duration(r.Count.EveryNS), keys: map[string]*countEntry{}}
		}
	}
	if len(c.tables) == 0 {
		return nil
	}
	return c
}

// Counts reports whether rule counts rather than logs.
func (c *Counter) Counts(rule int) bool {
	_, ok := c.tables[rule]
	return ok
}

// Add adds packets (and their bytes) to a key: ev's values.
func (c *Counter) Add(ev *Event, packets, octets uint64) {
	t := c.tables[ev.Rule]
	if t == nil {
		return
	}
	k := c.keyBuf[:0]
	for i := range ev.Values {
		k = AppendValue(k, &ev.Values[i])
		k = append(k, 0)
	}
	c.keyBuf = k
	e := t.keys[string(k)]
	if e == nil {
		e = &countEntry{values: make([]Value, len(ev.Values))}
		for i, v := range ev.Values {
			v.Bytes = bytes.Clone(v.Bytes)
			e.values[i] = v
		}
		t.keys[string(k)] = e
	}
	e.count += packets
	e.bytes += octets
	c.taken[ev.Rule] += packets
}

// TakeTotals returns the packets added per rule since the last call,
// written or not (top N writes some keys only).
func (c *Counter) TakeTotals() map[int]uint64 {
	t := c.taken
	c.taken = map[int]uint64{}
	return t
}

// Due reports whether some rule's interval ends at or before now (or has
// not begun: the first call starts them).
func (c *Counter) Due(now time.Time) bool {
	for _, t := range c.tables {
		if t.end.IsZero() || !now.Before(t.end) {
			return true
		}
	}
	return false
}

// Advance starts the intervals that have not begun and ends those that
// end at or before now: their records go to fn, in rule order, each
// rule's keys by count (highest first) then by key, at most Top of them.
// Take the kernel's counts first.
func (c *Counter) Advance(now time.Time, fn func(*CountRecord) error) error {
	for _, rule := range c.rules() {
		t := c.tables[rule]
		switch {
		case t.end.IsZero():
			t.start = now.Truncate(t.every)
			t.end = t.start.Add(t.every)
		case !now.Before(t.end):
			if err := c.write(rule, t, t.end, fn); err != nil {
				return err
			}
			t.start = now.Truncate(t.every)
			t.end = t.start.Add(t.every)
		}
	}
	return nil
}

// Finish writes every rule's current interval, ended at end (zero: at
// its nominal end).
func (c *Counter) Finish(end time.Time, fn func(*CountRecord) error) error {
	for _, rule := range c.rules() {
		t := c.tables[rule]
		e := end
		if e.IsZero() || e.After(t.end) {
			e = t.end
		}
		if err := c.write(rule, t, e, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Counter) rules() []int {
	var out []int
	for r := range c.tables {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func (c *Counter) write(rule int, t *countTable, end time.Time, fn func(*CountRecord) error) error {
	if c.OnInterval != nil {
		c.OnInterval(rule)
	}
	type kv struct {
		key string
		e   *countEntry
	}
	var all []kv
	for k, e := range t.keys {
		all = append(all, kv{k, e})
	}
	slices.SortFunc(all, func(a, b kv) int {
		switch {
		case a.e.count != b.e.count:
			return cmpDesc(a.e.count, b.e.count)
		case a.e.bytes != b.e.bytes:
			return cmpDesc(a.e.bytes, b.e.bytes)
		}
		return bytes.Compare([]byte(a.key), []byte(b.key))
	})
	rs := &c.schema.Rules[rule]
	if top := rs.Count.Top; top > 0 && len(all) > top {
		all = all[:top]
	}
	for _, x := range all {
		rec := &CountRecord{Start: t.start, End: end, Rule: rule, Name: rs.Name, Values: x.e.values,
			Count: x.e.count, Bytes: x.e.bytes, SumLen: rs.Count.SumLen}
		if err := fn(rec); err != nil {
			return err
		}
	}
	clear(t.keys)
	return nil
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

// aggValue is a count map's value on one CPU.
type aggValue struct {
	Packets, Bytes uint64
}

// aggMaps are a collection's two count maps; cur is the one the programs
// count into.
type aggMaps struct {
	slot *ebpf.Map // compiler.AggCurrentMap
	maps [2]*ebpf.Map
	cur  int
}

func newAggMaps(out *compiler.Output, slot *ebpf.Map) (*aggMaps, error) {
	a := &aggMaps{slot: slot}
	for i := range a.maps {
		m, err := ebpf.NewMap(out.AggMapSpec())
		if err != nil {
			a.close()
			return nil, fmt.Errorf("create the count map: %w", err)
		}
		a.maps[i] = m
	}
	if err := slot.Put(uint32(0), a.maps[0]); err != nil {
		a.close()
		return nil, fmt.Errorf("install the count map: %w", err)
	}
	return a, nil
}

func (a *aggMaps) close() {
	for _, m := range a.maps {
		if m != nil {
			m.Close()
		}
	}
}

// TakeCounts swaps the collection's count maps and hands every key of the
// one the programs counted into until now to c, then empties it. The
// update of the map slot returns only once no program still runs with the
// old map, so no count is lost or counted twice.
func (c *Collection) TakeCounts(ctr *Counter) error {
	a := c.agg
	if a == nil || ctr == nil {
		return nil
	}
	old := a.maps[a.cur]
	if err := a.slot.Put(uint32(0), a.maps[1-a.cur]); err != nil {
		return fmt.Errorf("swap the count maps: %w", err)
	}
	a.cur = 1 - a.cur
	ks := c.Output.Schema.AggKeySize
	raw := make([]byte, compiler.HeaderSize+ks-compiler.AggKeyHeader)
	var ev Event
	key := make([]byte, ks)
	var per []aggValue
	var keys [][]byte
	it := old.Iterate()
	for it.Next(&key, &per) {
		keys = append(keys, bytes.Clone(key))
		bo := compiler.ByteOrder
		clear(raw)
		bo.PutUint32(raw[compiler.EvRule:], bo.Uint32(key[compiler.AggKeyRule:]))
		bo.PutUint64(raw[compiler.EvPresence:], bo.Uint64(key[compiler.AggKeyPresence:]))
		copy(raw[compiler.HeaderSize:], key[compiler.AggKeyHeader:])
		if err := c.Decoder.Decode(raw, &ev); err != nil {
			return fmt.Errorf("count key: %w", err)
		}
		var sum aggValue
		for _, v := range per {
			sum.Packets += v.Packets
			sum.Bytes += v.Bytes
		}
		ctr.Add(&ev, sum.Packets, sum.Bytes)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the count map: %w", err)
	}
	for _, k := range keys {
		if err := old.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("empty the count map: %w", err)
		}
	}
	return nil
}

// checkCounts ends the counting intervals that are due (all of them when
// the stream ends) and writes their records.
func (s *streamer) checkCounts(now time.Time, final bool) error {
	wrote := false
	for _, g := range s.generationsInOrder() {
		if g.counter == nil {
			continue
		}
		switch {
		case final:
			if err := s.finishCounts(g, now); err != nil {
				return err
			}
		case g.counter.Due(now):
			if err := s.takeCounts(g); err != nil {
				return err
			}
			if err := g.counter.Advance(now, s.countWriter(g)); err != nil {
				return err
			}
		default:
			continue
		}
		wrote = true
	}
	if s.opts.Live != nil && len(s.liveCounts) > 0 {
		for name, recs := range s.liveCounts {
			s.opts.Live.setCounts(name, recs)
		}
		clear(s.liveCounts)
	}
	if wrote {
		return s.flush()
	}
	return nil
}

// finishCounts writes a rule set's last counts, its intervals cut at now.
func (s *streamer) finishCounts(g *generation, now time.Time) error {
	if g.counter == nil {
		return nil
	}
	if err := s.takeCounts(g); err != nil {
		return err
	}
	return g.counter.Finish(now, s.countWriter(g))
}

// takeCounts moves a rule set's counts from the kernel to its counter.
func (s *streamer) takeCounts(g *generation) error {
	if err := g.c.TakeCounts(g.counter); err != nil {
		return err
	}
	for rule, n := range g.counter.TakeTotals() {
		s.stats.Rules[g.stat[rule]].Counted += n
	}
	return nil
}

func (s *streamer) countWriter(g *generation) func(*CountRecord) error {
	return func(rec *CountRecord) error {
		s.out = AppendCount(s.out, g.format, rec)
		if s.opts.Live != nil {
			s.liveCounts[rec.Name] = append(s.liveCounts[rec.Name], liveCount(rec, g.c.Output.Schema.Rules[rec.Rule].Hook))
		}
		for _, sink := range s.opts.Sinks {
			if cs, ok := sink.(CountSink); ok {
				if err := cs.Count(rec, Meta{Time: rec.End, Schema: g.c.Output.Schema}); err != nil {
					return err
				}
			}
		}
		s.stats.Rules[g.stat[rec.Rule]].Records++
		if len(s.out) >= outBufferSize {
			return s.flush()
		}
		return nil
	}
}

// LiveCount is one key's record of a counting rule's last interval, for
// the metrics: Key is the key fields present, name=value, comma-separated.
type LiveCount struct {
	Rule, Hook, Key string
	Packets, Bytes  uint64
	SumLen          bool
}

func liveCount(r *CountRecord, hook string) LiveCount {
	var key []byte
	for i := range r.Values {
		v := &r.Values[i]
		if !v.Present {
			continue
		}
		if len(key) > 0 {
			key = append(key, ',')
		}
		key = append(key, v.Slot.Name...)
		key = append(key, '=')
		start := len(key)
		key = AppendValue(key, v)
		if n := len(key) - start; n >= 2 && key[start] == '"' && v.Slot.Render != compiler.RenderText {
			key = append(key[:start], key[start+1:len(key)-1]...)
		}
	}
	return LiveCount{Rule: r.Name, Hook: hook, Key: string(key), Packets: r.Count, Bytes: r.Bytes, SumLen: r.SumLen}
}

// onInterval forgets a rule's live counts as its interval ends: a rule
// whose last interval had no key has none.
func (s *streamer) onInterval(g *generation) func(rule int) {
	return func(rule int) {
		if s.opts.Live == nil {
			return
		}
		name := g.c.Output.Schema.Rules[rule].Name
		if _, ok := s.liveCounts[name]; !ok {
			s.liveCounts[name] = []LiveCount{}
		}
	}
}
