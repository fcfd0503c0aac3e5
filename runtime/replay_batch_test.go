package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// A replay runs the frames of hooks whose rules keep no state across frames
// many per test run (replay_batch.go). Its output, skips and summary must be
// those of the one-frame-at-a-time path (ReplaySerial with OneFrame), byte
// for byte.

// compareBatchWithOneFrame replays each capture one frame per test run,
// serially, and in batches over workers workers, and fails on any
// difference. It returns how many events the replays wrote and whether some
// hook went in batches.
func compareBatchWithOneFrame(t *testing.T, rs *rules.RuleSet, captures []string, workers int) (events int, batched bool) {
	t.Helper()
	kerneltest.Require(t)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	one, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{OneFrame: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if len(one.Batched()) != 0 {
		t.Fatalf("OneFrame: %v still go in batches", one.Batched())
	}
	many, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	defer many.Close()
	for _, path := range captures {
		a, b := replayWith(t, one, path, false), replayWith(t, many, path, true)
		if a != b {
			t.Fatalf("%s (%v in batches): the batched replay differs from the one-frame one\none frame per test run:\n%s%s%s\nbatched:\n%s%s%s",
				filepath.Base(path), many.Batched(), a.out, a.skips, a.summary, b.out, b.skips, b.summary)
		}
		events += strings.Count(b.out, "\n")
	}
	return events, len(many.Batched()) > 0
}

func TestBatchedReplayMatchesOneFrameOnCaptures(t *testing.T) {
	stateless, _ := exampleRules(t)
	caps := projectCaptures(t)
	plain := mustRules(t, `
rule ssh_syn {
    hook tc ingress
    match tcp.dstport == 22 && tcp.flags.syn == 1
    log ip.src, ipv6.src, tcp.srcport, frame.len, tcp.payload
}
rule dns_out {
    hook tc egress
    match udp.port == 53 || tcp.port == 53
    log ip.dst, udp.length, frame.len
}
rule any_http {
    hook tc ingress
    match tcp.payload contains "HTTP" && !(ip.src in {10.0.0.0/8})
    log ip.src, tcp.len
}
rule every_frame {
    hook xdp
    match frame.len > 0
    log frame.len, eth.src
}
rule udp_xdp {
    hook xdp
    match udp
    log udp.srcport, udp.dstport, frame.len
}
`)
	for _, workers := range []int{1, 2} {
		n, batched := compareBatchWithOneFrame(t, plain, caps, workers)
		if !batched || n == 0 {
			t.Fatalf("batched: %v, %d events: the comparison proves nothing", batched, n)
		}
		if n, _ := compareBatchWithOneFrame(t, stateless, caps, workers); n == 0 {
			t.Fatal("the example rules logged nothing on the project's captures")
		}
	}
}

// TestBatchedReplayMatchesOneFrameOnRandom: random rule sets (at every hook)
// on random frames, a direction each.
func TestBatchedReplayMatchesOneFrameOnRandom(t *testing.T) {
	seeds := 16
	if testing.Short() {
		seeds = 4
	}
	events, batched := 0, 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x62617463))
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
		for range 300 {
			fc.data = make([]byte, 512)
			for i := range fc.data {
				fc.data[i] = byte(rng.Uint32())
			}
			frames = append(frames, testFrame{data: genFrame(fc), dir: runtime.Direction(rng.IntN(3))})
		}
		path := writePcap(t, layers.LinkTypeEthernet, frames...)
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			if err := kernelLoads(rs); err != "" {
				t.Skipf("known kernel divergence %s", err)
			}
			n, b := compareBatchWithOneFrame(t, rs, []string{path}, 1+int(seed%2))
			events += n
			if b {
				batched++
			}
		})
	}
	if events == 0 || batched == 0 {
		t.Fatalf("%d events, %d rule sets in batches: the comparison proves nothing", events, batched)
	}
}

// replayEventsWith replays a capture with ReplayEvents (the path of -w,
// --format text, -o, OTLP), writing each event with its frame's number.
func replayEventsWith(t *testing.T, r *runtime.Replayer, path string, stopAfter int) replayed {
	t.Helper()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, skips strings.Builder
	n := 0
	s, err := runtime.ReplayEvents(r, c, runtime.ReplayHandlers{
		Event: func(ev *runtime.Event, m runtime.Meta, fr *runtime.CapturedFrame) error {
			fmt.Fprintf(&out, "%d %d %s", fr.Number, len(fr.Data), runtime.AppendJSON(nil, m.Schema, ev, m))
			out.WriteByte('\n')
			n++
			if n == stopAfter {
				return runtime.ErrReplayDone
			}
			return nil
		},
		Skipped: func(s runtime.Skip) { fmt.Fprintf(&skips, "after %d events: %s\n", n, s) },
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return replayed{out: out.String(), skips: skips.String(), summary: fmt.Sprintf("%+v", *s)}
}

// ReplayEvents reads frames ahead in batches too: the same events, with the
// same frames, skips and summary, as one frame per test run; also when the
// handler stops the replay early (hdrlog test -c).
func TestBatchedReplayEventsMatchesOneFrame(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, `
rule ssh_syn {
    hook tc ingress
    match tcp.dstport == 22 && tcp.flags.syn == 1
    log ip.src, tcp.srcport, frame.len, tcp.payload
}
rule every_frame {
    hook xdp
    match frame.len > 0
    log frame.len, eth.src
}
`)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	one, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{OneFrame: true})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	many, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer many.Close()
	if len(many.Batched()) != 2 {
		t.Fatalf("batched hooks: %v", many.Batched())
	}
	events := 0
	for _, path := range projectCaptures(t) {
		for _, stop := range []int{0, 7} {
			a, b := replayEventsWith(t, one, path, stop), replayEventsWith(t, many, path, stop)
			if a != b {
				t.Fatalf("%s (stop after %d): batched ReplayEvents differs\none frame per test run:\n%s%s%s\nbatched:\n%s%s%s",
					filepath.Base(path), stop, a.out, a.skips, a.summary, b.out, b.skips, b.summary)
			}
			events += strings.Count(b.out, "\n")
		}
	}
	if events == 0 {
		t.Fatal("no events: the comparison proves nothing")
	}
}
