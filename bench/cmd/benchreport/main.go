// Command benchreport runs hdrlog's benchmark suite and writes
// bench/REPORT.md: per-packet kernel cost against an empty program,
// hand-written C and libpcap's classic BPF; static program cost; scaling to
// thousands of rules; and the event path, from the kernel to JSON lines.
//
// It needs root (loading programs, network namespaces), clang-built
// objects of bench/c (make bench builds them), tcpdump and iproute2.
// Timings are reported, never asserted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
)

type bench struct {
	quick     bool
	cpu       int
	repeat    int
	trials    int
	loads     int // per-packet table: fresh loads of every program, their trials pooled
	cdir      string
	listings  string
	hdrlog    string // path of the hdrlog binary ("" to stream with the runtime API)
	scales    []int
	rate      int
	sinksRate int
	otelcol   string // the test collector binary (make otelcol), for the outputs section
	seconds   int
	started   time.Time
	cmdline   string
	emptyTC   *impl
	emptyXDP  *impl
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	var (
		quick   = flag.Bool("quick", false, "smoke run: few trials and short runs (CI)")
		out     = flag.String("out", "bench/REPORT.md", "report to write")
		raw     = flag.String("raw", "bench/out/results.json", "raw results (every trial) to write")
		cdir    = flag.String("cdir", "bench/out/c", "directory of the clang-built objects of bench/c")
		ldir    = flag.String("listings", "bench/out/listings", "directory to write hdrlog's listings of the suite to")
		cpu     = flag.Int("cpu", -1, "CPU to pin the measuring thread to (default: the last one)")
		trials  = flag.Int("trials", 0, "trials per cell (default 15, quick 3)")
		repeat  = flag.Int("repeat", 0, "runs per BPF_PROG_TEST_RUN call (default 1000000, quick 100000)")
		scales  = flag.String("scale", "", "rule counts for the scaling table (default 1,10,100,1000,10000,100000; quick 1,10,100)")
		otelcol = flag.String("otelcol", "", "OpenTelemetry Collector binary for the outputs section (make otelcol builds it)")
		hbin    = flag.String("hdrlog", "", "hdrlog binary for the streaming benchmark (default: bench/out/hdrlog if it exists)")
		rate    = flag.Int("rate", 0, "streaming benchmark packet rate per second (default 20000, quick 5000)")
		seconds = flag.Int("seconds", 0, "streaming benchmark duration (default 10, quick 2)")
		srate   = flag.Int("sinks-rate", 0, "outputs section packet rate per second (default 100000, quick 5000): fast enough that CPU per event is the events' and not the wake-ups'")
		loads   = flag.Int("loads", 0, "per-packet table: times every program is loaded afresh and timed for -trials trials; cells pool the trials of all loads (default 3, quick 1)")
		only    = flag.String("only", "", "comma-separated sections to run (perpacket,xdp,event,twin,volume,scale,sets,l7,tx,proc,decode,stream,replay,sinks; default all)")
		sets    = flag.String("sets", "", "per-packet table: comma-separated rule sets to measure (S1,...,S5; default all)")
		gmin    = flag.Int("group-map-min", 0, "compile groups of rules of at least this many rules into hash maps (default compiler.GroupMapMin; to measure the crossover)")
	)
	child := flag.String("set-load-child", "", "internal: time one rule file from text to loaded in this fresh process and print the figures (sets.go)")
	flag.Parse()
	if *child != "" {
		setLoadChild(*child)
		return
	}
	if *gmin > 0 {
		compiler.GroupMapMin = *gmin
	}
	b := &bench{quick: *quick, cpu: *cpu, trials: *trials, repeat: *repeat, cdir: *cdir, listings: *ldir, hdrlog: *hbin,
		rate: *rate, seconds: *seconds, otelcol: *otelcol, started: time.Now()}
	b.cmdline = strings.Join(os.Args, " ")
	def := func(v *int, full, q int) {
		if *v == 0 {
			*v = full
			if b.quick {
				*v = q
			}
		}
	}
	def(&b.trials, 15, 3)
	def(loads, 3, 1)
	b.loads = *loads
	def(&b.repeat, 1_000_000, 100_000)
	def(&b.rate, 20_000, 5_000)
	def(srate, 100_000, 5_000)
	b.sinksRate = *srate
	def(&b.seconds, 10, 2)
	if b.cpu < 0 {
		b.cpu = ebpf.MustPossibleCPU() - 1
	}
	list := *scales
	if list == "" {
		list = "1,10,100,1000,10000,100000"
		if b.quick {
			list = "1,10,100"
		}
	}
	for _, s := range strings.Split(list, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			fatalf("bad -scale element %q", s)
		}
		b.scales = append(b.scales, n)
	}
	if b.hdrlog == "" {
		if _, err := os.Stat("bench/out/hdrlog"); err == nil {
			b.hdrlog = "bench/out/hdrlog"
		}
	}

	r := &report{Bench: b, Env: environment(b)}
	if r.Env.BPFStats {
		fatalf("kernel.bpf_stats_enabled is 1: run-time statistics inflate test-run timings several times; run `sysctl kernel.bpf_stats_enabled=0` (and stop whatever enabled them) first")
	}

	// Everything timed runs on this goroutine, locked to one pinned thread.
	if err := measure.Pin(b.cpu); err != nil {
		fatalf("%v", err)
	}
	var err error
	if b.emptyTC, err = loadEmpty(ebpf.SchedCLS, -1); err != nil {
		fatalf("%v", err)
	}
	if b.emptyXDP, err = loadEmpty(ebpf.XDP, 2); err != nil {
		fatalf("%v", err)
	}

	run := func(section string) bool { return *only == "" || strings.Contains(","+*only+",", ","+section+",") }
	r.XDP, r.EventCost, r.Decode, r.Stream = &xdpResult{Err: "not run"}, &eventCostResult{Err: "not run"}, &decodeResult{Err: "not run"}, &streamResult{Err: "not run"}
	if run("perpacket") {
		// Each load places the programs' JIT images and rings anew,
		// which moves a cell by more than its trials spread: pool loads.
		var chosen []suite.RuleSet
		for _, rs := range suite.Suite {
			if *sets == "" || strings.Contains(","+*sets+",", ","+rs.Name+",") {
				chosen = append(chosen, rs)
			}
		}
		if len(chosen) == 0 {
			fatalf("-sets %q names no rule set of the suite", *sets)
		}
		for l := 0; l < b.loads; l++ {
			for i, rs := range chosen {
				if b.loads > 1 {
					b.logf("per-packet table: load %d of %d", l+1, b.loads)
				}
				res := b.benchSet(rs)
				if l == 0 {
					r.Sets = append(r.Sets, res)
				} else {
					r.Sets[i].pool(res)
				}
			}
		}
	}
	if run("xdp") {
		r.XDP = b.benchXDP()
	}
	if run("event") {
		r.EventCost = b.benchEventCost()
	}
	if run("twin") {
		r.Twin = b.benchTwin()
	}
	if run("volume") {
		r.Volume = b.benchVolume()
	}
	if run("scale") {
		r.Scaling = b.benchScaling()
	}
	if run("sets") {
		r.SetCross = b.benchSetCrossover()
		r.SetScale = b.benchSetScale()
		r.TextCross = b.benchTextSetCrossover()
		r.TextScale = b.benchTextSetScale()
	}
	if run("l7") {
		r.L7 = b.benchL7()
	}
	if run("tx") {
		r.Tx = b.benchTx()
	}
	if run("proc") {
		r.Proc = b.benchProc()
	}
	measure.Unpin()
	if run("decode") {
		r.Decode = b.benchDecode()
	}
	if run("stream") {
		r.Stream = b.benchStream()
	}
	if run("replay") {
		r.Replay = b.benchReplay()
	}
	if run("sinks") {
		r.Sinks = b.benchSinks()
	}
	r.Env.Elapsed = time.Since(b.started)
	r.Env.LoadAfter = loadavg()

	if err := os.MkdirAll(filepath.Dir(*raw), 0o755); err == nil {
		if j, err := json.MarshalIndent(r, "", " "); err == nil {
			_ = os.WriteFile(*raw, j, 0o644)
		}
	}
	if err := os.WriteFile(*out, []byte(r.markdown()), 0o644); err != nil {
		fatalf("%v", err)
	}
	b.logf("wrote %s and %s", *out, *raw)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
	os.Exit(1)
}
