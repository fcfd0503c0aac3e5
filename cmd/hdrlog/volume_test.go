package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// scrapeMetrics reads --metrics-addr's /metrics from inside namespace B:
// each sample's value by its name and labels as written
// (`hdrlog_events_total{hook="tc egress",rule="r"}`).
func scrapeMetrics(t *testing.T, p *netns.Pair, addr string) map[string]float64 {
	t.Helper()
	var body []byte
	err := p.Do("B", func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
			return err
		}
		body, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hdrlog_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metric is one sample of m: name{labels}, the labels sorted by name as
// Prometheus' client writes them.
func metric(m map[string]float64, name string, labels ...string) float64 {
	var l []string
	for i := 0; i+1 < len(labels); i += 2 {
		l = append(l, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return m[name+"{"+strings.Join(l, ",")+"}"]
}

// summaryRows parses the summary table of a run's standard error: per
// rule, events, lost, counted, not counted, sampled out, over limit,
// matched.
func summaryRows(t *testing.T, stderr string, rules ...string) map[string][7]uint64 {
	t.Helper()
	out := map[string][7]uint64{}
	for _, name := range rules {
		re := regexp.MustCompile(`(?m)^` + name + `\s+tc egress\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
		m := re.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("no summary row for %s in\n%s", name, stderr)
		}
		var row [7]uint64
		for i := range row {
			row[i], _ = strconv.ParseUint(m[i+1], 10, 64)
		}
		out[name] = row
	}
	return out
}

// TestAccountingFlood floods three rules at tc egress with datagrams through
// a ring buffer of 4 KiB, far too small for them: a rule that logs every
// match, one that samples 1 in 4 and one limited to 1000/s burst 50. Every
// datagram sent passes tc egress (the send returns after the hook ran), so
// for each rule the datagrams sent must equal matched = logged + lost +
// sampled out + over limit, exactly, in the metrics while the run goes on
// and in the summary at its end; each of the loss and drop counters is
// not zero (the flood did overflow the ring), the events on standard
// output are the summary's logged, and each sampled event carries its rate.
func TestAccountingFlood(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "flood.rules")
	if err := os.WriteFile(rulesPath, []byte(`
rule flood_log {
    hook tc egress
    match udp.dstport == 7001
    log ip.dst, udp.srcport, udp.dstport, frame.len
}
rule flood_sample {
    hook tc egress
    match udp.dstport == 7002
    log ip.dst, udp.srcport, udp.dstport, frame.len
    sample 1/4
}
rule flood_limit {
    hook tc egress
    match udp.dstport == 7003
    log ip.dst, udp.srcport, udp.dstport, frame.len
    limit 1000/s burst 50
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(20000))
	r := startRun(t, p, "--ring-size", "4K", "--wakeup-bytes", "1K", "--metrics-addr", metricsAddr, rulesPath)
	names := []string{"flood_log", "flood_sample", "flood_limit"}
	// Resolve A's address first (packets waiting for ARP are not
	// dropped, but let the flood start with the neighbour known).
	sendFromB(t, p, 7000, 1)
	const n = 20000
	sent := sendFromB(t, p, 7001, n)

	// The metrics, while the run goes on: the counters are read at every
	// poll of the ring, wait until the sums reach what was sent.
	var m map[string]float64
	sums := func() []float64 {
		var out []float64
		for _, name := range names {
			logged := metric(m, "hdrlog_events_total", "hook", "tc egress", "rule", name)
			lost := metric(m, "hdrlog_events_lost_total", "reason", "ring_full", "rule", name)
			sampled := metric(m, "hdrlog_matches_not_logged_total", "hook", "tc egress", "reason", "sampled_out", "rule", name)
			over := metric(m, "hdrlog_matches_not_logged_total", "hook", "tc egress", "reason", "over_limit", "rule", name)
			out = append(out, logged+lost+sampled+over)
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m = scrapeMetrics(t, p, metricsAddr)
		s := sums()
		if s[0] == float64(sent[0]) && s[1] == float64(sent[1]) && s[2] == float64(sent[2]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: logged+lost+sampled out+over limit per rule %v, sent %v", s, sent)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lost := metric(m, "hdrlog_events_lost_total", "reason", "ring_full", "rule", "flood_log"); lost == 0 {
		t.Errorf("flood_log lost no event in a 4 KiB ring: the flood did not overflow it")
	}
	for i, name := range names[1:] {
		if got := metric(m, "hdrlog_rule_matches_total", "hook", "tc egress", "rule", name); got != float64(sent[i+1]) {
			t.Errorf("hdrlog_rule_matches_total{rule=%q} = %v, sent %d", name, got, sent[i+1])
		}
	}
	if v := metric(m, "hdrlog_matches_not_logged_total", "hook", "tc egress", "reason", "sampled_out", "rule", "flood_sample"); v < n/2 {
		t.Errorf("flood_sample: %v sampled out of %d with sample 1/4", v, n)
	}
	if v := metric(m, "hdrlog_matches_not_logged_total", "hook", "tc egress", "reason", "over_limit", "rule", "flood_limit"); v == 0 {
		t.Errorf("flood_limit: none over the limit of 1000/s burst 50 for %d datagrams", n)
	}

	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	rows := summaryRows(t, r.errOut.String(), names...)
	events := map[string]uint64{}
	for _, ev := range r.lines(t) {
		name, _ := ev["rule"].(string)
		if name == "" {
			continue
		}
		events[name]++
		if name == "flood_sample" && ev["sample"] != float64(4) {
			t.Errorf("a sampled event without its rate (sample 4): %v", ev)
			break
		}
	}
	// The stream's accounting records: totals since the start, so the last
	// one of a rule has the summary's sampled out and over limit; a rule
	// that neither samples nor limits has none.
	lastAcct := map[string]map[string]any{}
	for _, ln := range r.lines(t) {
		if a, ok := ln["accounting"].(map[string]any); ok {
			for name, v := range a {
				lastAcct[name], _ = v.(map[string]any)
			}
		}
	}
	if a, ok := lastAcct["flood_log"]; ok {
		t.Errorf("an accounting record for flood_log, which neither samples nor limits: %v", a)
	}
	for _, c := range []struct {
		rule, key string
		col       int
	}{{"flood_sample", "sampled_out", 4}, {"flood_limit", "over_limit", 5}} {
		a := lastAcct[c.rule]
		if a == nil {
			t.Errorf("no accounting record for %s in the stream", c.rule)
			continue
		}
		if got, want := a[c.key], float64(rows[c.rule][c.col]); got != want {
			t.Errorf("%s: the stream's last accounting record says %s %v, the summary %v: %v", c.rule, c.key, got, want, a)
		}
	}
	for i, name := range names {
		row := rows[name]
		ev, lost, counted, notCounted, sampled, over, matched := row[0], row[1], row[2], row[3], row[4], row[5], row[6]
		if matched != sent[i] || ev+lost+counted+notCounted+sampled+over != sent[i] || counted+notCounted != 0 {
			t.Errorf("summary of %s: events %d + lost %d + sampled out %d + over limit %d (counted %d, not counted %d) = matched %d; sent %d",
				name, ev, lost, sampled, over, counted, notCounted, matched, sent[i])
		}
		if events[name] != ev {
			t.Errorf("%s: %d events on standard output, the summary says %d", name, events[name], ev)
		}
		if float64(ev) != metric(m, "hdrlog_events_total", "hook", "tc egress", "rule", name) {
			t.Errorf("%s: the summary's events %d, the metrics' %v", name, ev, metric(m, "hdrlog_events_total", "hook", "tc egress", "rule", name))
		}
	}
	t.Logf("sent %v per rule; summary rows %v", sent, rows)
}

// sendFromB sends n rounds of datagrams from B to A, one a round to each
// of the ports first, first+1 and first+2 (or to first alone when n is 1),
// as fast as the socket takes them, and returns the datagrams sent per
// port.
func sendFromB(t *testing.T, p *netns.Pair, first, n int) []uint64 {
	t.Helper()
	ports := 3
	if n == 1 {
		ports = 1
	}
	sent := make([]uint64, ports)
	err := p.Do("B", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		var dst []*net.UDPAddr
		for k := range ports {
			dst = append(dst, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, uint16(first+k))))
		}
		payload := make([]byte, 32)
		for range n {
			for k, d := range dst {
				if _, err := c.WriteToUDP(payload, d); err != nil {
					return err
				}
				sent[k]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestSampleByFlowLive: `sample 1/2 by flow` logs each flow whole or not at
// all. Forty flows (source ports) of 25 datagrams each leave B; per flow the
// events are 0 or 25, some flows are logged and some not, every event
// carries "sample":2, and the summary's sampled out are the datagrams of
// the flows not logged.
func TestSampleByFlowLive(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "flows.rules")
	if err := os.WriteFile(rulesPath, []byte("rule flows {\n    hook tc egress\n    match udp.dstport == 7101\n    log udp.srcport, udp.dstport\n    sample 1/2 by flow\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, p, rulesPath)
	const flows, per = 40, 25
	ports := map[int]bool{}
	err := p.Do("B", func() error {
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, 7101))
		for range flows {
			// Unconnected: a port unreachable from A does not fail the
			// next send.
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			ports[c.LocalAddr().(*net.UDPAddr).Port] = true
			for range per {
				if _, err := c.WriteToUDP([]byte("flow"), dst); err != nil {
					c.Close()
					return err
				}
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != flows {
		t.Fatalf("%d distinct source ports for %d flows", len(ports), flows)
	}
	time.Sleep(200 * time.Millisecond)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	got := map[int]int{}
	for _, ev := range r.lines(t) {
		if ev["rule"] != "flows" {
			continue
		}
		if ev["sample"] != float64(2) {
			t.Fatalf("an event without its rate (sample 2): %v", ev)
		}
		got[int(ev["udp.srcport"].(float64))]++
	}
	logged := 0
	for port, n := range got {
		if !ports[port] || n != per {
			t.Errorf("flow from port %d: %d events, want %d (a flow is logged whole or not at all)", port, n, per)
		}
		logged++
	}
	if logged == 0 || logged == flows {
		t.Errorf("%d of %d flows logged with sample 1/2 by flow", logged, flows)
	}
	row := summaryRows(t, r.errOut.String(), "flows")["flows"]
	if row[0] != uint64(logged*per) || row[4] != uint64((flows-logged)*per) || row[6] != flows*per {
		t.Errorf("summary of flows: %v, want %d events, %d sampled out, %d matched", row, logged*per, (flows-logged)*per, flows*per)
	}
}

// TestLimitLive: `limit 100/s burst 20` is a token bucket in the kernel.
// Two bursts of 300 datagrams, 400 ms apart: each logs at least the burst
// (the bucket was full) and at most the burst plus 100 a second of the
// burst's duration, one more for the rounding; the rest are over the limit
// in the summary, and the ring (8 MiB) lost none.
func TestLimitLive(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "limited.rules")
	if err := os.WriteFile(rulesPath, []byte("rule limited {\n    hook tc egress\n    match udp.dstport == 7201\n    log udp.srcport, udp.dstport\n    limit 100/s burst 20\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, p, rulesPath)
	const n = 300
	type burst struct {
		port    int
		sent    int
		elapsed time.Duration
	}
	var bursts []burst
	for i := range 2 {
		if i > 0 {
			time.Sleep(400 * time.Millisecond) // the bucket fills again (20 tokens in 200 ms)
		}
		var b burst
		err := p.Do("B", func() error {
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			b.port = c.LocalAddr().(*net.UDPAddr).Port
			dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, 7201))
			start := time.Now()
			for range n {
				if _, err := c.WriteToUDP([]byte("limit"), dst); err != nil {
					return err
				}
				b.sent++
			}
			b.elapsed = time.Since(start)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		bursts = append(bursts, b)
	}
	time.Sleep(200 * time.Millisecond)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	got := map[int]int{}
	for _, ev := range r.lines(t) {
		if ev["rule"] == "limited" {
			got[int(ev["udp.srcport"].(float64))]++
		}
	}
	total := 0
	for _, b := range bursts {
		most := 20 + int(100*b.elapsed.Seconds()) + 1
		if g := got[b.port]; g < 20 || g > most {
			t.Errorf("a burst of %d in %v: %d logged, want 20 to %d", b.sent, b.elapsed, g, most)
		}
		total += got[b.port]
	}
	row := summaryRows(t, r.errOut.String(), "limited")["limited"]
	if row[0] != uint64(total) || row[1] != 0 || row[5] != uint64(2*n-total) || row[6] != 2*n {
		t.Errorf("summary of limited: %v, want %d events, 0 lost, %d over limit, %d matched", row, total, 2*n-total, 2*n)
	}
}

// TestCountRecordsTextAndMetrics: a counting rule's records in --format
// text (one COUNT line per key and interval) and in the metrics (a gauge
// per key of the last complete interval), for three flows of 10, 20 and 30
// datagrams sent within one interval.
func TestCountRecordsTextAndMetrics(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "count.rules")
	if err := os.WriteFile(rulesPath, []byte("rule per_src {\n    hook tc egress\n    match udp.dstport == 7301\n    count by ip.dst, udp.srcport every 2s sum frame.len\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(20000))
	r := startRun(t, p, "--format", "text", "--metrics-addr", metricsAddr, rulesPath)
	// Start just after an interval begins (intervals are aligned to
	// multiples of 2 s), so that every datagram falls in one interval.
	time.Sleep(time.Until(time.Now().Truncate(2 * time.Second).Add(2*time.Second + 50*time.Millisecond)))
	sent := map[int]int{}
	err := p.Do("B", func() error {
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, 7301))
		for k := 1; k <= 3; k++ {
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			port := c.LocalAddr().(*net.UDPAddr).Port
			for range 10 * k {
				if _, err := c.WriteToUDP([]byte("count me"), dst); err != nil {
					c.Close()
					return err
				}
				sent[port]++
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const frameLen = 14 + 20 + 8 + 8
	key := func(port int) string { return fmt.Sprintf("ip.dst=%s,udp.srcport=%d", p.AddrA, port) }
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := scrapeMetrics(t, p, metricsAddr)
		ok := true
		for port, n := range sent {
			if metric(m, "hdrlog_count_interval_packets", "hook", "tc egress", "key", key(port), "rule", "per_src") != float64(n) ||
				metric(m, "hdrlog_count_interval_bytes", "hook", "tc egress", "key", key(port), "rule", "per_src") != float64(n*frameLen) {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			var got []string
			for k, v := range m {
				if strings.HasPrefix(k, "hdrlog_count_interval") {
					got = append(got, fmt.Sprintf("%s %v", k, v))
				}
			}
			t.Fatalf("metrics: want the packets and bytes %v per source port, got\n%s", sent, strings.Join(got, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} COUNT per_src since \d\d:\d\d:\d\d\.\d{6} ip\.dst=(\S+) udp\.srcport=(\d+) count=(\d+) bytes=(\d+)$`)
	got := map[int]int{}
	for _, l := range strings.Split(strings.TrimSpace(r.out.String()), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a text count record: %q\n%s", l, r.out)
		}
		port, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		b, _ := strconv.Atoi(m[4])
		if m[1] != p.AddrA.String() || b != n*frameLen {
			t.Errorf("record %q: want ip.dst=%s and %d bytes a datagram", l, p.AddrA, frameLen)
		}
		got[port] += n
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("text records count %v per source port, sent %v", got, sent)
	}
}
