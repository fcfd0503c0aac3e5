// Package metrics serves a running hdrlog's counts to Prometheus: events
// and lost events per rule, the ring buffer's fill level, the reader's lag,
// the export queue, and the programs' run time when the kernel counts it.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hdrlog/hdrlog/runtime"
)

// LostSource reports events lost after the ring buffer, per rule index and
// reason (an export queue that overflowed, a collector that refused them).
type LostSource interface {
	LostByReason() map[string]map[string]uint64 // reason -> rule name -> count
}

// QueueSource reports the length of an export queue.
type QueueSource interface {
	QueueLength() int
}

// ServiceCounts are the counts of a long-running hdrlog: reloads and the
// interfaces it followed.
type ServiceCounts struct {
	Reloads, ReloadsFailed             uint64
	IfAttached, IfGone, IfAttachFailed uint64
}

// ServiceSource reports a running hdrlog's ServiceCounts.
type ServiceSource interface {
	ServiceCounts() ServiceCounts
}

// Sources are what the metrics read, at each scrape.
type Sources struct {
	Service  ServiceSource // nil: no reload or interface metrics
	Live     *runtime.LiveStats
	Programs map[string]*ebpf.Program // by hook name; nil: no run-time metrics
	Lost     []LostSource
	Queues   []QueueSource
	Version  string
}

var (
	descReloads = prometheus.NewDesc("hdrlog_reloads_total",
		"Rule reloads (SIGHUP, --watch), by result: ok, or failed (the previous rules kept running).", []string{"result"}, nil)
	descIfEvents = prometheus.NewDesc("hdrlog_interface_events_total",
		"Interfaces followed: attached (at start or when one appeared), gone, attach_failed.", []string{"event"}, nil)
	descEvents = prometheus.NewDesc("hdrlog_events_total",
		"Events written, per rule.", []string{"rule", "hook"}, nil)
	descLost = prometheus.NewDesc("hdrlog_events_lost_total",
		"Events lost, per rule and reason (ring_full: the kernel could not reserve room in the ring buffer; export_queue_full, export_failed: the OTLP export dropped them).",
		[]string{"rule", "reason"}, nil)
	descCounted = prometheus.NewDesc("hdrlog_packets_counted_total",
		"Packets counted by a counting rule (count by), per rule; those whose new key found the count map full are hdrlog_events_lost_total{reason=\"count_map_full\"}.", []string{"rule", "hook"}, nil)
	descRecords = prometheus.NewDesc("hdrlog_count_records_total",
		"Count records written (one per key and interval), per counting rule.", []string{"rule", "hook"}, nil)
	descNotLogged = prometheus.NewDesc("hdrlog_matches_not_logged_total",
		"Matches of a rule not logged by choice, per rule and reason: sampled_out (its sample), over_limit (its limit).", []string{"rule", "hook", "reason"}, nil)
	descCountPackets = prometheus.NewDesc("hdrlog_count_interval_packets",
		"A counting rule's record (count by): the packets of one key in the rule's last complete interval; key is the key fields present, name=value, comma-separated. Bound the keys with top N.", []string{"rule", "hook", "key"}, nil)
	descCountBytes = prometheus.NewDesc("hdrlog_count_interval_bytes",
		"A counting rule's record with sum frame.len: the bytes of one key in the rule's last complete interval.", []string{"rule", "hook", "key"}, nil)
	descMatched = prometheus.NewDesc("hdrlog_rule_matches_total",
		"Matches of a rule that counts, samples or limits: logged + lost + counted + not counted + sampled out + over the limit.", []string{"rule", "hook"}, nil)
	descRingSize = prometheus.NewDesc("hdrlog_ring_buffer_size_bytes",
		"Size of the ring buffer.", nil, nil)
	descRingUsed = prometheus.NewDesc("hdrlog_ring_buffer_used_bytes",
		"Bytes that waited in the ring buffer when the reader last woke up.", nil, nil)
	descRingFill = prometheus.NewDesc("hdrlog_ring_buffer_fill_ratio",
		"hdrlog_ring_buffer_used_bytes over hdrlog_ring_buffer_size_bytes.", nil, nil)
	descLag = prometheus.NewDesc("hdrlog_reader_lag_seconds",
		"How late the reader wrote the last event: wall clock at the write minus the event's time.", nil, nil)
	descQueue = prometheus.NewDesc("hdrlog_export_queue_length",
		"Events waiting in the OTLP export queue.", nil, nil)
	descRunTime = prometheus.NewDesc("hdrlog_program_run_seconds_total",
		"Time the kernel spent running the hook's program (only while kernel.bpf_stats_enabled is 1).", []string{"hook"}, nil)
	descTx = prometheus.NewDesc("hdrlog_transactions_total",
		"What became of the requests transactions stored (docs/transactions.md), per protocol and outcome: requests (stored), paired, timeout, overflow (pushed out of a full queue), evicted (with their flow, from the bounded map), orphan_responses (responses without a request), interim (1xx responses); as of the stream's last reading.",
		[]string{"proto", "outcome"}, nil)
	descL7Limits = prometheus.NewDesc("hdrlog_l7_limits_total",
		"Messages an L7 decoder gave up on at one of its limits (docs/l7.md, When a decoder gives up), per protocol and reason: their events carry http.truncated, dns.truncated or tls.truncated; as of the stream's last reading.",
		[]string{"proto", "reason"}, nil)
	descTxWaiting = prometheus.NewDesc("hdrlog_transactions_waiting",
		"Requests waiting for their response, per protocol, as of the stream's last reading.", []string{"proto"}, nil)
	descRunCount = prometheus.NewDesc("hdrlog_program_runs_total",
		"Runs of the hook's program (only while kernel.bpf_stats_enabled is 1).", []string{"hook"}, nil)
)

// collector turns Sources into metrics at each scrape.
type collector struct{ s Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descLost, descRingSize, descRingUsed, descRingFill, descLag, descQueue, descRunTime, descRunCount, descTx, descTxWaiting, descL7Limits, descCounted, descRecords, descNotLogged, descMatched, descCountPackets, descCountBytes} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	// A rule kept by a reload keeps its row; rules of two hooks may share
	// a name (their lost counts are summed: the metric has no hook label).
	lost := map[string]float64{}
	var names []string
	for _, r := range s.Live.Rules() {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(r.Events), r.Name, r.Hook)
		if _, ok := lost[r.Name]; !ok {
			names = append(names, r.Name)
		}
		lost[r.Name] += float64(r.Lost)
		if r.Volume {
			volumeMetrics(ch, &r)
		}
	}
	for _, name := range names {
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, lost[name], name, runtime.LostRingFull)
	}
	for _, c := range s.Live.Counts() {
		ch <- prometheus.MustNewConstMetric(descCountPackets, prometheus.GaugeValue, float64(c.Packets), c.Rule, c.Hook, c.Key)
		if c.SumLen {
			ch <- prometheus.MustNewConstMetric(descCountBytes, prometheus.GaugeValue, float64(c.Bytes), c.Rule, c.Hook, c.Key)
		}
	}
	for _, src := range s.Lost {
		for reason, counts := range src.LostByReason() {
			for name, n := range counts {
				ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(n), name, reason)
			}
		}
	}
	for _, t := range s.Live.Tx() {
		for _, o := range []struct {
			name string
			v    uint64
		}{{"requests", t.Requests}, {"paired", t.Paired}, {"timeout", t.Timeouts}, {"overflow", t.Overflow},
			{"evicted", t.Evicted}, {"orphan_responses", t.Orphans}, {"interim", t.Interim}} {
			ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(o.v), t.Proto, o.name)
		}
		ch <- prometheus.MustNewConstMetric(descTxWaiting, prometheus.GaugeValue, float64(t.Waiting), t.Proto)
	}
	for _, l := range s.Live.L7Limits() {
		ch <- prometheus.MustNewConstMetric(descL7Limits, prometheus.CounterValue, float64(l.Count), l.Proto, l.Reason)
	}
	if s.Service != nil {
		sc := s.Service.ServiceCounts()
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(sc.Reloads), "ok")
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(sc.ReloadsFailed), "failed")
		ch <- prometheus.MustNewConstMetric(descIfEvents, prometheus.CounterValue, float64(sc.IfAttached), "attached")
		ch <- prometheus.MustNewConstMetric(descIfEvents, prometheus.CounterValue, float64(sc.IfGone), "gone")
		ch <- prometheus.MustNewConstMetric(descIfEvents, prometheus.CounterValue, float64(sc.IfAttachFailed), "attach_failed")
	}
	size, used := float64(s.Live.RingBytes.Load()), float64(s.Live.RingBacklog.Load())
	ch <- prometheus.MustNewConstMetric(descRingSize, prometheus.GaugeValue, size)
	ch <- prometheus.MustNewConstMetric(descRingUsed, prometheus.GaugeValue, used)
	if size > 0 {
		ch <- prometheus.MustNewConstMetric(descRingFill, prometheus.GaugeValue, used/size)
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, time.Duration(s.Live.LagNanos.Load()).Seconds())
	if len(s.Queues) > 0 {
		n := 0
		for _, q := range s.Queues {
			n += q.QueueLength()
		}
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n))
	}
	for hook, p := range s.Programs {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		// Both stay 0 unless kernel.bpf_stats_enabled is on; the kernel
		// counts from when it was turned on.
		ch <- prometheus.MustNewConstMetric(descRunTime, prometheus.CounterValue, st.Runtime.Seconds(), hook)
		ch <- prometheus.MustNewConstMetric(descRunCount, prometheus.CounterValue, float64(st.RunCount), hook)
	}
}

// volumeMetrics are the accounting of a rule that counts, samples or
// limits.
func volumeMetrics(ch chan<- prometheus.Metric, r *runtime.RuleStats) {
	ch <- prometheus.MustNewConstMetric(descCounted, prometheus.CounterValue, float64(r.Counted), r.Name, r.Hook)
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(r.Records), r.Name, r.Hook)
	ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(r.KeysFull), r.Name, runtime.LostCountMapFull)
	ch <- prometheus.MustNewConstMetric(descNotLogged, prometheus.CounterValue, float64(r.SampledOut), r.Name, r.Hook, "sampled_out")
	ch <- prometheus.MustNewConstMetric(descNotLogged, prometheus.CounterValue, float64(r.OverLimit), r.Name, r.Hook, "over_limit")
	ch <- prometheus.MustNewConstMetric(descMatched, prometheus.CounterValue, float64(r.Matched()), r.Name, r.Hook)
}

// Registry returns a registry with hdrlog's metrics, hdrlog_build_info, and
// the Go and process collectors.
func Registry(s Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hdrlog_build_info",
		Help:        "Always 1; the labels say which hdrlog this is.",
		ConstLabels: prometheus.Labels{"version": s.Version, "goversion": goruntime.Version()},
	})
	build.Set(1)
	reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves /metrics.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Serve listens on addr (host:port; ":9464" for every address) and serves
// the registry's metrics at /metrics.
func Serve(addr string, reg *prometheus.Registry) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, letting a scrape in progress finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
