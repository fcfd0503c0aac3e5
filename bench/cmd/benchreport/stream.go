package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hdrlog/hdrlog/internal/netns"
)

// streamPoll is the poll interval hdrlog run is given.
const streamPoll = 10 * time.Millisecond

// streamRun is one consumer streaming the benchmark's packets.
type streamRun struct {
	Tool      string
	Command   string
	Sent      int
	Logged    int           // events written (hdrlog) or packets captured (tcpdump)
	Lost      int           // events lost (hdrlog) or packets dropped by the kernel (tcpdump)
	CPU       time.Duration // CPU time of the consumer while the packets flowed
	CPUTotal  time.Duration // user+system time of the whole process (startup included)
	PerPacket float64       // ns of CPU per logged packet
	Slices    int64         // times its threads were scheduled in while the packets flowed
	Ratio     float64       // hdrlog's CPU per logged packet over this run's (tcpdump runs)
	Spread    []float64     // PerPacket of every trial (sinks)
	Err       string
}

type streamResult struct {
	Rate, Seconds int
	Poll          time.Duration
	Runs          []*streamRun
	Err           string
}

const streamPort = 9999

func (b *bench) benchStream() *streamResult {
	res := &streamResult{Rate: b.rate, Seconds: b.seconds, Poll: streamPoll}
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
	rulesFile, err := filepath.Abs("bench/out/stream.rules")
	if err == nil {
		err = os.WriteFile(rulesFile, []byte(fmt.Sprintf(`rule bench_udp {
    match udp.dstport == %d
    log   ip.src, ip.dst, udp.srcport, udp.dstport, udp.length
}
`, streamPort)), 0o644)
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	tools := []struct {
		name  string
		args  []string
		ready string
	}{
		{"hdrlog run", []string{bin, "run", "-i", pair.PeerIf, "--poll-interval", streamPoll.String(), rulesFile}, "streaming"},
		// As the target names it: stdout block-buffered (4 KiB writes to
		// /dev/null), so a quiet stream's lines can wait without bound.
		{"tcpdump", []string{"tcpdump", "-n", "-i", pair.PeerIf, "udp", "dst", "port", strconv.Itoa(streamPort)}, "listening on"},
		// As people watch or pipe it live: a write per line.
		{"tcpdump -l", []string{"tcpdump", "-n", "-i", pair.PeerIf, "-l", "udp", "dst", "port", strconv.Itoa(streamPort)}, "listening on"},
	}
	for _, t := range tools {
		b.logf("stream: %s, %d packets/s for %d s", t.name, b.rate, b.seconds)
		res.Runs = append(res.Runs, b.streamOne(pair, t.name, t.args, t.ready))
	}
	for _, r := range res.Runs[1:] {
		if res.Runs[0].PerPacket > 0 && r.PerPacket > 0 {
			r.Ratio = res.Runs[0].PerPacket / r.PerPacket
		}
	}
	return res
}

// streamOne runs one consumer in namespace B, with its standard output on
// /dev/null, while namespace A sends UDP packets at the benchmark's rate.
func (b *bench) streamOne(pair *netns.Pair, name string, args []string, ready string) *streamRun {
	shown := strings.Join(args, " ")
	if wd, err := os.Getwd(); err == nil {
		shown = strings.ReplaceAll(shown, wd+"/", "") // paths as make bench names them
	}
	run := &streamRun{Tool: name, Command: "ip netns exec B " + shown + " >/dev/null"}
	cmd, err := pair.Command("B", args[0], args[1:]...)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	defer devnull.Close()
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = devnull, stderr
	if err := cmd.Start(); err != nil {
		run.Err = err.Error()
		return run
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), ready) {
		if time.Now().After(deadline) {
			run.Err = "not ready after 30 s: " + stderr.String()
			return run
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let start-up work settle
	pid := cmd.Process.Pid
	cpu0, sl0, err := taskCPU(pid)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	run.Sent, err = sendUDP(pair, b.rate, b.seconds)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	time.Sleep(3 * streamPoll) // the last events reach the consumer
	cpu1, sl1, err := taskCPU(pid)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	run.CPU, run.Slices = cpu1-cpu0, sl1-sl0
	_ = cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	waited = true
	if ps := cmd.ProcessState; ps != nil {
		run.CPUTotal = ps.UserTime() + ps.SystemTime()
	}
	out := stderr.String()
	switch {
	case strings.HasPrefix(name, "tcpdump"):
		run.Logged = grabInt(out, `(\d+) packets? captured`)
		run.Lost = grabInt(out, `(\d+) packets? dropped by kernel`)
	default:
		if m := regexp.MustCompile(`(?m)^total\s+(\d+)\s+(\d+)`).FindStringSubmatch(out); m != nil {
			run.Logged, _ = strconv.Atoi(m[1])
			run.Lost, _ = strconv.Atoi(m[2])
		} else {
			run.Err = "no summary in its standard error: " + lastLines(out, 5)
		}
	}
	if err != nil && run.Err == "" && run.Logged == 0 {
		run.Err = fmt.Sprintf("%v: %s", err, lastLines(out, 5))
	}
	if run.Logged > 0 {
		run.PerPacket = float64(run.CPU.Nanoseconds()) / float64(run.Logged)
	}
	return run
}

// sendUDP sends rate packets per second for seconds from namespace A to B,
// paced in 1 ms slots, and returns how many it sent.
func sendUDP(pair *netns.Pair, rate, seconds int) (int, error) {
	// Unconnected: B has no listener, and its port-unreachable replies must
	// not fail the sends.
	var conn *net.UDPConn
	err := pair.Do("A", func() error {
		var err error
		conn, err = net.ListenUDP("udp4", nil)
		return err
	})
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrB, streamPort))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	payload := make([]byte, 64)
	total := rate * seconds
	start := time.Now()
	sent := 0
	for sent < total {
		due := int(float64(rate) * time.Since(start).Seconds())
		for ; sent < min(due, total); sent++ {
			if _, err := conn.WriteToUDP(payload, dst); err != nil {
				return sent, err
			}
		}
		time.Sleep(time.Millisecond)
	}
	return sent, nil
}

// taskCPU sums the CPU time (ns) and the number of times scheduled in
// (schedstat's first and third fields) over every thread of pid.
func taskCPU(pid int) (time.Duration, int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, 0, fmt.Errorf("no threads for pid %d", pid)
	}
	var total, slices int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) > 2 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sl, _ := strconv.ParseInt(f[2], 10, 64)
			total, slices = total+n, slices+sl
		}
	}
	return time.Duration(total), slices, nil
}

func grabInt(s, re string) int {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
