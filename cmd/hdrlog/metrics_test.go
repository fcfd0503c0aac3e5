package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// requireTool finds a program the test needs: skipped without it, failed
// under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if kerneltest.InCI() {
			t.Fatalf("%s is not installed (make test-deps installs it)", name)
		}
		t.Skipf("%s is not installed (make test-deps installs it)", name)
	}
	return p
}

// promQuery asks Prometheus, through curl in namespace B, for the value of
// a PromQL query per rule label.
func promQuery(t *testing.T, p *netns.Pair, api, query string) map[string]float64 {
	t.Helper()
	out, err := p.Run("B", "curl", "-sf", "--get", "--data-urlencode", "query="+query, api+"/api/v1/query")
	if err != nil {
		return nil // not up yet
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Status != "success" {
		t.Fatalf("PromQL %s: %v: %s", query, err, out)
	}
	vals := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		vals[s.Metric["rule"]] = v
	}
	return vals
}

// A real Prometheus scrapes --metrics-addr; PromQL returns, per rule, the
// events and the lost events the stream reported.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	prom := requireTool(t, "prometheus")
	requireTool(t, "curl")
	p := netns.NewPair(t)
	dir := t.TempDir()
	port := 20000 + rand.IntN(20000)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: hdrlog
    static_configs:
      - targets: [%q]
`, metricsAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", port+1)
	// A small ring buffer and a burst of datagrams: some events are lost.
	r := startRun(t, p, "--metrics-addr", metricsAddr, "--ring-size", "4K", "--wakeup-bytes", "2K", "--poll-interval", "50ms",
		"-e", "udp.dstport == 9999", "-e", "udp.dstport == 9998", "--log", "udp.srcport")
	cmd, err := p.Command("B", prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+api[len("http://"):], "--log.level=warn")
	if err != nil {
		t.Fatal(err)
	}
	promOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = promOut, promOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	err = p.Do("A", func() error {
		for _, port := range []int{9999, 9998} {
			c, err := dialUDP(p.AddrB, port)
			if err != nil {
				return err
			}
			for range 3000 {
				c.Write([]byte("burst"))
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The stream's counts, from its lines: events, and lost-event reports
	// (they come within a second).
	time.Sleep(1500 * time.Millisecond)
	events, lost := map[string]float64{}, map[string]float64{}
	for _, l := range r.lines(t) {
		if m, ok := l["lost"].(map[string]any); ok {
			for rule, n := range m {
				lost[rule] += n.(float64)
			}
			continue
		}
		events[l["rule"].(string)]++
	}
	if events["e1"] == 0 || events["e2"] == 0 || lost["e1"]+lost["e2"] == 0 {
		t.Fatalf("want events of both rules and some lost; the stream says events %v, lost %v", events, lost)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		gotEvents := promQuery(t, p, api, `hdrlog_events_total{job="hdrlog"}`)
		gotLost := promQuery(t, p, api, `sum by (rule) (hdrlog_events_lost_total{job="hdrlog"})`)
		if fmt.Sprint(gotEvents) == fmt.Sprint(events) && gotLost["e1"] == lost["e1"] && gotLost["e2"] == lost["e2"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PromQL says events %v, lost %v; the stream says events %v, lost %v\nprometheus: %s", gotEvents, gotLost, events, lost, promOut)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The gauges and build info are there too.
	for _, q := range []string{`hdrlog_build_info`, `hdrlog_ring_buffer_size_bytes`, `hdrlog_reader_lag_seconds`, `hdrlog_program_runs_total{hook="tc ingress"}`} {
		if v := promQuery(t, p, api, q); len(v) != 1 {
			t.Errorf("PromQL %s: %v", q, v)
		}
	}
	if v := promQuery(t, p, api, `hdrlog_ring_buffer_size_bytes`); v[""] != 4096 {
		t.Errorf("ring size %v, want 4096", v)
	}
}

func dialUDP(addr netip.Addr, port int) (*net.UDPConn, error) {
	return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
}
