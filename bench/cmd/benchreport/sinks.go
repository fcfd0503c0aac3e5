package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hdrlog/hdrlog/internal/netns"
)

// The outputs section: hdrlog run streaming the same packets to standard
// output (/dev/null), to a rotating file, and over OTLP/gRPC to a local
// OpenTelemetry Collector (internal/otelcoltest, writing to a file), in one
// run; CPU per event of hdrlog's process and events/s per core, as ratios
// to standard output.

// medianRun returns the trial of median CPU per event (a failed trial if
// any failed).
func medianRun(rr []*streamRun) *streamRun {
	for _, r := range rr {
		if r.Err != "" {
			return r
		}
	}
	s := append([]*streamRun(nil), rr...)
	sort.Slice(s, func(i, j int) bool { return s[i].PerPacket < s[j].PerPacket })
	m := s[len(s)/2]
	for _, r := range rr {
		m.Spread = append(m.Spread, r.PerPacket)
	}
	return m
}

type sinksResult struct {
	Rate, Seconds int
	Trials        int
	Runs          []*streamRun
	Err           string
}

func (b *bench) benchSinks() *sinksResult {
	// streamOne sends at b.rate.
	defer func(r int) { b.rate = r }(b.rate)
	b.rate = b.sinksRate
	res := &sinksResult{Rate: b.rate, Seconds: b.seconds}
	if b.hdrlog == "" {
		res.Err = "no hdrlog binary (build cmd/hdrlog into bench/out/hdrlog, or pass -hdrlog)"
		return res
	}
	bin, err := filepath.Abs(b.hdrlog)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	pair, cleanup, err := netns.Setup()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer func() {
		if err := cleanup(); err != nil {
			b.logf("netns cleanup: %v", err)
		}
	}()
	dir, err := filepath.Abs("bench/out/sinks")
	if err == nil {
		os.RemoveAll(dir)
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	expr := fmt.Sprintf("udp.dstport == %d", streamPort)
	base := []string{bin, "run", "-i", pair.PeerIf, "--poll-interval", streamPoll.String(), "-e", expr,
		"--log", "ip.src,ip.dst,udp.srcport,udp.dstport,udp.length"}
	tools := []struct {
		name string
		args []string
	}{
		{"stdout", base},
		{"rotating file", append(append([]string{}, base...), "-o", filepath.Join(dir, "events.json"), "--rotate-size", "16M", "--rotate-keep", "2")},
	}
	var collector *os.Process
	if b.otelcol != "" {
		cfg := filepath.Join(dir, "collector.yaml")
		err := os.WriteFile(cfg, []byte(fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:14317"}
exporters:
  file: {path: %q}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [otlp], exporters: [file]}
`, filepath.Join(dir, "otlp.json"))), 0o644)
		if err == nil {
			cmd, cerr := pair.Command("B", b.otelcol, "--config=file:"+cfg)
			if err = cerr; err == nil {
				out := &syncBuffer{}
				cmd.Stdout, cmd.Stderr = out, out
				if err = cmd.Start(); err == nil {
					collector = cmd.Process
					deadline := time.Now().Add(60 * time.Second)
					for !strings.Contains(out.String(), "Everything is ready") && time.Now().Before(deadline) {
						time.Sleep(50 * time.Millisecond)
					}
					go cmd.Wait()
				}
			}
		}
		if err != nil {
			b.logf("sinks: no collector: %v", err)
		} else {
			tools = append(tools, struct {
				name string
				args []string
			}{"OTLP/gRPC", append(append([]string{}, base...), "--otlp-endpoint", "grpc://127.0.0.1:14317")})
		}
	}
	defer func() {
		if collector != nil {
			collector.Signal(syscall.SIGTERM)
		}
	}()
	// Trials interleaved (forwards, then backwards), so that a change of
	// load hits every output alike; each output's median trial is shown.
	trials := 3
	if b.quick {
		trials = 1
	}
	res.Trials = trials
	runs := make([][]*streamRun, len(tools))
	for trial := 0; trial < trials; trial++ {
		for i := range tools {
			k := i
			if trial%2 == 1 {
				k = len(tools) - 1 - i
			}
			t := tools[k]
			b.logf("sinks: trial %d: %s, %d packets/s for %d s", trial+1, t.name, b.rate, b.seconds)
			runs[k] = append(runs[k], b.streamOne(pair, t.name, t.args, "streaming"))
		}
	}
	for _, rr := range runs {
		res.Runs = append(res.Runs, medianRun(rr))
	}
	for _, r := range res.Runs[1:] {
		if res.Runs[0].PerPacket > 0 && r.PerPacket > 0 {
			r.Ratio = r.PerPacket / res.Runs[0].PerPacket
		}
	}
	if b.otelcol == "" {
		res.Err = "no collector binary (make otelcol, or pass -otelcol): OTLP not measured"
	}
	return res
}

func (r *report) sinks(p func(string, ...any)) {
	p("### (e) Outputs: standard output, a rotating file, OTLP")
	p("")
	s := r.Sinks
	if s == nil {
		return
	}
	if len(s.Runs) == 0 {
		p("**Skipped/failed:** `%s`", s.Err)
		p("")
		return
	}
	p("The streaming set-up of (c) at a higher rate (%d packets/s for %d s: at 20,000 per second the wake-ups of an idle process weigh more than the events; one tc-ingress rule logging five fields, poll interval %v), with the rule given as `-e` and the events written to standard output (/dev/null), to a file rotating every 16 MiB (`-o events.json --rotate-size 16M --rotate-keep 2`), and exported over OTLP/gRPC to an OpenTelemetry Collector in the same namespace (internal/otelcoltest: OTLP receiver, file exporter; its own CPU is not counted). *CPU per event* is hdrlog's process (all its threads, `schedstat`) while the packets flowed; *events/s per core* is its inverse; *vs stdout* divides the CPU per event by standard output's, in the same run. Each output runs %d times, interleaved with the others (forwards, then backwards); the table shows each one's median trial, *trials* every trial's CPU per event.", s.Rate, s.Seconds, streamPoll, max(s.Trials, 1))
	if s.Err != "" {
		p("")
		p("Note: `%s`", s.Err)
	}
	p("")
	p("| output | sent | written | lost | CPU per event | events/s per core | vs stdout | trials | command |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, run := range s.Runs {
		if run.Err != "" {
			p("| %s | %d | – | – | – | – | – | – | error: `%s` |", run.Tool, run.Sent, strings.ReplaceAll(run.Err, "|", "\\|"))
			continue
		}
		ratio := "1.00"
		if run.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", run.Ratio)
		}
		perCore := 0.0
		if run.PerPacket > 0 {
			perCore = 1e9 / run.PerPacket
		}
		var trials []string
		for _, v := range run.Spread {
			trials = append(trials, fmt.Sprintf("%.0f", v))
		}
		p("| %s | %d | %d | %d | %.0f ns | %.2f M | %s | %s ns | `%s` |", run.Tool, run.Sent, run.Logged, run.Lost, run.PerPacket, perCore/1e6, ratio, strings.Join(trials, ", "), run.Command)
	}
	p("")
}
