package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// compileDSL parses, checks and compiles rules written in the DSL.
func compileDSL(t *testing.T, src string, opts compiler.Options) *compiler.Output {
	t.Helper()
	out, err := compiler.Compile(mustRules(t, src), opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return out
}

// loadDSL compiles rules and loads them into the kernel.
func loadDSL(t *testing.T, src string, ringBytes int) *runtime.Collection {
	t.Helper()
	kerneltest.Require(t)
	c, err := runtime.Load(compileDSL(t, src, compiler.Options{}), runtime.LoadOptions{RingBytes: ringBytes})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// attachIn attaches every program of c to interface ifname inside
// namespace ns of the pair, and detaches them at the end of the test.
func attachIn(t *testing.T, p *netns.Pair, ns, ifname string, c *runtime.Collection) runtime.Attachments {
	t.Helper()
	var as runtime.Attachments
	err := p.Do(ns, func() error {
		var err error
		as, err = c.Attach(ifname)
		return err
	})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() {
		if err := as.Close(); err != nil {
			t.Errorf("detach: %v", err)
		}
	})
	return as
}

// lineSink collects the lines a stream writes, safely for concurrent use.
type lineSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *lineSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(b)
}

func (s *lineSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// objects parses every complete line as a JSON object.
func (s *lineSink) objects(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	text := s.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return nil
	}
	for _, l := range strings.Split(text, "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stream line is not a JSON object: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// streamer runs Collection.Stream in the background.
type streamer struct {
	sink    *lineSink
	notices *lineSink
	cancel  context.CancelFunc
	done    chan struct{}
	stats   runtime.Stats
	err     error
}

func startStream(t *testing.T, c *runtime.Collection, opts runtime.StreamOptions) *streamer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamer{sink: &lineSink{}, notices: &lineSink{}, cancel: cancel, done: make(chan struct{})}
	opts.Notices = s.notices
	go func() {
		defer close(s.done)
		s.stats, s.err = c.Stream(ctx, s.sink, opts)
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the stream and waits for it to drain and return.
func (s *streamer) stop(t *testing.T) runtime.Stats {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not return within 10 s of cancellation")
	}
	if s.err != nil {
		t.Fatalf("stream: %v", s.err)
	}
	return s.stats
}

// waitFor polls the stream's lines until want returns true for them.
func (s *streamer) waitFor(t *testing.T, what string, timeout time.Duration, want func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		objs := s.sink.objects(t)
		if want(objs) {
			return objs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; the stream wrote:\n%s", timeout, what, s.sink.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// byRule returns the events of one rule.
func byRule(objs []map[string]any, rule string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["rule"] == rule {
			out = append(out, o)
		}
	}
	return out
}

// matching returns the objects whose members equal every member of want
// (numbers compare as float64, the way encoding/json decodes them).
func matching(objs []map[string]any, want map[string]any) []map[string]any {
	var out []map[string]any
next:
	for _, o := range objs {
		for k, v := range want {
			if fmt.Sprint(o[k]) != fmt.Sprint(v) {
				continue next
			}
		}
		out = append(out, o)
	}
	return out
}

// assertFields checks an event's members one by one.
func assertFields(t *testing.T, ev map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := ev[k]
		if !ok {
			t.Errorf("event of rule %v has no member %q: %v", ev["rule"], k, ev)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("event of rule %v: %s = %v, want %v", ev["rule"], k, got, v)
		}
	}
}

// attached reports what is attached to interface ifname in namespace ns:
// the tcx programs (queried with BPF_PROG_QUERY) and whether an XDP program
// is (iproute2 asks netlink, where XDP attachments are reported).
func attached(t *testing.T, p *netns.Pair, ns, ifname string) (tcxIn, tcxEg int, xdp bool) {
	t.Helper()
	err := p.Do(ns, func() error {
		ifindex := p.IfindexB
		if ns == "A" {
			ifindex = p.IfindexA
		}
		if ifname == "lo" {
			ifindex = 1
		}
		for _, q := range []struct {
			at ebpf.AttachType
			n  *int
		}{{ebpf.AttachTCXIngress, &tcxIn}, {ebpf.AttachTCXEgress, &tcxEg}} {
			r, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: q.at})
			if err != nil {
				return err
			}
			*q.n = len(r.Programs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query tcx programs: %v", err)
	}
	out, err := p.Run(ns, "ip", "-d", "-j", "link", "show", "dev", ifname)
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	var links []struct {
		XDP *json.RawMessage `json:"xdp"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show: %v\n%s", err, out)
	}
	return tcxIn, tcxEg, links[0].XDP != nil
}

// haveTool fails (under CI) or skips when a command the test needs is missing.
func haveTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if kerneltest.InCI() {
			t.Fatalf("%s is not installed; .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
}
