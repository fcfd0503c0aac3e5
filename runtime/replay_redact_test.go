package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/httpcorpus"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

var adversarialCapture = filepath.Join("..", "testdata", "captures", "hdrlog", "adversarial-http.pcap")

// corpusReplay is what one replay of the adversarial corpus wrote.
type corpusReplay struct {
	json, text, ecs []byte
	sum             *runtime.ReplaySummary
	r               *runtime.Replayer
}

// replayCorpus replays the stored corpus through the kernel programs (or
// the reference evaluator) the way hdrlog test does with -w or OTLP
// (ReplayEvents: frames many per test run where the rules allow), and
// writes each event as JSON lines, text lines and ECS JSON.
func replayCorpus(t *testing.T, rs *rules.RuleSet, out *compiler.Output, noKernel bool) *corpusReplay {
	t.Helper()
	r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c, err := runtime.OpenCapture(adversarialCapture)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := &corpusReplay{r: r}
	text := output.NewText(out.Schema, nil)
	ecs := output.NewAttrsJSON(output.NewECS(out.Schema))
	res.sum, err = runtime.ReplayEvents(r, c, runtime.ReplayHandlers{Event: func(ev *runtime.Event, m runtime.Meta, _ *runtime.CapturedFrame) error {
		res.json = runtime.AppendJSON(res.json, out.Schema, ev, m)
		res.json = append(res.json, '\n')
		res.text = text.AppendEvent(res.text, ev, m)
		res.ecs = ecs.AppendEvent(res.ecs, ev, m)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dumpMap returns every byte a reader of map m can see: every CPU's value
// of every entry (and the keys), or for the ring buffer its data pages,
// read through mmap as a consumer reads them (what was read included).
func dumpMap(t *testing.T, m *ebpf.Map) []byte {
	t.Helper()
	switch m.Type() {
	case ebpf.RingBuf:
		page := os.Getpagesize()
		// The producer's page, then the data pages, mapped twice.
		mem, err := unix.Mmap(m.FD(), int64(page), page+2*int(m.MaxEntries()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatalf("mmap the ring buffer: %v", err)
		}
		defer unix.Munmap(mem)
		return bytes.Clone(mem[page:])
	case ebpf.ProgramArray:
		return nil // program ids
	}
	var dump []byte
	var key []byte
	it := m.Iterate()
	switch m.Type() {
	case ebpf.PerCPUArray, ebpf.PerCPUHash, ebpf.LRUCPUHash:
		var per [][]byte
		for it.Next(&key, &per) {
			dump = append(dump, key...)
			for _, v := range per {
				dump = append(dump, v...)
			}
		}
	default:
		var v []byte
		for it.Next(&key, &v) {
			dump = append(append(dump, key...), v...)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("dump map %v: %v", m, err)
	}
	return dump
}

// TestAdversarialHTTPCorpus replays the adversarial HTTP corpus
// (internal/httpcorpus, testdata/captures/hdrlog/adversarial-http.pcap:
// bare CR, NUL, obs-fold, duplicate and padded headers, space before the
// colon, LF-only lines, pipelining, 130 header lines, cuts, secrets in
// every header, query parameter and URL userinfo hdrlog redacts) through
// the kernel programs and the reference evaluator. Both write the same
// events; every rule that should fire on a frame does; no planted secret
// is in the JSON, text or ECS output of either, nor in any map the replay
// loaded, read after it (the l7 window, the transaction maps, the scratch
// map, the ring buffer's pages); and the decoders' limits are counted.
func TestAdversarialHTTPCorpus(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, httpcorpus.Rules)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kern := replayCorpus(t, rs, out, false)
	ref := replayCorpus(t, rs, out, true)
	frames := httpcorpus.Frames()
	if kern.sum.Frames != len(frames) || ref.sum.Frames != len(frames) {
		t.Fatalf("replayed %d frames (kernel) and %d (reference) of %d", kern.sum.Frames, ref.sum.Frames, len(frames))
	}

	if !bytes.Equal(kern.json, ref.json) {
		t.Errorf("the kernel and the reference evaluator disagree:\n%s", lineDiff(string(kern.json), string(ref.json)))
	}
	for _, side := range []struct {
		name string
		r    *corpusReplay
	}{{"kernel", kern}, {"reference", ref}} {
		for format, b := range map[string][]byte{"json": side.r.json, "text": side.r.text, "ecs": side.r.ecs} {
			for _, line := range strings.SplitAfter(string(b), "\n") {
				if strings.Contains(line, httpcorpus.Marker) {
					t.Errorf("%s, %s: a planted secret in an event: %s", side.name, format, line)
				}
			}
		}
	}

	// Each rule fires where it should.
	fired := map[int]map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(kern.json)), "\n") {
		var ev struct {
			Rule  string
			Frame int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if fired[ev.Frame] == nil {
			fired[ev.Frame] = map[string]int{}
		}
		fired[ev.Frame][ev.Rule]++
	}
	for i, f := range frames {
		for _, rule := range f.Fire {
			if fired[i+1][rule] == 0 {
				t.Errorf("frame %d (%s): rule %s did not fire (fired: %v)", i+1, f.Name, rule, fired[i+1])
			}
		}
	}
	for _, rule := range httpcorpus.RuleNames {
		if n := kern.sum.Events[ruleIndex(t, rs, rule)]; n == 0 {
			t.Errorf("rule %s logged nothing", rule)
		}
	}
	if n := kern.sum.Events[ruleIndex(t, rs, "urls")]; n < len(frames) {
		t.Errorf("rule urls (match http) logged %d events for %d frames", n, len(frames))
	}

	// The response carries its request's target, masked as it was kept.
	want := `"http.response_for.uri":"/start?token=[redacted]&state=s"`
	if n := strings.Count(string(kern.json), want); n == 0 {
		t.Errorf("no event carries %s", want)
	}

	// No map the replay loaded holds a planted secret after it.
	maps := runtime.ReplayerMaps(kern.r)
	var names []string
	sawRing := false
	for _, m := range maps {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, info.Name)
		dump := dumpMap(t, m)
		if at := bytes.Index(dump, []byte(httpcorpus.Marker)); at >= 0 {
			end := min(at+60, len(dump))
			t.Errorf("map %s (%v) holds a planted secret after the replay: %q", info.Name, m.Type(), dump[max(at-60, 0):end])
		}
		if m.Type() == ebpf.RingBuf && bytes.Contains(dump, []byte("corpus.example")) {
			sawRing = true // the dump reads what the events held
		}
	}
	sort.Strings(names)
	for _, want := range []string{compiler.L7Map, compiler.HTTPTxMap, compiler.PayloadMap, compiler.EventsMap} {
		if !containsString(names, want) {
			t.Errorf("no map %s among those dumped: %v", want, names)
		}
	}
	if !sawRing {
		t.Error("the ring buffer's dump does not hold the events' values: the dump reads nothing")
	}

	// The decoders' limits are counted, in the kernel.
	limits := map[string]uint64{}
	for _, l := range kern.sum.L7Limits {
		limits[l.Proto+" "+l.Reason] += l.Count
	}
	if limits["http lines"] == 0 || limits["http cut"] == 0 {
		t.Errorf("L7 limits %v: want http lines and http cut counted", kern.sum.L7Limits)
	}
}

// TestAdversarialHTTPCorpusFindsSecrets: the same search finds the planted
// secrets where a rule unredacts them, so that the corpus test's "no
// secret" means something.
func TestAdversarialHTTPCorpusFindsSecrets(t *testing.T) {
	rs := mustRules(t, httpcorpus.Rules+httpcorpus.OpenRule)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := replayCorpus(t, rs, out, true)
	frames := httpcorpus.Frames()
	open := 0
	for _, line := range strings.Split(strings.TrimSpace(string(ref.json)), "\n") {
		var ev struct {
			Rule  string
			Frame int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Rule != "open" {
			if strings.Contains(line, httpcorpus.Marker) {
				t.Errorf("a planted secret in an event of rule %s: %s", ev.Rule, line)
			}
			continue
		}
		open++
		// long_values plants its secrets past the bytes an event holds,
		// obs_fold in continuation lines, which are no value.
		if name := frames[ev.Frame-1].Name; name != "long_values" && name != "obs_fold" && !strings.Contains(line, httpcorpus.Marker) {
			t.Errorf("frame %d (%s): rule open (unredacted) logged no planted secret: %s", ev.Frame, name, line)
		}
	}
	if open < len(frames)/2 {
		t.Errorf("rule open logged %d events for %d frames", open, len(frames))
	}
}

func ruleIndex(t *testing.T, rs *rules.RuleSet, name string) int {
	t.Helper()
	for _, r := range rs.Rules {
		if r.Name == name {
			return r.Index
		}
	}
	t.Fatalf("no rule %s", name)
	return -1
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// lineDiff shows the first lines where a and b differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 10; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  kernel:    %s\n  reference: %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}
