package runtime_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Replay spreads frames over workers and restores their order; ReplaySerial
// replays one frame at a time. Both must write the same bytes, report the
// same skips in the same order and count the same things, through the
// kernel and through the reference evaluator, on the project's captures
// and on random ones. Batches of three frames over three workers make
// even the short captures span many batches, out of order.

// replayed is everything a replay gives.
type replayed struct {
	out     string
	skips   string
	summary string
}

func replayWith(t *testing.T, r *runtime.Replayer, path string, parallel bool) replayed {
	t.Helper()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	var skips strings.Builder
	lines := 0
	w := writerFunc(func(p []byte) (int, error) {
		lines++
		if bytes.Count(p, []byte("\n")) != 1 || p[len(p)-1] != '\n' {
			t.Errorf("%s: a Write of %q: want one line per Write", path, p)
		}
		return out.Write(p)
	})
	skip := func(s runtime.Skip) { fmt.Fprintf(&skips, "after %d lines: %s\n", lines, s) }
	var progress []int
	prog := func(n int) { progress = append(progress, n) }
	replay := runtime.ReplaySerial
	if parallel {
		replay = runtime.Replay
	}
	s, err := replay(r, c, w, skip, prog)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i, n := range progress {
		if n != i+1 {
			t.Fatalf("%s: progress call %d said %d frames", path, i+1, n)
		}
	}
	if len(progress) != s.Frames {
		t.Fatalf("%s: %d progress calls for %d frames", path, len(progress), s.Frames)
	}
	return replayed{out: out.String(), skips: skips.String(), summary: fmt.Sprintf("%+v", *s)}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// compareReplays replays each capture through a serial and a parallel
// replayer of rs (kernel and reference) and fails on any difference. It
// returns how many events the parallel replays wrote.
func compareReplays(t *testing.T, rs *rules.RuleSet, captures []string, workers int) int {
	t.Helper()
	kerneltest.Require(t)
	defer runtime.SetReplayBatchFrames(3)()
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, noKernel := range []bool{false, true} {
		serial, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer serial.Close()
		par, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		defer par.Close()
		for _, path := range captures {
			a, b := replayWith(t, serial, path, false), replayWith(t, par, path, true)
			if a != b {
				t.Fatalf("%s (no kernel: %v, %d workers): parallel replay differs from the serial one\nserial:\n%s%s%s\nparallel:\n%s%s%s",
					filepath.Base(path), noKernel, par.Workers(), a.out, a.skips, a.summary, b.out, b.skips, b.summary)
			}
			events += strings.Count(b.out, "\n")
		}
	}
	return events
}

// projectCaptures lists testdata/captures' pcap and pcapng files.
func projectCaptures(t *testing.T) []string {
	var paths []string
	for _, pat := range []string{"*/*.pcap", "*/*.pcapng"} {
		m, err := filepath.Glob(filepath.Join("..", "testdata", "captures", pat))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 40 {
		t.Fatalf("found %d captures under testdata/captures", len(paths))
	}
	return paths
}

// exampleRules returns the rules of examples/rules, those that keep state
// between frames (TLS server names) apart.
func exampleRules(t *testing.T) (stateless, stateful *rules.RuleSet) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "rules", "*.rules"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples/rules: %v", err)
	}
	var plain, tls strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(src, []byte("hook syscall")) {
			continue // no capture replays system calls
		}
		if bytes.Contains(src, []byte("\nset ")) {
			continue // named sets read files beside the rules (TestBlocklistExample)
		}
		if bytes.Contains(src, []byte("tls.handshake.extensions_server_name")) {
			tls.Write(src)
		} else {
			plain.Write(src)
		}
		plain.WriteString("\n")
	}
	return mustRules(t, plain.String()), mustRules(t, tls.String())
}

func TestParallelReplayMatchesSerialOnCaptures(t *testing.T) {
	stateless, stateful := exampleRules(t)
	caps := projectCaptures(t)
	if n := compareReplays(t, stateless, caps, 3); n == 0 {
		t.Fatal("the example rules logged nothing on the project's captures: the comparison proves nothing")
	}
	compareReplays(t, stateful, caps, 3)
}

// TestParallelReplayMatchesSerialOnRandom replays random captures (the
// differential tests' frame generator, a direction per frame) with random
// rule sets.
func TestParallelReplayMatchesSerialOnRandom(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	events := 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x7061726c))
		in := make([]byte, 1024)
		for i := range in {
			in[i] = byte(rng.Uint32())
		}
		_, rs := checkedRules(&chooser{data: in})
		if rs == nil {
			continue
		}
		var frames []testFrame
		fc := &chooser{}
		for range 40 {
			fc.data = make([]byte, 512)
			for i := range fc.data {
				fc.data[i] = byte(rng.Uint32())
			}
			frames = append(frames, testFrame{data: genFrame(fc), dir: runtime.Direction(rng.IntN(3))})
		}
		paths := []string{
			writePcap(t, layers.LinkTypeEthernet, frames...),
			writePcapng(t, []pcapgo.NgInterface{
				{Name: "eth0", LinkType: layers.LinkTypeEthernet},
				{Name: "eth1", LinkType: layers.LinkTypeEthernet},
			}, frames...),
		}
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			if err := kernelLoads(rs); err != "" {
				t.Skipf("known kernel divergence %s", err)
			}
			events += compareReplays(t, rs, paths, 1+int(seed%4))
		})
	}
	if events == 0 {
		t.Fatal("the random rule sets logged nothing: the comparison proves nothing")
	}
}

// kernelLoads returns the documented divergence that keeps rs from
// loading, or "".
func kernelLoads(rs *rules.RuleSet) string {
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		return ""
	}
	r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		return explainLoad(rs, err)
	}
	r.Close()
	return ""
}
