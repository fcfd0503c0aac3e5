package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/capgen"
)

// Replay throughput: frames per second of `hdrlog test` (through the kernel
// and through the reference evaluator) against `tcpdump -r` and
// `tshark -r -Y` with the same filter, on one generated capture of small
// TCP and UDP frames, every tool in the same trials (interleaved), so that
// the ratios hold on a shared machine.

const replayRulesFile = "examples/rules/ssh_inbound.rules"

// The same match as ssh_inbound.rules' IPv4 rule (the generated capture
// holds no IPv6), for tcpdump and tshark.
const (
	replayPcapFilter = "ip and tcp dst port 22 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and not src net 10.0.0.0/8 and not src net 172.16.0.0/12 and not src net 192.168.0.0/16"
	replayDisplay    = "ip && tcp.dstport == 22 && tcp.flags.syn == 1 && tcp.flags.ack == 0 && !(ip.src == 10.0.0.0/8 || ip.src == 172.16.0.0/12 || ip.src == 192.168.0.0/16)"
)

type replayResult struct {
	Frames       int
	CaptureBytes int64
	Matches      int // SSH SYNs the generator wrote
	Runs         []*replayRun
	Load         string // load average when the section started
	LoadAfter    string
	Floor        *replayFloor
	Err          string
}

type replayRun struct {
	Tool    string
	Command string
	Wall    []float64 // seconds, per trial
	CPU     []float64 // user+system seconds, per trial
	Matches int       // lines printed (events, packets)
	Err     string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func (b *bench) benchReplay() *replayResult {
	res := &replayResult{Frames: 1_000_000, Load: loadavg()}
	trials := 3
	if b.quick {
		res.Frames, trials = 100_000, 1
	}
	if b.hdrlog == "" {
		res.Err = "no hdrlog binary (bench/out/hdrlog)"
		return res
	}
	dir, err := os.MkdirTemp("", "hdrlog-bench-replay")
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer os.RemoveAll(dir)
	capture := filepath.Join(dir, "replay.pcap")
	f, err := os.Create(capture)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Matches, err = capgen.WritePcap(f, capgen.Options{Frames: res.Frames, Seed: 1})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if st, err := os.Stat(capture); err == nil {
		res.CaptureBytes = st.Size()
	}
	b.logf("replay: %d frames, %d MB, %d SSH SYNs", res.Frames, res.CaptureBytes>>20, res.Matches)
	tools := []struct {
		name string
		argv []string
		env  []string
	}{
		{"tcpdump -r", []string{"tcpdump", "-n", "-r", capture, replayPcapFilter}, nil},
		{"hdrlog test (kernel)", []string{b.hdrlog, "test", replayRulesFile, "--pcap", capture}, nil},
		{"hdrlog test (kernel, GOMAXPROCS=1: one worker)", []string{b.hdrlog, "test", replayRulesFile, "--pcap", capture}, []string{"GOMAXPROCS=1"}},
		{"hdrlog test --one-frame-per-run (kernel, one test run per frame)", []string{b.hdrlog, "test", replayRulesFile, "--pcap", capture, "--one-frame-per-run"}, nil},
		{"hdrlog test --no-kernel", []string{b.hdrlog, "test", replayRulesFile, "--pcap", capture, "--no-kernel"}, nil},
		{"tshark -r -Y", []string{"tshark", "-n", "-r", capture, "-Y", replayDisplay}, nil},
	}
	for _, t := range tools {
		res.Runs = append(res.Runs, &replayRun{Tool: t.name, Command: strings.Join(append(append([]string(nil), t.env...), quoteArgs(t.argv)...), " ")})
	}
	for trial := 0; trial < trials; trial++ {
		for i := range tools {
			k := i
			if trial%2 == 1 {
				k = len(tools) - 1 - i
			}
			t, run := tools[k], res.Runs[k]
			if run.Err != "" {
				continue
			}
			b.logf("replay: trial %d: %s", trial+1, t.name)
			cmd := exec.Command(t.argv[0], t.argv[1:]...)
			cmd.Env = append(os.Environ(), t.env...)
			var lines lineCounter
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &lines, &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				run.Err = fmt.Sprintf("%v: %s", err, lastLine(stderr.String()))
				continue
			}
			run.Wall = append(run.Wall, time.Since(start).Seconds())
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			run.CPU = append(run.CPU, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
			run.Matches = lines.n
		}
	}
	res.LoadAfter = loadavg()
	calls := 1_000_000
	if b.quick {
		calls = 100_000
	}
	b.logf("replay: the floor (%d test runs of empty programs)", calls)
	res.Floor = measureReplayFloor(calls)
	return res
}

func quoteArgs(argv []string) []string {
	var out []string
	for _, a := range argv {
		if strings.ContainsAny(a, " |&!{}()") {
			a = "'" + a + "'"
		}
		out = append(out, a)
	}
	return out
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

type lineCounter struct{ n int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

var _ io.Writer = (*lineCounter)(nil)

func (r *report) replay(p func(string, ...any)) {
	p("## 6. Capture replay")
	p("")
	res := r.Replay
	if res == nil || res.Err != "" {
		msg := "not run"
		if res != nil {
			msg = res.Err
		}
		p("**Error:** `%s`", msg)
		p("")
		return
	}
	p("One generated capture (`internal/capgen`, seed 1): %d small Ethernet/IPv4 TCP and UDP frames (%.0f MB), %d of them SSH SYNs from public addresses, replayed by each tool with the same match (`%s`, whose IPv4 rule is tcpdump's `%s` and tshark's `%s`), output to a pipe that counts lines. Every tool runs in the same trials, interleaved (forwards, then backwards); figures are the median over %d trials, frames per second of wall-clock time, and the ratio to tcpdump's. *CPU* is user+system time of the process. Load average when the section started: %s (2 CPUs shared: wall-clock rates move with the load, the ratios less).",
		res.Frames, float64(res.CaptureBytes)/1e6, res.Matches, replayRulesFile, replayPcapFilter, replayDisplay, len(res.Runs[0].Wall), res.Load)
	p("")
	p("| tool | frames/s | / tcpdump | wall | CPU | CPU per frame | CPU / tcpdump's | matches | command |")
	p("|---|---|---|---|---|---|---|---|---|")
	baseCPU := median(res.Runs[0].CPU)
	base := 0.0
	if w := median(res.Runs[0].Wall); w > 0 {
		base = float64(res.Frames) / w
	}
	for _, run := range res.Runs {
		if run.Err != "" {
			p("| %s | – | – | – | – | – | – | – | error: `%s` |", run.Tool, strings.ReplaceAll(run.Err, "|", "\\|"))
			continue
		}
		w := median(run.Wall)
		fps := float64(res.Frames) / w
		ratio := "–"
		if base > 0 {
			ratio = fmt.Sprintf("%.2f", fps/base)
		}
		cpuRatio := "–"
		if baseCPU > 0 {
			cpuRatio = fmt.Sprintf("%.2f", median(run.CPU)/baseCPU)
		}
		p("| %s | %.2f M | %s | %.2f s | %.2f s | %.0f ns | %s | %d | `%s` |", run.Tool, fps/1e6, ratio, w, median(run.CPU), median(run.CPU)/float64(res.Frames)*1e9, cpuRatio, run.Matches, strings.ReplaceAll(run.Command, "|", "\\|"))
	}
	p("")
	p("Load average after the trials: %s.", res.LoadAfter)
	p("")
	if f := res.Floor; f != nil {
		if f.Err != "" {
			p("Floor not measured: `%s`", f.Err)
		} else {
			p("**The floor of one test run per frame.** With `--one-frame-per-run`, one `BPF_PROG_TEST_RUN` per frame and hook is the kernel replay's unit of work. Measured in the same run, CPU time of the calling thread per call over %d calls, one 72-byte frame per call: a test run of an XDP program that returns at once costs %.0f ns, of a tc program %.0f ns; a system call that does nothing (`getppid`) %.0f ns. So even with rules that cost nothing, that path needs %.0f ns of CPU per frame (XDP), %.2f M frames/s per CPU at best and %.2f M frames/s on %d CPUs, before reading the capture and writing events. By default, `hdrlog test` replays the frames of rules that keep no state across frames up to %d per test run (a batch build of the XDP program that tail-calls itself from frame to frame; docs/testing.md), which spreads that cost over the batch.",
				f.Calls, f.XDPRun, f.TCRun, f.Getppid, f.XDPRun, 1e3/f.XDPRun, float64(goruntime.NumCPU())*1e3/f.XDPRun, goruntime.NumCPU(), compiler.BatchFrames)
		}
		p("")
	}
}
