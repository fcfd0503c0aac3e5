package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/runtime"
)

// writeSummary writes a stream's counts as a small aligned table: events
// written and events lost, per rule, and the totals. Names are aligned
// left, numbers right. When a rule counts, samples or limits, the table
// accounts for every match: counted, not counted (count map full), sampled
// out, over the limit, and their sum with the events and the lost, matched.
func writeSummary(w io.Writer, st runtime.Stats) {
	volume := false
	for _, r := range st.Rules {
		volume = volume || r.Volume
	}
	unwritten := st.TotalUnwritten() > 0
	head := []string{"rule", "hook", "events", "lost"}
	if unwritten {
		head = append(head, "not written")
	}
	if volume {
		head = append(head, "counted", "not counted", "sampled out", "over limit", "matched")
	}
	rows := [][]string{head}
	var total runtime.RuleStats
	cells := func(name, hook string, r *runtime.RuleStats) []string {
		row := []string{name, hook, strconv.FormatUint(r.Events, 10), strconv.FormatUint(r.Lost, 10)}
		if unwritten {
			row = append(row, strconv.FormatUint(r.Unwritten, 10))
		}
		if volume {
			for _, n := range []uint64{r.Counted, r.KeysFull, r.SampledOut, r.OverLimit, r.Matched()} {
				row = append(row, strconv.FormatUint(n, 10))
			}
		}
		return row
	}
	for i := range st.Rules {
		r := &st.Rules[i]
		rows = append(rows, cells(r.Name, r.Hook, r))
		total.Events += r.Events
		total.Lost += r.Lost
		total.Unwritten += r.Unwritten
		total.Counted += r.Counted
		total.KeysFull += r.KeysFull
		total.SampledOut += r.SampledOut
		total.OverLimit += r.OverLimit
	}
	rows = append(rows, cells("total", "", &total))
	width := make([]int, len(head))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	for _, row := range rows {
		line := fmt.Sprintf("%-*s  %-*s", width[0], row[0], width[1], row[1])
		for i := 2; i < len(row); i++ {
			line += fmt.Sprintf("  %*s", width[i], row[i])
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	writeTxSummary(w, st.Tx)
	writeL7LimitSummary(w, st.L7Limits)
	if unwritten {
		fmt.Fprintf(w, "%d events not written: the output failed (%v); %d of them were still in the ring buffer\n",
			st.TotalUnwritten(), st.OutputErr, st.LeftInRing)
	}
	if st.DecodeErrors > 0 {
		fmt.Fprintf(w, "%d events could not be decoded (not written)\n", st.DecodeErrors)
	}
}

// parseSize parses a byte count: 4096, 64K, 8M, 1G (powers of 1024; KiB,
// MiB and GiB are accepted too).
func parseSize(flag, s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "iB")
	t = strings.TrimSuffix(t, "B")
	mult := 1
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1<<10, t[:n-1]
		case 'm', 'M':
			mult, t = 1<<20, t[:n-1]
		case 'g', 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.Atoi(t)
	if err != nil || v <= 0 || v > (1<<31-1)/mult {
		return 0, usagef("%s %q is not a size (write e.g. 4096, 64K, 8M)", flag, s)
	}
	return v * mult, nil
}

// writeL7LimitSummary writes the limits the L7 decoders gave up at, each
// with its count (none: nothing).
func writeL7LimitSummary(w io.Writer, limits []runtime.L7LimitCount) {
	for _, l := range limits {
		if l.Count > 0 {
			fmt.Fprintln(w, runtime.L7LimitNotice(l))
		}
	}
}

// writeTxSummary writes what became of the requests the transactions
// stored: a pair lost is reported as a lost event is.
func writeTxSummary(w io.Writer, tx []runtime.TxStats) {
	for _, t := range tx {
		fmt.Fprintln(w, runtime.TxNotice(t))
	}
}
