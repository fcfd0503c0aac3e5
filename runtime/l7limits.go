package runtime

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// L7 decoders that gave up: each limit a decoder met (rules.L7Limits, an
// extension walk at its bound, headers past the window…) is counted by the
// programs in the rule set's l7_limits map; the events of those messages
// carry http.truncated, dns.truncated or tls.truncated. The stream writes a
// record whenever a count grew since the last one (and once at the end),
// the summaries and the metrics show them: a rule passed by padding a
// request is never passed silently.

// L7LimitCount is how many messages the decoder of one protocol gave up on
// at one limit.
type L7LimitCount struct {
	Proto  string `json:"proto"`
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// Doc says what the limit is.
func (l L7LimitCount) Doc() string {
	for _, info := range rules.L7Limits {
		if info.Proto.String() == l.Proto && info.Reason == l.Reason {
			return info.Doc
		}
	}
	return l.Reason
}

// L7Limits reads the limits' counters, summed over CPUs: one entry per
// limit of rules.L7Limits. Nil when the programs decode no L7 protocol.
func (c *Collection) L7Limits() ([]L7LimitCount, error) {
	m, ok := c.coll.Maps[compiler.L7LimitsMap]
	if !ok {
		return nil, nil
	}
	var per [][rules.NumL7Limits]uint64
	if err := m.Lookup(uint32(0), &per); err != nil {
		return nil, fmt.Errorf("read the L7 limit counters: %w", err)
	}
	out := make([]L7LimitCount, rules.NumL7Limits)
	for l, info := range rules.L7Limits {
		out[l] = L7LimitCount{Proto: info.Proto.String(), Reason: info.Reason}
		for _, cpu := range per {
			out[l].Count += cpu[l]
		}
	}
	return out, nil
}

// AppendL7LimitRecord appends a limit record's fields (no braces):
// "l7_limit":"http","reason":"lines","count":3
func AppendL7LimitRecord(buf []byte, l L7LimitCount) []byte {
	buf = append(buf, `"l7_limit":`...)
	buf = strconv.AppendQuote(buf, l.Proto)
	buf = append(buf, `,"reason":`...)
	buf = strconv.AppendQuote(buf, l.Reason)
	buf = append(buf, `,"count":`...)
	return strconv.AppendUint(buf, l.Count, 10)
}

// L7LimitNotice is the line a limit record gets on the terminal.
func L7LimitNotice(l L7LimitCount) string {
	return fmt.Sprintf("%s decoder gave up on %d messages: %s (%s.truncated; fields after the limit are absent)", l.Proto, l.Count, l.Doc(), l.Proto)
}

// sumLimits adds b's counts to a's, limit by limit (either may be nil).
func sumLimits(a, b []L7LimitCount) []L7LimitCount {
	if a == nil {
		return append([]L7LimitCount(nil), b...)
	}
	out := append([]L7LimitCount(nil), a...)
	for i := range out {
		if i < len(b) {
			out[i].Count += b[i].Count
		}
	}
	return out
}

// limitsSeen is what the stream last reported.
type limitsSeen struct {
	last []L7LimitCount
	// retired sums the final counts of the rule sets a reload replaced.
	retired []L7LimitCount
}

// retireLimits keeps a replaced rule set's counts in the totals.
func (s *streamer) retireLimits(c *Collection) error {
	st, err := c.L7Limits()
	if err != nil || st == nil {
		return err
	}
	s.limits.retired = sumLimits(s.limits.retired, st)
	return nil
}

// checkLimits reads the current rule set's limit counters (with the
// retired ones), records them in the stats, and writes a record for each
// limit whose count grew since the last one.
func (s *streamer) checkLimits(now time.Time) error {
	st, err := s.gen.c.L7Limits()
	if err != nil {
		return err
	}
	if st == nil && s.limits.retired == nil {
		return nil
	}
	st = sumLimits(st, s.limits.retired)
	s.stats.L7Limits = st
	if s.opts.Live != nil {
		s.opts.Live.updateLimits(st)
	}
	for i, l := range st {
		if i < len(s.limits.last) && s.limits.last[i].Count == l.Count || l.Count == 0 {
			continue
		}
		s.out = append(s.out, `{"time":"`...)
		s.out = AppendTime(s.out, now)
		s.out = append(s.out, `",`...)
		s.out = AppendL7LimitRecord(s.out, l)
		s.out = append(s.out, "}\n"...)
		fmt.Fprintf(s.opts.Notices, "hdrlog: %s\n", L7LimitNotice(l))
	}
	s.limits.last = st
	return s.flush()
}
