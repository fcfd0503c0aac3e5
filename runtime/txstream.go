package runtime

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Transactions in the stream: what became of the requests the programs
// stored (TxStats) is written as a record, like a lost-event report,
// whenever pairs went missing since the last one (requests timed out,
// pushed out of a full queue or evicted, responses without a request), and
// once at the end. Counting the waiting requests walks the flow maps, so
// the stream does it at most every txInterval.

// txInterval is how often the stream reads the transaction counters.
const txInterval = 10 * time.Second

// txSeen is what the stream last reported, by protocol.
type txSeen struct {
	at   time.Time
	last map[string]TxStats
	// retired sums the final counters of the rule sets a reload replaced,
	// by protocol (retireTx); the reported counters add them.
	retired map[string]TxStats
}

// add adds o's counters to s.
func (s *TxStats) add(o TxStats) {
	s.Requests += o.Requests
	s.Paired += o.Paired
	s.Timeouts += o.Timeouts
	s.Overflow += o.Overflow
	s.Waiting += o.Waiting
	s.Evicted += o.Evicted
	s.Orphans += o.Orphans
	s.Interim += o.Interim
}

// retireTx takes a last reading of the transaction counters of a rule set
// a reload replaced: its maps go with it, so the requests still waiting
// there are counted as evicted, and its counters are kept in the totals
// the stream reports from then on.
func (s *streamer) retireTx(c *Collection) error {
	st, err := c.TxStats()
	if err != nil || st == nil {
		return err
	}
	if s.tx.retired == nil {
		s.tx.retired = map[string]TxStats{}
	}
	for _, t := range st {
		t.Evicted += t.Waiting
		t.Waiting = 0
		r := s.tx.retired[t.Proto]
		r.Proto = t.Proto
		r.add(t)
		s.tx.retired[t.Proto] = r
	}
	s.tx.at = time.Time{} // report at the next reading
	return nil
}

// withRetired adds the retired rule sets' counters to the current ones.
func (s *streamer) withRetired(st []TxStats) []TxStats {
	if len(s.tx.retired) == 0 {
		return st
	}
	seen := map[string]bool{}
	for i := range st {
		if r, ok := s.tx.retired[st[i].Proto]; ok {
			st[i].add(r)
		}
		seen[st[i].Proto] = true
	}
	for _, p := range []string{"http", "dns", "tls"} {
		if r, ok := s.tx.retired[p]; ok && !seen[p] {
			st = append(st, r)
		}
	}
	return st
}

// AppendTxRecord appends a transaction record's fields (no braces):
// "transactions":"http","requests":…
func AppendTxRecord(buf []byte, s TxStats) []byte {
	buf = append(buf, `"transactions":`...)
	buf = strconv.AppendQuote(buf, s.Proto)
	for _, f := range []struct {
		name string
		v    uint64
	}{{"requests", s.Requests}, {"paired", s.Paired}, {"timeouts", s.Timeouts}, {"overflow", s.Overflow},
		{"evicted", s.Evicted}, {"waiting", s.Waiting}, {"orphans", s.Orphans}, {"interim", s.Interim}} {
		buf = append(buf, ',', '"')
		buf = append(buf, f.name...)
		buf = append(buf, '"', ':')
		buf = strconv.AppendUint(buf, f.v, 10)
	}
	return buf
}

// TxNotice is the line a transaction record gets on the terminal.
func TxNotice(s TxStats) string {
	return fmt.Sprintf("%s transactions: %d requests, %d paired, %d unpaired (%d timed out, %d pushed out of a full queue, %d evicted from the flow map), %d waiting, %d responses without a request",
		s.Proto, s.Requests, s.Paired, s.Unpaired(), s.Timeouts, s.Overflow, s.Evicted, s.Waiting, s.Orphans)
}

// checkTx reads the current rule set's transaction counters every
// txInterval (and when final), records them in the stats, and writes a
// record when pairs went missing since the last one.
func (s *streamer) checkTx(now time.Time, final bool) error {
	if !final && now.Sub(s.tx.at) < txInterval {
		return nil
	}
	s.tx.at = now
	if !s.gen.c.Output.Options.TestRun {
		// Queries that waited past their timeout: one record each
		// (dnsunanswered.go), before the counters that count them.
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
			if _, err := s.gen.c.SweepDNS(uint64(ts.Nano()), func(u UnansweredDNS) {
				s.out = append(s.out, `{"time":"`...)
				s.out = AppendTime(s.out, now)
				s.out = append(s.out, `",`...)
				s.out = AppendUnansweredDNS(s.out, u)
				s.out = append(s.out, "}\n"...)
			}); err != nil {
				return err
			}
		}
	}
	st, err := s.gen.c.TxStats()
	if err != nil {
		return err
	}
	if st = s.withRetired(st); st == nil {
		return nil
	}
	if s.tx.last == nil {
		s.tx.last = map[string]TxStats{}
	}
	s.stats.Tx = st
	if s.opts.Live != nil {
		s.opts.Live.updateTx(st)
	}
	for _, t := range st {
		prev := s.tx.last[t.Proto]
		if t.Unpaired() == prev.Unpaired() && t.Orphans == prev.Orphans && !(final && t.Requests > 0) {
			continue
		}
		s.tx.last[t.Proto] = t
		s.out = append(s.out, `{"time":"`...)
		s.out = AppendTime(s.out, now)
		s.out = append(s.out, `",`...)
		s.out = AppendTxRecord(s.out, t)
		s.out = append(s.out, "}\n"...)
		fmt.Fprintf(s.opts.Notices, "hdrlog: %s\n", TxNotice(t))
	}
	return s.flush()
}
