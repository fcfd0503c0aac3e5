// Package otlp exports events as OpenTelemetry log records to a collector
// over OTLP (HTTP or gRPC), through a bounded queue whose every drop is
// counted per rule and reason.
package otlp

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/runtime"
)

// Why not the SDK's log pipeline: its BatchProcessor, when its queue is
// full, drops the oldest records and says only how many, not of which rule,
// and it does not retry an export that fails to connect; and an SDK record
// per event (attributes boxed, the record cloned into the processor, then
// turned into protobuf structs and marshalled) cost about 11 us of CPU per
// event, 23 times the JSON line's. hdrlog encodes each event's OTLP
// LogRecord straight into the bytes of the request (encode.go), keeps its
// own bounded queue of those bytes (a drop is counted on the rule of the
// record dropped), batches, and retries a failed export with exponential
// backoff. The SDK still makes the resource (host, service, SDK
// attributes); the request goes out over plain HTTP or gRPC (transport.go).

// Reasons an event is dropped by the export (metrics label reason).
const (
	LostQueueFull    = "export_queue_full" // the queue held QueueSize records
	LostExportFailed = "export_failed"     // the collector did not take them within RetryFor (or by the end)
)

// Options configure an Exporter.
type Options struct {
	// Endpoint is the collector: http://host:4318 (OTLP/HTTP, path
	// /v1/logs unless the URL has one), https://..., or grpc://host:4317
	// (OTLP/gRPC without TLS) and grpcs://host:4317 (with TLS).
	Endpoint string
	// Naming names the attributes of a schema's events (each reload has
	// its schema).
	Naming func(*compiler.Schema) output.Naming
	// Interfaces are the interfaces hdrlog attaches to, a resource
	// attribute (network.interface.name).
	Interfaces []string
	QueueSize  int           // records the queue holds at most; default 65536
	BatchSize  int           // records per export at most; default 2048
	Interval   time.Duration // longest a record waits for its batch to fill; default 1s
	RetryFor   time.Duration // how long a failing export is retried; default 30s
	Timeout    time.Duration // one export attempt; default 10s
}

// Exporter queues events and exports them in batches.
type Exporter struct {
	opts   Options
	sender sender
	queue  *queue

	// head is the request's bytes before the records (encode.go); rec and
	// req are scratch, the record being encoded and the request.
	head    requestHead
	rec     []byte
	req     []byte
	attrs   []output.Attr
	namings map[*compiler.Schema]output.Naming

	// Counts per rule name: by reason (queue full, export failed), and
	// exported; reported is what the stream was told already.
	countsMu sync.Mutex
	lost     [2]map[string]uint64
	exported map[string]uint64
	reported [2]map[string]uint64
	failures atomic.Uint64
	lastErr  atomic.Value // string

	stop   chan struct{}
	worker sync.WaitGroup
}

// New starts an exporter.
func New(o Options) (*Exporter, error) {
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2048
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	snd, err := newSender(o.Endpoint)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "hdrlog"),
		attribute.String("host.name", host),
		attribute.String("network.interface.name", strings.Join(o.Interfaces, ",")),
	))
	if err != nil {
		snd.close()
		return nil, err
	}
	e := &Exporter{opts: o, sender: snd, stop: make(chan struct{}), exported: map[string]uint64{},
		namings: map[*compiler.Schema]output.Naming{}, head: newRequestHead(res, "hdrlog")}
	for i := range e.lost {
		e.lost[i] = map[string]uint64{}
		e.reported[i] = map[string]uint64{}
	}
	e.queue = newQueue(o.QueueSize, o.BatchSize)
	e.worker.Add(1)
	go e.run()
	return e, nil
}

// Event queues one event (runtime.EventSink). It never blocks: a full
// queue drops the event and counts it. Events come from one goroutine.
func (e *Exporter) Event(ev *runtime.Event, m runtime.Meta) error {
	naming, ok := e.namings[m.Schema]
	if !ok {
		naming = e.opts.Naming(m.Schema)
		e.namings[m.Schema] = naming
	}
	rule := m.Schema.Rules[ev.Rule].Name
	e.attrs = naming.Attrs(e.attrs[:0], ev, m)
	e.rec = appendLogRecord(e.rec[:0], m.Time, time.Now(), rule, eventName, e.attrs)
	if !e.queue.push(e.rec, rule) {
		e.countsMu.Lock()
		e.lost[0][rule]++
		e.countsMu.Unlock()
	}
	return nil
}

// Count queues a counting rule's record for one key and interval
// (runtime.CountSink) as a log record named hdrlog.count: its time is the
// interval's end, its body the rule, its attributes output.CountAttrs.
// Like events it never blocks; a record the full queue drops is counted
// lost for its rule.
func (e *Exporter) Count(r *runtime.CountRecord, m runtime.Meta) error {
	hook := ""
	if m.Schema != nil && r.Rule < len(m.Schema.Rules) {
		hook = m.Schema.Rules[r.Rule].Hook
	}
	e.attrs = output.CountAttrs(e.attrs[:0], r, hook)
	e.rec = appendLogRecord(e.rec[:0], r.End, time.Now(), r.Name, countName, e.attrs)
	if !e.queue.push(e.rec, r.Name) {
		e.countsMu.Lock()
		e.lost[0][r.Name]++
		e.countsMu.Unlock()
	}
	return nil
}

// run exports batches: when BatchSize records wait, or Interval after the
// worker saw the first of them; a failed export is retried with backoff
// (the queue fills meanwhile) for RetryFor, then dropped and counted.
func (e *Exporter) run() {
	defer e.worker.Done()
	timer := time.NewTimer(e.opts.Interval)
	timer.Stop()
	var deadline time.Time // when the oldest partial batch goes anyway
	stopping := false
	for {
		b := e.queue.take(stopping || (!deadline.IsZero() && !time.Now().Before(deadline)))
		if b == nil {
			if stopping {
				return
			}
			if deadline.IsZero() && e.queue.length() > 0 {
				deadline = time.Now().Add(e.opts.Interval)
				timer.Reset(e.opts.Interval)
			}
			select {
			case <-e.queue.wake:
			case <-timer.C:
			case <-e.stop:
				stopping = true
			}
			continue
		}
		if e.queue.length() == 0 {
			deadline = time.Time{}
			timer.Stop()
		}
		e.req = e.head.appendRequest(e.req[:0], b.records)
		reason := e.export(e.req, stopping)
		e.countsMu.Lock()
		for _, rule := range b.rules {
			if reason < 0 {
				e.exported[rule]++
			} else {
				e.lost[reason][rule]++
			}
		}
		e.countsMu.Unlock()
		e.queue.recycle(b)
	}
}

// export sends one request, retrying; it returns -1 when the collector took
// it, or the index of the loss reason.
func (e *Exporter) export(req []byte, stopping bool) int {
	deadline := time.Now().Add(e.opts.RetryFor)
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
		err := e.sender.send(ctx, req)
		cancel()
		if err == nil {
			return -1
		}
		e.failures.Add(1)
		e.lastErr.Store(err.Error())
		if time.Now().Add(wait).After(deadline) {
			return 1
		}
		select {
		case <-time.After(wait):
		case <-e.stopSignal(stopping):
			// Ending: one more try at most, then the batch is lost.
			stopping = true
			deadline = time.Now()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (e *Exporter) stopSignal(stopping bool) <-chan struct{} {
	if stopping {
		return nil
	}
	return e.stop
}

// QueueLength is the number of records waiting (metrics.QueueSource).
func (e *Exporter) QueueLength() int { return e.queue.length() }

// LostByReason returns the events dropped, per reason and rule name
// (metrics.LostSource).
func (e *Exporter) LostByReason() map[string]map[string]uint64 {
	e.countsMu.Lock()
	defer e.countsMu.Unlock()
	out := map[string]map[string]uint64{}
	for i, reason := range lostReasons {
		out[reason] = maps.Clone(e.lost[i])
	}
	return out
}

var lostReasons = [2]string{LostQueueFull, LostExportFailed}

// Totals returns the events the collector took and those dropped.
func (e *Exporter) Totals() (exported, dropped uint64) {
	e.countsMu.Lock()
	defer e.countsMu.Unlock()
	for _, n := range e.exported {
		exported += n
	}
	for i := range e.lost {
		for _, n := range e.lost[i] {
			dropped += n
		}
	}
	return exported, dropped
}

// NewLosses returns, per reason, the drops since the previous call: for the
// stream's lost-event lines.
func (e *Exporter) NewLosses(now time.Time) []runtime.LostReport {
	e.countsMu.Lock()
	defer e.countsMu.Unlock()
	var reps []runtime.LostReport
	for i, reason := range lostReasons {
		rep := runtime.LostReport{Time: now, Reason: reason}
		for _, rule := range slices.Sorted(maps.Keys(e.lost[i])) {
			n := e.lost[i][rule]
			if d := n - e.reported[i][rule]; d > 0 {
				rep.Rules = append(rep.Rules, rule)
				rep.Counts = append(rep.Counts, d)
				e.reported[i][rule] = n
			}
			rep.Total += n
		}
		if len(rep.Rules) > 0 {
			reps = append(reps, rep)
		}
	}
	return reps
}

// LastError is the last export error ("" if none).
func (e *Exporter) LastError() string {
	s, _ := e.lastErr.Load().(string)
	return s
}

// Close exports what the queue holds (each failing batch tried once more)
// and shuts the exporter down; what cannot be exported is counted lost.
func (e *Exporter) Close() error {
	close(e.stop)
	e.worker.Wait()
	return e.sender.close()
}
