// Package otlp exports events as OpenTelemetry log records to a collector
// over OTLP (HTTP or gRPC), through a bounded queue whose every drop is
// counted per rule and reason.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/runtime"
)

// Why not the SDK's BatchProcessor: when its queue is full it drops the
// oldest records and says only how many, not of which rule, and it does
// not retry an export that fails to connect. hdrlog keeps its own bounded
// queue (a drop is counted on the rule of the record dropped), batches,
// and retries a failed export with exponential backoff, using the SDK for
// what it does well: the records, the resource, and the OTLP exporters.

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
	opts     Options
	exporter sdklog.Exporter
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
	proc     *queueProcessor

	attrs   []output.Attr
	kvs     []attribute.KeyValue
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
	exp, err := newExporter(o.Endpoint, o.Timeout)
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
		return nil, err
	}
	e := &Exporter{opts: o, exporter: exp, stop: make(chan struct{}), exported: map[string]uint64{},
		namings: map[*compiler.Schema]output.Naming{}}
	for i := range e.lost {
		e.lost[i] = map[string]uint64{}
		e.reported[i] = map[string]uint64{}
	}
	e.proc = &queueProcessor{max: o.QueueSize, wake: make(chan struct{}, 1)}
	// Keys are unique by construction (a rule logs a field once; ECS keeps
	// the first of two fields mapped to one name): the SDK's per-record
	// deduplication would only cost time.
	e.provider = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(e.proc),
		sdklog.WithAttributeCountLimit(-1), sdklog.WithAttributeValueLengthLimit(-1), sdklog.WithAllowKeyDuplication())
	e.logger = e.provider.Logger("hdrlog")
	e.worker.Add(1)
	go e.run()
	return e, nil
}

// newExporter makes the SDK exporter of an endpoint URL. The SDK's own
// retries are off: the worker retries (see above).
func newExporter(endpoint string, timeout time.Duration) (sdklog.Exporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--otlp-endpoint %q: want http://HOST:PORT (OTLP/HTTP) or grpc://HOST:PORT (OTLP/gRPC)", endpoint)
	}
	ctx := context.Background()
	switch u.Scheme {
	case "http", "https":
		opts := []otlploghttp.Option{otlploghttp.WithEndpointURL(endpoint), otlploghttp.WithTimeout(timeout),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false})}
		if u.Path == "" || u.Path == "/" {
			opts = append(opts, otlploghttp.WithURLPath("/v1/logs"))
		}
		return otlploghttp.New(ctx, opts...)
	case "grpc", "grpcs":
		opts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(u.Host), otlploggrpc.WithTimeout(timeout),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false})}
		if u.Scheme == "grpc" {
			opts = append(opts, otlploggrpc.WithInsecure())
		}
		return otlploggrpc.New(ctx, opts...)
	}
	return nil, fmt.Errorf("--otlp-endpoint %q: scheme %q is not http, https, grpc or grpcs", endpoint, u.Scheme)
}

// queueProcessor is the LoggerProvider's processor: it keeps the records
// (with the resource the provider gave them) in a bounded queue.
type queueProcessor struct {
	mu    sync.Mutex
	queue []entry
	max   int
	wake  chan struct{}
	// rule is the rule of the record being emitted (Emit is synchronous);
	// full is set when the queue refused it.
	rule string
	full bool
}

type entry struct {
	rec  sdklog.Record
	rule string
}

func (p *queueProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

func (p *queueProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) >= p.max {
		p.full = true
		return nil
	}
	p.queue = append(p.queue, entry{rec: r.Clone(), rule: p.rule})
	if len(p.queue) == 1 || len(p.queue)%256 == 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (p *queueProcessor) Shutdown(context.Context) error   { return nil }
func (p *queueProcessor) ForceFlush(context.Context) error { return nil }

// take removes up to n records from the head of the queue.
func (p *queueProcessor) take(n int, into []entry) []entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := min(n, len(p.queue))
	into = append(into[:0], p.queue[:k]...)
	rest := copy(p.queue, p.queue[k:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	return into
}

func (p *queueProcessor) length() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// Event queues one event (runtime.EventSink). It never blocks: a full
// queue drops the event and counts it.
func (e *Exporter) Event(ev *runtime.Event, m runtime.Meta) error {
	naming, ok := e.namings[m.Schema]
	if !ok {
		naming = e.opts.Naming(m.Schema)
		e.namings[m.Schema] = naming
	}
	rule := m.Schema.Rules[ev.Rule].Name
	e.attrs = naming.Attrs(e.attrs[:0], ev, m)
	e.kvs = e.kvs[:0]
	for i := range e.attrs {
		a := &e.attrs[i]
		switch a.Kind {
		case output.AttrInt:
			e.kvs = append(e.kvs, attribute.Int64(a.Key, a.I))
		case output.AttrBool:
			e.kvs = append(e.kvs, attribute.Bool(a.Key, a.B))
		default:
			e.kvs = append(e.kvs, attribute.String(a.Key, a.S))
		}
	}
	var r otellog.Record
	r.SetTimestamp(m.Time)
	r.SetObservedTimestamp(time.Now())
	r.SetSeverity(otellog.SeverityInfo)
	r.SetEventName("hdrlog.event")
	r.SetBody(attribute.StringValue(rule))
	r.AddAttributes(e.kvs...)
	e.proc.mu.Lock()
	e.proc.rule, e.proc.full = rule, false
	e.proc.mu.Unlock()
	e.logger.Emit(context.Background(), r)
	e.proc.mu.Lock()
	full := e.proc.full
	e.proc.mu.Unlock()
	if full {
		e.countsMu.Lock()
		e.lost[0][rule]++
		e.countsMu.Unlock()
	}
	return nil
}

// run exports batches: when BatchSize records wait, or Interval after the
// first one; a failed export is retried with backoff (the queue fills
// meanwhile) for RetryFor, then dropped and counted.
func (e *Exporter) run() {
	defer e.worker.Done()
	var batch []entry
	var recs []sdklog.Record
	timer := time.NewTimer(e.opts.Interval)
	stopping := false
	for {
		if !stopping && e.proc.length() < e.opts.BatchSize {
			select {
			case <-e.proc.wake:
				if e.proc.length() < e.opts.BatchSize {
					timer.Reset(e.opts.Interval)
					select {
					case <-timer.C:
					case <-e.stop:
						stopping = true
					case <-e.proc.wake:
					}
				}
			case <-timer.C:
			case <-e.stop:
				stopping = true
			}
		}
		batch = e.proc.take(e.opts.BatchSize, batch)
		if len(batch) == 0 {
			if stopping {
				return
			}
			timer.Reset(e.opts.Interval)
			continue
		}
		recs = recs[:0]
		for i := range batch {
			recs = append(recs, batch[i].rec)
		}
		reason := e.export(recs, stopping)
		e.countsMu.Lock()
		for i := range batch {
			if reason < 0 {
				e.exported[batch[i].rule]++
			} else {
				e.lost[reason][batch[i].rule]++
			}
		}
		e.countsMu.Unlock()
	}
}

// export sends one batch, retrying; it returns -1 when the collector took
// it, or the index of the loss reason.
func (e *Exporter) export(recs []sdklog.Record, stopping bool) int {
	deadline := time.Now().Add(e.opts.RetryFor)
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
		err := e.exporter.Export(ctx, recs)
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
func (e *Exporter) QueueLength() int { return e.proc.length() }

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
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
	defer cancel()
	return errors.Join(e.provider.Shutdown(ctx), e.exporter.Shutdown(ctx))
}
