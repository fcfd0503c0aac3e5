package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/otlp"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

func init() {
	register(&command{
		name:    "test",
		args:    "[flags] FILE|DIR... --pcap CAPTURE",
		summary: "replay a capture through the real programs (BPF_PROG_TEST_RUN) and print or check the events",
		detail: `
Test compiles the rule files, loads the programs into the kernel and runs
every frame of a pcap or pcapng capture (Ethernet, or Linux cooked: tcpdump
-i any, -y LINUX_SLL2) through the program of each hook that has rules, with
BPF_PROG_TEST_RUN. It prints the events exactly as 'hdrlog run' does, with
the frame number ("frame") and the capture time ("time") of the frame.

A frame goes to the hooks of its direction, as on a live interface: a
received frame to tc ingress and XDP, a sent one to tc egress. The direction
is --direction if given, else the capture's (pcapng epb_flags, the packet
type of a cooked capture), else the one --local-mac and --local-addr give
(from a local address to another: out; to a local address from another:
in). A frame with no known direction goes through every hook; the summary
says how many did. frame.len is the length on the wire, also for frames the
capture's snap length cut short.

With --expect, it prints nothing but compares the events with a file of
expected events (the reviewed output of an earlier run) and exits with status
1 and a description of the first differing frames when they differ: a rule
file's behaviour on a capture becomes a CI check.

--no-kernel evaluates the rules with hdrlog's reference evaluator (the
executable specification, no privileges needed) instead of the kernel; the
output is the same.

The capture may be compressed (gzip, zstd: told by its first bytes) and as
big as need be: it is streamed. The frames are spread over every CPU and the
events written in capture order; on a terminal, a progress line shows
frames/s and the time left.

Test runs do not take every frame: none shorter than 14 bytes, tc runs none
longer than about 3.7 KB (nor IPv4/IPv6 frames shorter than their network
header), XDP runs none longer than about 73 KB and read only the first
3,520 bytes directly. Frames a tc test run refuses go through an XDP build of
the same rules, which is faithful in a test run; frames no test run takes are
reported one by one on stderr and counted in the summary, never dropped
silently. See docs/testing.md.

As with run, rules may come from -e expressions (with --log) and standard
input ("-"); -c N stops after N events, --format text writes aligned
lines, -o FILE and --otlp-endpoint send the events where run does. -r is
--pcap in tcpdump's spelling. -w FILE writes the frames that matched as a
pcapng capture, each frame once, with the names of the rules it matched in
its packet comment (Wireshark: frame.comment), cut to --snaplen bytes.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			var o testOptions
			fs.StringVarP(&o.pcap, "pcap", "r", "", "capture to replay (pcap or pcapng; Ethernet or Linux cooked)")
			o.events.define(fs)
			o.outputs.define(fs)
			o.otlp.define(fs)
			fs.StringVarP(&o.write, "write", "w", "", "write the frames that matched to this pcapng file (rule names in the packet comments)")
			fs.IntVar(&o.snapLen, "snaplen", output.DefaultSnapLen, "with -w: bytes of each frame written at most")
			fs.StringVar(&o.expect, "expect", "", "compare the events with this JSON-lines file instead of printing them")
			fs.BoolVar(&o.noKernel, "no-kernel", false, "evaluate with the reference evaluator instead of the kernel")
			fs.BoolVar(&o.oneFrame, "one-frame-per-run", false, "one test run per frame and hook, never many frames per test run (slower; the same events)")
			fs.StringArrayVar(&o.hooks, "hook", nil, `replay only the rules of this hook ("xdp", "tc ingress", "tc egress"); repeatable`)
			fs.StringVar(&o.direction, "direction", "", `every frame was received ("in": tc ingress, xdp) or sent ("out": tc egress), whatever the capture says`)
			fs.StringSliceVar(&o.localMACs, "local-mac", nil, "a MAC address of the capturing host, to tell sent from received frames when the capture does not; repeatable")
			fs.StringSliceVar(&o.localAddrs, "local-addr", nil, "an IP address or prefix of the capturing host (10.0.0.1, 2001:db8::/64), as --local-mac; repeatable")
			// Where a replay spends its time (go tool pprof), for those
			// who work on hdrlog: not part of its interface.
			fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the replay to this file")
			fs.MarkHidden("cpuprofile")
			return func(args []string) error { return runTest(args, o) }
		},
	})
}

type testOptions struct {
	events     eventOptions
	outputs    outputOptions
	otlp       otlpOptions
	write      string
	snapLen    int
	pcap       string
	expect     string
	noKernel   bool
	oneFrame   bool
	hooks      []string
	direction  string
	localMACs  []string
	localAddrs []string
	cpuProfile string
}

// replayDirection reads --direction, --local-mac and --local-addr.
func (o testOptions) replayDirection() (runtime.Direction, runtime.Local, error) {
	var dir runtime.Direction
	var local runtime.Local
	if o.direction != "" {
		d, err := runtime.ParseDirection(o.direction)
		if err != nil {
			return 0, local, usagef("--direction: %v", err)
		}
		dir = d
	}
	for _, s := range o.localMACs {
		mac, err := net.ParseMAC(s)
		if err != nil || len(mac) != 6 {
			return 0, local, usagef("--local-mac %q: want a MAC address such as 02:00:00:00:00:01", s)
		}
		local.MACs = append(local.MACs, mac)
	}
	for _, s := range o.localAddrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return 0, local, usagef("--local-addr %q: want an IP address or prefix such as 10.0.0.1 or 2001:db8::/64", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		local.Prefixes = append(local.Prefixes, p.Masked())
	}
	return dir, local, nil
}

// plain reports whether the replay writes JSON lines of every event and
// nothing else (the parallel replay's job).
func (o testOptions) plain() bool {
	return o.write == "" && o.otlp.endpoint == "" && o.events.count == 0 && o.events.format == "json" && o.events.schema == "wireshark"
}

func runTest(args []string, o testOptions) error {
	if o.pcap == "" {
		return usagef("name the capture to replay with --pcap CAPTURE (or -r CAPTURE)")
	}
	for _, err := range []error{o.events.checkFormat(), o.outputs.check(), o.otlp.check()} {
		if err != nil {
			return err
		}
	}
	if o.expect != "" && o.outputs.file != "" {
		return usagef("--expect compares the events instead of writing them: it takes no --output-file")
	}
	if o.snapLen <= 0 {
		return usagef("--snaplen %d is not a positive number of bytes", o.snapLen)
	}
	if o.expect != "" && (o.events.format != "json" || o.events.count != 0) {
		return usagef("--expect compares JSON lines of every event: it takes neither --format nor -c")
	}
	var hooks []rules.Hook
	for _, s := range o.hooks {
		h, ok := rules.ParseHook(strings.ReplaceAll(s, "-", " "))
		if !ok {
			return usagef("unknown hook %q (hooks are: xdp, tc ingress, tc egress)", s)
		}
		hooks = append(hooks, h)
	}
	dir, local, err := o.replayDirection()
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	copts, err := o.events.compileOptions(compiler.Options{TestRun: !o.noKernel})
	if err != nil {
		return err
	}
	src, out, err := loadAndCompileInput(stderr, o.events.input(args), copts)
	if err != nil {
		return err
	}
	if err := runtime.RefuseSyscallRules(src.RuleSet); err != nil {
		return err
	}
	capture, err := runtime.OpenCapture(o.pcap)
	if err != nil {
		return err
	}
	defer capture.Close()
	var expect *runtime.Expectation
	if o.expect != "" {
		f, err := os.Open(o.expect)
		if err != nil {
			return fmt.Errorf("expected events: %w", err)
		}
		defer f.Close()
		expect = runtime.NewExpectation(f)
	}
	r, err := runtime.NewReplayer(src.RuleSet, out, runtime.ReplayOptions{NoKernel: o.noKernel, OneFrame: o.oneFrame, Hooks: hooks, Direction: dir, Local: local})
	if err != nil {
		return err
	}
	defer r.Close()

	outs, err := o.outputs.open(o.otlp.endpoint != "")
	if err != nil {
		return err
	}
	defer outs.Close() // on the early returns; closed again, checked, below
	// A write per event would be a system call per event.
	events := bufio.NewWriterSize(outs.w, 64<<10)
	var w io.Writer = events
	if expect != nil {
		w = expect
	}
	bar := newProgressBar(stderr, capture)
	skipped := func(s runtime.Skip) {
		events.Flush()
		bar.clear()
		fmt.Fprintf(stderr, "hdrlog test: %s\n", s)
	}
	var sum *runtime.ReplaySummary
	var frames *output.Pcapng
	var exp *otlp.Exporter
	format := o.events.lineFormat(out.Schema, nil)
	if o.plain() {
		// JSON lines of every event: the parallel replay.
		sum, err = runtime.Replay(r, capture, w, skipped, bar.update)
	} else {
		// Outputs that need the frame or the event: one frame at a time.
		if o.write != "" {
			if frames, err = output.CreatePcapng(o.write, o.snapLen, ""); err != nil {
				return fmt.Errorf("-w: %w", err)
			}
		}
		if exp, err = o.otlp.start(&o.events, nil); err != nil {
			return err
		}
		var line []byte
		var written uint64
		sum, err = runtime.ReplayEvents(r, capture, runtime.ReplayHandlers{
			Event: func(ev *runtime.Event, m runtime.Meta, fr *runtime.CapturedFrame) error {
				line = format.AppendEvent(line[:0], ev, m)
				if _, err := w.Write(line); err != nil {
					return err
				}
				if exp != nil {
					exp.Event(ev, m)
				}
				if frames != nil {
					if err := frames.Add(fr.Number, fr.Time, fr.Data, fr.OrigLen, out.Schema.Rules[ev.Rule].Name); err != nil {
						return err
					}
				}
				if written++; o.events.count != 0 && written >= o.events.count {
					return runtime.ErrReplayDone
				}
				return nil
			},
			Skipped:  skipped,
			Progress: bar.update,
			Count: func(rec *runtime.CountRecord) error {
				line = runtime.AppendCount(line[:0], format, rec)
				_, err := w.Write(line)
				return err
			},
		})
	}
	bar.clear()
	if ferr := events.Flush(); err == nil {
		err = ferr
	}
	if cerr := closeExport(exp, w, format, o.otlp.endpoint); err == nil && cerr != nil {
		err = fmt.Errorf("--otlp-endpoint: %w", cerr)
	}
	if cerr := outs.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--output-file: %w", cerr)
	}
	if frames != nil {
		if cerr := frames.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("-w %s: %w", o.write, cerr)
		}
	}
	if err != nil {
		return err
	}
	if frames != nil {
		fmt.Fprintf(stderr, "hdrlog test: %s written to %s\n", plural(frames.Frames, "matched frame"), o.write)
	}
	writeReplaySummary(stderr, filepath.Base(o.pcap), sum)
	if expect == nil {
		return nil
	}
	ok, err := expect.Finish()
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(stderr, "\nevents differ from %s:\n%s", o.expect, expect.Report())
		return &reportedError{summary: fmt.Sprintf("%s: events differ from %s", o.pcap, o.expect)}
	}
	fmt.Fprintf(stderr, "ok: the events match %s (%d compared)\n", o.expect, expect.Compared)
	return nil
}

// writeReplaySummary writes what the replay did: frames, events per rule
// (the table of 'run'), skipped frames by reason, the tc runs that went
// through XDP, and frames the capture cut short.
func writeReplaySummary(w io.Writer, name string, s *runtime.ReplaySummary) {
	how := "through the kernel (BPF_PROG_TEST_RUN)"
	if s.NoKernel {
		how = "through the reference evaluator (--no-kernel)"
	}
	fmt.Fprintf(w, "hdrlog test: %s from %s %s\n", plural(s.Frames, "frame"), name, how)
	st := runtime.Stats{}
	for i, n := range s.Events {
		rs := runtime.RuleStats{Name: s.RuleNames[i], Hook: s.RuleHooks[i], Events: uint64(n), Volume: s.Volume[i], Counted: s.Counted[i]}
		if s.Lost != nil {
			rs.Lost = s.Lost[i]
		}
		if s.Acct != nil {
			rs.SampledOut = s.Acct[i][compiler.AcctSampledOut]
			rs.OverLimit = s.Acct[i][compiler.AcctOverLimit]
			rs.KeysFull = s.Acct[i][compiler.AcctKeysFull]
		}
		st.Rules = append(st.Rules, rs)
	}
	st.Tx = s.Tx
	st.L7Limits = s.L7Limits
	writeSummary(w, st)
	if len(s.Skipped) > 0 {
		var reasons []string
		for r := range s.Skipped {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		fmt.Fprintf(w, "not replayed (no test run takes them):\n")
		for _, r := range reasons {
			fmt.Fprintf(w, "  %s at %s\n", plural(s.Skipped[r], "frame"), r)
		}
	}
	if s.ViaXDP > 0 {
		fmt.Fprintf(w, "%s of tc rules went through their XDP build (frames a tc test run refuses)\n", plural(s.ViaXDP, "run"))
	}
	in, out, unknown := s.Direction[runtime.DirIn], s.Direction[runtime.DirOut], s.Direction[runtime.DirUnknown]
	if s.Frames > 0 {
		fmt.Fprintf(w, "direction: %s received (tc ingress, xdp), %s sent (tc egress), %s with no known direction, through every hook\n",
			plural(in, "frame"), plural(out, "frame"), plural(unknown, "frame"))
	}
	if s.Cooked > 0 {
		fmt.Fprintf(w, "%s rebuilt as Ethernet from a Linux cooked capture (eth.dst and, but for 6-byte addresses, eth.src are not in it: see docs/testing.md)\n", plural(s.Cooked, "frame"))
	}
	if s.CutShort > 0 {
		fmt.Fprintf(w, "%s cut short by the capture's snap length: their captured bytes replayed, frame.len the length on the wire\n", plural(s.CutShort, "frame"))
	}
}
