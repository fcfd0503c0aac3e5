package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/metrics"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// syncBuf is a buffer the stream writes while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestL7LimitsStreamAndMetric: padded HTTP requests through a loaded rule
// set while it streams. The stream writes an l7_limit record per limit
// whose count grew (http lines: 2, after the two padded requests; http
// requests: 1), a notice for each, the statistics count them, and
// /metrics serves hdrlog_l7_limits_total{proto,reason} with the same
// counts (the other limits at 0).
func TestL7LimitsStreamAndMetric(t *testing.T) {
	kerneltest.Require(t)
	f, diags := lang.ParseDSL("limits.rules", []byte(`rule padded { hook xdp match http.truncated log http.request.uri, http.truncated }`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := runtime.Load(out, runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var pads []string
	for i := range 130 {
		pads = append(pads, fmt.Sprintf("X-Pad-%d: p", i))
	}
	padded := testpkt.HTTPRequest("GET", "/padded", "HTTP/1.1", append(pads, "Host: watched.example")...)
	var pipelined []byte
	for i := range 5 {
		pipelined = append(pipelined, testpkt.HTTPRequest("GET", fmt.Sprintf("/p%d", i), "HTTP/1.1", "Host: h")...)
	}
	frame := func(sport uint16, payload []byte) []byte {
		return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(sport, 80).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
	}

	live := &runtime.LiveStats{}
	sink, notices := &syncBuf{}, &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var st runtime.Stats
	var serr error
	go func() {
		defer close(done)
		st, serr = c.Stream(ctx, sink, runtime.StreamOptions{Notices: notices, Live: live, PollInterval: 50 * time.Millisecond, LostInterval: 50 * time.Millisecond})
	}()
	for i, p := range [][]byte{padded, padded, pipelined} {
		if err := c.Run(rules.HookXDP, frame(uint16(40000+i), p)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{"lines": 2, "requests": 1}
	records := func() map[string]float64 {
		got := map[string]float64{}
		for _, line := range strings.Split(strings.TrimSpace(sink.String()), "\n") {
			var rec struct {
				L7Limit string `json:"l7_limit"`
				Reason  string
				Count   float64
			}
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.L7Limit == "" {
				continue
			}
			if rec.L7Limit != "http" {
				t.Errorf("a record for protocol %s: %s", rec.L7Limit, line)
			}
			got[rec.Reason] = rec.Count // the last record of a limit is its count
		}
		return got
	}
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(records()) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("the stream's l7_limit records give %v, want %v; it wrote:\n%s", records(), want, sink)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if serr != nil {
		t.Fatal(serr)
	}
	stats := map[string]uint64{}
	for _, l := range st.L7Limits {
		stats[l.Proto+" "+l.Reason] = l.Count
	}
	if stats["http lines"] != 2 || stats["http requests"] != 1 || stats["http cut"] != 0 {
		t.Errorf("the statistics count %v", st.L7Limits)
	}
	for _, n := range []string{"http decoder gave up on 2 messages: more than 128 header lines", "http decoder gave up on 1 messages: bytes after the 4th request"} {
		if !strings.Contains(notices.String(), n) {
			t.Errorf("no notice %q in:\n%s", n, notices)
		}
	}

	srv, err := metrics.Serve("127.0.0.1:0", metrics.Registry(metrics.Sources{Live: live, Version: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`hdrlog_l7_limits_total{proto="http",reason="lines"} 2`,
		`hdrlog_l7_limits_total{proto="http",reason="requests"} 1`,
		`hdrlog_l7_limits_total{proto="http",reason="cut"} 0`,
		`hdrlog_l7_limits_total{proto="tls",reason="extensions"} 0`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", line, grepLines(string(body), "hdrlog_l7_limits"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
