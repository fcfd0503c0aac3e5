package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/metrics"
	"github.com/hdrlog/hdrlog/otlp"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/runtime"
)

// otlpOptions are the flags of the OTLP log export.
type otlpOptions struct {
	endpoint  string
	queueSize int
	batchSize int
	interval  time.Duration
	retryFor  time.Duration
}

func (o *otlpOptions) define(fs *pflag.FlagSet) {
	fs.StringVar(&o.endpoint, "otlp-endpoint", "", "export events as OTLP log records to this collector: http://HOST:4318 (OTLP/HTTP) or grpc://HOST:4317 (OTLP/gRPC)")
	fs.IntVar(&o.queueSize, "otlp-queue-size", 65536, "events the export queue holds; past it, events are dropped and counted")
	fs.IntVar(&o.batchSize, "otlp-batch-size", 2048, "events per export request at most")
	fs.DurationVar(&o.interval, "otlp-batch-interval", time.Second, "longest an event waits for its batch to fill")
	fs.DurationVar(&o.retryFor, "otlp-retry-for", 30*time.Second, "how long a failing export is retried (with backoff) before its events are dropped and counted")
}

func (o *otlpOptions) check() error {
	if o.endpoint == "" {
		return nil
	}
	if o.queueSize <= 0 || o.batchSize <= 0 || o.interval <= 0 || o.retryFor <= 0 {
		return usagef("--otlp-queue-size, --otlp-batch-size, --otlp-batch-interval and --otlp-retry-for must be positive")
	}
	return nil
}

// start starts the export (nil without --otlp-endpoint).
func (o *otlpOptions) start(ev *eventOptions, ifaces []string) (*otlp.Exporter, error) {
	if o.endpoint == "" {
		return nil, nil
	}
	return otlp.New(otlp.Options{
		Endpoint: o.endpoint, Naming: output.Namings[ev.schema], Interfaces: ifaces,
		QueueSize: o.queueSize, BatchSize: o.batchSize, Interval: o.interval, RetryFor: o.retryFor,
	})
}

// exportHooks wire an exporter into a stream and the metrics.
func exportHooks(exp *otlp.Exporter, opts *runtime.StreamOptions, extra *metrics.Sources) {
	if exp == nil {
		return
	}
	opts.Sinks = append(opts.Sinks, exp)
	opts.MoreLost = exp.NewLosses
	extra.Lost = append(extra.Lost, exp)
	extra.Queues = append(extra.Queues, exp)
}

// closeExport flushes the export, writes the drops of its last moments in
// the stream (w, in format), and says on stderr what it did.
func closeExport(exp *otlp.Exporter, w io.Writer, format runtime.LineFormat, endpoint string) error {
	if exp == nil {
		return nil
	}
	err := exp.Close()
	var line []byte
	for _, rep := range exp.NewLosses(time.Now()) {
		line = format.AppendLost(line[:0], rep)
		w.Write(line)
		fmt.Fprintf(stderr, "hdrlog: %s\n", runtime.LostNotice(rep))
	}
	sent, lost := exp.Totals()
	fmt.Fprintf(stderr, "hdrlog: OTLP export to %s: %d events exported, %d dropped", endpoint, sent, lost)
	if e := exp.LastError(); e != "" && lost > 0 {
		fmt.Fprintf(stderr, " (last error: %s)", e)
	}
	fmt.Fprintln(stderr)
	return err
}
