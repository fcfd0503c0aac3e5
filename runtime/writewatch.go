package runtime

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// writeWatch reports, on the notices writer, events lost while a write of
// the stream is blocked (a stdout nobody reads, a stalled pipe): the stream
// reads the lost-event counters between its writes only, so without it a
// loss notice would wait behind the blocked write. It reads the kernel's
// counters and writes notices only; the stream's own report (the stream's
// line, the statistics) follows as usual once the write returns.
type writeWatch struct {
	since    atomic.Int64 // UnixNano when the write in progress began; 0: none
	c        atomic.Pointer[Collection]
	base     atomic.Uint64 // the current rule set's lost events the stream had reported then
	notices  io.Writer
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
}

func newWriteWatch(notices io.Writer, interval time.Duration) *writeWatch {
	w := &writeWatch{notices: notices, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// writing marks a write of the stream as begun, of rule set c whose lost
// events the stream has reported up to base.
func (w *writeWatch) writing(c *Collection, base uint64) {
	w.c.Store(c)
	w.base.Store(base)
	w.since.Store(time.Now().UnixNano())
}

// wrote marks the write as ended.
func (w *writeWatch) wrote() { w.since.Store(0) }

func (w *writeWatch) close() {
	close(w.stop)
	<-w.done
}

func (w *writeWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var reportedFor int64 // the write last reported on, and its total
	var reported uint64
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		since := w.since.Load()
		if since == 0 || time.Since(time.Unix(0, since)) < w.interval {
			continue
		}
		c := w.c.Load()
		counts, err := c.LostCounts()
		if err != nil {
			continue
		}
		var total uint64
		for _, n := range counts {
			total += n
		}
		base := w.base.Load()
		if reportedFor == since {
			base = max(base, reported)
		}
		if total <= base {
			continue
		}
		fmt.Fprintf(w.notices, "hdrlog: %d events lost, ring buffer full, while writing the events has been blocked for %.1f s (the output is not read); the stream reports them per rule once the write returns\n",
			total-base, time.Since(time.Unix(0, since)).Seconds())
		reportedFor, reported = since, total
	}
}
