package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
)

// Accounting: every match of a rule is logged (an event written), lost (the
// ring buffer was full), counted (a counting rule), not counted (its new key
// found the count map full), sampled out, or over the rule's limit. The
// kernel counts each of these outcomes but the written events, per rule
// (LostMap and AcctMap); the stream reports their growth as it happens and
// the summary their totals, so that for every rule
//
//	matched = logged + lost + counted + not counted + sampled out + over limit
//
// (RuleStats.Matched). Packets a counting rule's top N leaves out of its
// records are counted all the same.

// LostCountMapFull is the reason of packets a counting rule could not count:
// their key was new and the count map full.
const LostCountMapFull = "count_map_full"

// AcctCounts returns the accounting counters of every rule (compiler.Acct*),
// summed over CPUs.
func (c *Collection) AcctCounts() ([][compiler.AcctSlots]uint64, error) {
	n := len(c.Output.Schema.Rules)
	out := make([][compiler.AcctSlots]uint64, n)
	if c.Acct == nil {
		return out, nil
	}
	type perCPU [compiler.AcctSlots]uint64
	if ncpu, err := ebpf.PossibleCPU(); err == nil && n > 0 {
		keys := make([]uint32, n)
		vals := make([]perCPU, n*ncpu)
		var cursor ebpf.MapBatchCursor
		got, err := c.Acct.BatchLookup(&cursor, keys, vals, nil)
		if got == n && (err == nil || errors.Is(err, ebpf.ErrKeyNotExist)) {
			for i := 0; i < n; i++ {
				for _, v := range vals[i*ncpu : (i+1)*ncpu] {
					for j := range v {
						out[keys[i]][j] += v[j]
					}
				}
			}
			return out, nil
		}
	}
	for i := 0; i < n; i++ {
		var per []perCPU
		if err := c.Acct.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read the accounting counters of rule %d: %w", i, err)
		}
		for _, v := range per {
			for j := range v {
				out[i][j] += v[j]
			}
		}
	}
	return out, nil
}

// checkAcct reads the accounting counters, adds their growth to the
// statistics, and reports it: keys not counted like lost events, matches
// sampled out or over a limit in an accounting line, e.g.
//
//	{"time":"…","accounting":{"web":{"matched":1200,"logged":100,"lost":0,"sampled_out":1100,"over_limit":0}}}
//
// (totals since the start of the stream; logged counts the events written
// so far, so matched is exact once the ring is read to its end).
func (s *streamer) checkAcct(now time.Time) error {
	grown := map[int][compiler.AcctSlots]uint64{}
	var rows []int
	for _, g := range s.generationsInOrder() {
		counts, err := g.c.AcctCounts()
		if err != nil {
			return err
		}
		for i, n := range counts {
			row := g.stat[i]
			d := grown[row]
			any := false
			for j := range n {
				if n[j] > g.acctSeen[i][j] {
					d[j] += n[j] - g.acctSeen[i][j]
					any = true
				}
			}
			g.acctSeen[i] = n
			if !any {
				continue
			}
			if _, ok := grown[row]; !ok {
				rows = append(rows, row)
			}
			grown[row] = d
		}
	}
	if len(rows) == 0 {
		return nil
	}
	rep := LostReport{Time: now, Reason: LostCountMapFull}
	var line []byte
	for _, row := range rows {
		st := &s.stats.Rules[row]
		d := grown[row]
		st.SampledOut += d[compiler.AcctSampledOut]
		st.OverLimit += d[compiler.AcctOverLimit]
		st.KeysFull += d[compiler.AcctKeysFull]
		if d[compiler.AcctKeysFull] > 0 {
			rep.Rules = append(rep.Rules, st.Name)
			rep.Counts = append(rep.Counts, d[compiler.AcctKeysFull])
		}
		if d[compiler.AcctSampledOut]+d[compiler.AcctOverLimit] > 0 {
			if line == nil {
				line = append(line, `{"time":"`...)
				line = AppendTime(line, now)
				line = append(line, `","accounting":{`...)
			} else {
				line = append(line, ',')
			}
			line = AppendAccounting(line, st)
		}
	}
	if line != nil {
		s.out = append(s.out, line...)
		s.out = append(s.out, "}}\n"...)
	}
	if len(rep.Rules) > 0 {
		for _, r := range s.stats.Rules {
			rep.Total += r.KeysFull
		}
		s.out = s.gen.format.AppendLost(s.out, rep)
		fmt.Fprintf(s.opts.Notices, "hdrlog: %s; %d in all; a larger --count-keys may help\n", LostNotice(rep), rep.Total)
	}
	return s.flush()
}

// AppendAccounting appends `"rule":{"matched":…,…}` for a rule's totals.
func AppendAccounting(buf []byte, st *RuleStats) []byte {
	buf = strconv.AppendQuote(buf, st.Name)
	buf = append(buf, `:{"matched":`...)
	buf = strconv.AppendUint(buf, st.Matched(), 10)
	for _, kv := range []struct {
		k string
		v uint64
	}{{"logged", st.Events}, {"lost", st.Lost}, {"sampled_out", st.SampledOut}, {"over_limit", st.OverLimit}} {
		buf = append(buf, `,"`...)
		buf = append(buf, kv.k...)
		buf = append(buf, `":`...)
		buf = strconv.AppendUint(buf, kv.v, 10)
	}
	return append(buf, '}')
}
