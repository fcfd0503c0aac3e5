package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/metrics"
	"github.com/hdrlog/hdrlog/runtime"
)

func init() {
	register(&command{
		name:    "run",
		args:    "(-i IFACE|PATTERN [-i ...] | --all) [--netns NS] [--watch] [flags] FILE|DIR...",
		summary: "compile, load and attach rules, and stream their events as JSON lines",
		detail: `
Run compiles the rules, loads them into the kernel, attaches them to every
interface named with -i (XDP in driver mode where the driver has it, generic
mode otherwise; tc ingress and egress through tcx), and writes one JSON line
per event to standard output. When the ring buffer overflows, a line
{"time":…,"lost":{"rule":N},"total_lost":N} says so in the stream, and a
notice goes to standard error.

-i takes names and shell patterns (-i 'veth*' -i 'lxc*'); --all selects
every interface but loopback. Interfaces are followed as they come and go
(netlink notifications): one that appears and matches is attached, one that
goes away is reported, and one that comes back under a watched name is
attached again. Each change is a line in the stream, e.g.
{"time":…,"interface":"veth1","ifindex":7,"event":"gone","hooks":["xdp"]}
(events: attached, gone, attach_failed, detached), and a notice on standard
error. A name without pattern characters must exist when run starts.
--netns attaches in another network namespace (a name of ip netns, or a
path such as /proc/PID/ns/net); entering it needs CAP_SYS_ADMIN.

SIGHUP, and with --watch a change to the rule files or directories, reloads
the rules without a gap: they are read, checked, compiled and verified, then
each hook's program is replaced in place; the ring buffer and the output
stay. A reload that fails leaves the old rules running. Each reload is a
line in the stream, {"time":…,"reload":"done","generation":N,"rules":N,
"added":[…],"changed":[…],"removed":[{"rule":…,"events":N,"lost":N}]} or
{"time":…,"reload":"failed",…,"error":…}, and a notice.

After attaching, run keeps only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (and
CAP_SYS_ADMIN with --netns), which reloads and new interfaces need.

SIGINT or SIGTERM detaches the programs, writes the events still in the ring
buffer, and prints a summary (events and lost events per rule) on standard
error. Attachments are bpf_links owned by the process: however it ends, even
by SIGKILL, nothing stays attached.

Rules come from files, from directories, from standard input ("-"), or
from the command line: -e 'tcp.dstport == 22 && tcp.flags.syn == 1' is a
rule named e1 at tc ingress, logging the fields of --log or, without it,
the fields the expression names and a default set for its protocols.
-c N stops after N events, --duration D after a time; --format text writes
one aligned line per event, like tcpdump -n. -o FILE writes to a file that
rotates (--rotate-size, --rotate-age), --otlp-endpoint exports to an
OpenTelemetry Collector, --metrics-addr serves Prometheus metrics.
docs/options.md lists every flag with an example.

-w is for 'hdrlog test' only: live events carry the logged fields, not the
frame; to keep the frames of live traffic, capture it (tcpdump -w) and
replay it with 'hdrlog test -r CAPTURE -w MATCHED.pcapng'.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			var o runOptions
			fs.StringArrayVarP(&o.ifaces, "interface", "i", nil, "interface to attach to, or a shell pattern of names (repeat for several)")
			fs.BoolVar(&o.all, "all", false, "attach to every interface but loopback, present and future")
			fs.StringVar(&o.netns, "netns", "", "attach in this network namespace (NAME under /run/netns, or a PATH)")
			fs.StringVar(&o.cgroup, "cgroup", "", "attach the cgroup hooks' rules to this cgroup v2 directory (absolute, or under the cgroup v2 root)")
			o.events.define(fs)
			o.outputs.define(fs)
			o.otlp.define(fs)
			fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :9464, 127.0.0.1:9464)")
			fs.DurationVar(&o.duration, "duration", 0, "stop after this time (e.g. 30s, 5m; 0: until Ctrl-C)")
			fs.StringVarP(&o.write, "write", "w", "", "not for run: see 'hdrlog test -w'")
			fs.BoolVar(&o.watch, "watch", false, "reload the rules when a rule file or directory named changes (as SIGHUP does); rules from standard input are read once and kept")
			fs.DurationVar(&o.poll, "poll-interval", runtime.DefaultPollInterval, "longest time an event waits in a quiet ring buffer (at least 1ms)")
			fs.StringVar(&o.ringSize, "ring-size", "8M", "ring-buffer size, a power of two (e.g. 256K, 8M)")
			fs.StringVar(&o.wakeup, "wakeup-bytes", "64K", "ring-buffer fill level from which an event wakes the reader before its poll interval")
			return func(args []string) error { return runRun(args, o) }
		},
	})
}

type runOptions struct {
	events   eventOptions
	outputs  outputOptions
	otlp     otlpOptions
	duration time.Duration
	write    string
	// metricsAddr is where Prometheus metrics are served ("": nowhere).
	metricsAddr string
	ifaces      []string
	all         bool
	netns       string
	// cgroup is --cgroup; cgroupPath the cgroup the cgroup hooks attach
	// to (runtime.CgroupPath).
	cgroup, cgroupPath string
	watch              bool
	poll               time.Duration
	ringSize           string
	wakeup             string
}

// settings validates the numeric flags.
func (o runOptions) settings() (ring, wakeup int, err error) {
	if o.poll < runtime.MinPollInterval {
		return 0, 0, usagef("--poll-interval %v is below %v: the reader would spend its time waking up", o.poll, runtime.MinPollInterval)
	}
	if ring, err = parseSize("--ring-size", o.ringSize); err != nil {
		return 0, 0, err
	}
	if ring < os.Getpagesize() || ring&(ring-1) != 0 {
		return 0, 0, usagef("--ring-size %s is not a power of two of at least %d bytes", o.ringSize, os.Getpagesize())
	}
	if wakeup, err = parseSize("--wakeup-bytes", o.wakeup); err != nil {
		return 0, 0, err
	}
	if wakeup > ring/2 {
		return 0, 0, usagef("--wakeup-bytes %s is more than half of --ring-size %s: the ring would fill before the reader is woken", o.wakeup, o.ringSize)
	}
	return ring, wakeup, nil
}

func runRun(args []string, o runOptions) error {
	// Rules over system calls need no interface; packet rules do.
	noIface := len(o.ifaces) == 0 && !o.all
	const needIface = "name the interface to attach to with -i IFACE (or a pattern, -i 'veth*'), or use --all"
	set := runtime.IfaceSet{Names: o.ifaces, All: o.all}
	if err := set.Validate(); err != nil && !noIface {
		return usagef("%v", err)
	}
	if o.write != "" {
		return usagef("-w writes the frames of a capture replay: live events carry the logged fields, not the frame; capture with tcpdump -w, then run 'hdrlog test -r CAPTURE -w %s'", o.write)
	}
	if o.duration < 0 {
		return usagef("--duration %v is negative", o.duration)
	}
	if o.watch && len(watchedPaths(args)) == 0 {
		return usagef("--watch reloads the rules when a rule file or directory named changes, and none is named: rules from standard input (-) are read once, -e rules are on the command line; name a file or directory, or reload with SIGHUP")
	}
	for _, err := range []error{o.events.checkFormat(), o.outputs.check(), o.otlp.check()} {
		if err != nil {
			return err
		}
	}
	ring, wakeup, err := o.settings()
	if err != nil {
		return err
	}
	// One reader goroutine does the work; a single processor keeps the Go
	// scheduler from waking idle threads at every poll (measured: about a
	// third less CPU per event). GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		goruntime.GOMAXPROCS(1)
	}
	copts, err := o.events.compileOptions(compiler.Options{WakeupBytes: wakeup})
	if err != nil {
		return err
	}
	lopts := runtime.LoadOptions{RingBytes: ring}
	rs, out, err := loadAndCompileInput(stderr, o.events.input(args), copts)
	if err != nil {
		return err
	}
	if noIface && hasPacketRules(out) {
		return usagef(needIface)
	}
	if hasCgroupRules(out) {
		if o.cgroupPath, err = runtime.CgroupPath(o.cgroup, rs.RuleSet); err != nil {
			return usagef("%v", err)
		}
	} else if o.cgroup != "" {
		return usagef("--cgroup names the cgroup of the rules with hook cgroup ingress or cgroup egress; there are none")
	}
	if out.NeedsProc() {
		tracker, err := runtime.StartProcTracker()
		if err != nil {
			return err
		}
		defer tracker.Close()
		lopts.Proc = tracker.Map
		fmt.Fprintf(stderr, "hdrlog: attached %s\n", tracker)
	}
	c, err := runtime.Load(out, lopts)
	if err != nil {
		return err
	}
	outs, err := o.outputs.open(o.otlp.endpoint != "")
	if err != nil {
		c.Close()
		return err
	}
	defer outs.Close() // on the early returns; closed again, checked, below
	st, err := supervise(args, o, set, copts, lopts, c, rs, func(ctx context.Context, release func(), detach func() error, opts runtime.StreamOptions, svc metrics.ServiceSource) (runtime.Stats, error) {
		opts.PollInterval = o.poll
		opts.Format = o.events.lineFormatOf(o.ifaces)
		opts.MaxEvents = o.events.count
		opts.Live = new(runtime.LiveStats)
		exp, err := o.otlp.start(&o.events, o.ifaces)
		if err != nil {
			return runtime.Stats{}, errors.Join(err, detach())
		}
		extra := metrics.Sources{Service: svc}
		exportHooks(exp, &opts, &extra)
		if o.metricsAddr != "" {
			srv, err := serveMetrics(o.metricsAddr, c, opts.Live, &extra)
			if err != nil {
				return runtime.Stats{}, errors.Join(err, detach())
			}
			defer srv.Close()
			fmt.Fprintf(stderr, "hdrlog: Prometheus metrics at http://%s/metrics\n", srv.Addr())
		}
		if o.duration > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.duration)
			defer cancel()
		}
		st, err := streamTo(ctx, release, outs.w, c, detach, opts)
		return st, errors.Join(err, closeExport(exp, outs.w, opts.Format(out.Schema), o.otlp.endpoint))
	})
	err = errors.Join(err, outs.Close())
	if st != nil {
		writeSummary(stderr, *st)
	}
	return err
}

// streamUntil writes the collection's events to stdout until ctx is done;
// then it detaches (so that no event can arrive after the final drain),
// drains the ring and returns the stream's counts. A stream that fails on
// its own (stdout closed) detaches too. release is called once ctx is done,
// so that a second Ctrl-C kills at once.
func streamUntil(ctx context.Context, release func(), c *runtime.Collection, detach func() error, opts runtime.StreamOptions) (runtime.Stats, error) {
	return streamTo(ctx, release, stdout, c, detach, opts)
}

// streamNotice says what the stream writes where, in the start-up notice.
func (o runOptions) streamNotice() string {
	what := map[string]string{"json": "JSON lines", "text": "text lines"}[o.events.format]
	var to []string
	if o.outputs.file != "" {
		to = append(to, o.outputs.file)
	}
	if o.outputs.stdout || o.outputs.file == "" && o.otlp.endpoint == "" {
		to = append(to, "standard output")
	}
	if o.otlp.endpoint != "" {
		to = append(to, "OTLP "+o.otlp.endpoint)
	}
	return fmt.Sprintf("as %s to %s", what, strings.Join(to, " and "))
}

// streamTo is streamUntil writing to w.
func streamTo(ctx context.Context, release func(), w io.Writer, c *runtime.Collection, detach func() error, opts runtime.StreamOptions) (runtime.Stats, error) {
	streamCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		st  runtime.Stats
		err error
	}
	done := make(chan result, 1)
	// When the output fails, the stream detaches the programs itself
	// before it counts what is left in the ring; detach runs once.
	var once sync.Once
	var detachErr error
	detachAll := detach
	detachOnce := func() error {
		once.Do(func() { detachErr = detachAll() })
		return detachErr
	}
	detach = detachOnce
	opts.StopProducers = detachOnce
	go func() {
		st, err := c.Stream(streamCtx, w, opts)
		done <- result{st, err}
	}()
	var r result
	select {
	case <-ctx.Done():
		release()
		finished := make(chan struct{})
		defer close(finished)
		go exitOnSecondSignal(finished, opts.Live)
		derr := detach()
		cancel()
		r = <-done
		r.err = errors.Join(r.err, derr)
	case r = <-done:
		r.err = errors.Join(r.err, detach())
	}
	return r.st, r.err
}

// exitOnSecondSignal keeps a second SIGINT or SIGTERM, while the first one's
// drain is still writing (stdout may be slow or blocked), a fast exit: it
// writes what the stream had counted at its last write, and what the ring
// buffer still held, on stderr, and exits at once with 128 plus the
// signal's number, as the signal's default action would have.
func exitOnSecondSignal(finished <-chan struct{}, live *runtime.LiveStats) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-finished:
		return
	case s := <-sig:
		fmt.Fprintf(stderr, "hdrlog: second %s: exiting without draining the ring buffer; %s\n", signalName(s), hastyCounts(live))
		code := 128 + 15
		if s == os.Interrupt {
			code = 128 + 2
		}
		os.Exit(code)
	}
}

// hastyCounts says what a stream cut short had done: events written and
// lost per the stream's last write, and the bytes of events still unread.
func hastyCounts(live *runtime.LiveStats) string {
	if live == nil {
		return "its counts are unknown"
	}
	var events, lost uint64
	for _, r := range live.Rules() {
		events += r.Events
		lost += r.Lost
	}
	return fmt.Sprintf("%d events written and %d lost (ring buffer full) until then; %d bytes of events were left unread in the ring buffer, neither written nor counted as lost",
		events, lost, live.RingBacklog.Load())
}

func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "SIGINT"
	}
	return "SIGTERM"
}

// describeAttachments says in one line what is attached where.
func describeAttachments(atts runtime.Attachments) string {
	var parts []string
	for _, a := range atts {
		s := fmt.Sprintf("%s %s", a.Iface, a.Hook)
		switch a.Mode {
		case runtime.ModeXDPDriver:
			s += " (driver mode)"
		case runtime.ModeXDPGeneric:
			s += " (generic mode: no native XDP, " + a.Fallback + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
