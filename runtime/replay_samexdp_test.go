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

// A replay runs the rules of a tc hook through their XDP build when they
// mean the same there (compiler.Output.SameAtXDP), an XDP test run costing
// less than a tc one. The events, skips and counts must be those of the tc
// programs, byte for byte: the replay with the tc programs (TCAsTC) is the
// reference.

// compareXDPWithTC replays each capture with and without the XDP builds,
// serially, and fails on any difference. It returns how many events the
// replays wrote and whether some hook went through its XDP build.
func compareXDPWithTC(t *testing.T, rs *rules.RuleSet, captures []string) (events int, fast bool) {
	t.Helper()
	kerneltest.Require(t)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{TCAsTC: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if len(tc.ThroughXDP()) != 0 {
		t.Fatalf("TCAsTC: %v still go through XDP", tc.ThroughXDP())
	}
	xdp, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer xdp.Close()
	for _, path := range captures {
		a, b := replayWith(t, tc, path, false), replayWith(t, xdp, path, false)
		if a != b {
			t.Fatalf("%s (%v through XDP): the XDP builds' replay differs from the tc programs'\ntc:\n%s%s%s\nthrough XDP:\n%s%s%s",
				filepath.Base(path), xdp.ThroughXDP(), a.out, a.skips, a.summary, b.out, b.skips, b.summary)
		}
		events += strings.Count(b.out, "\n")
	}
	return events, len(xdp.ThroughXDP()) > 0
}

func TestReplayThroughXDPMatchesTCOnCaptures(t *testing.T) {
	stateless, _ := exampleRules(t)
	caps := projectCaptures(t)
	// One hook's rules that mean the same at XDP, and the example rules
	// (some of which name VLAN tags or processes: those hooks stay on tc).
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
`)
	n, fast := compareXDPWithTC(t, plain, caps)
	if !fast || n == 0 {
		t.Fatalf("through XDP: %v, %d events: the comparison proves nothing", fast, n)
	}
	if n, _ := compareXDPWithTC(t, stateless, caps); n == 0 {
		t.Fatal("the example rules logged nothing on the project's captures")
	}
}

// TestReplayThroughXDPMatchesTCOnRandom: random rule sets (at every hook)
// on random frames, a direction each.
func TestReplayThroughXDPMatchesTCOnRandom(t *testing.T) {
	seeds := 16
	if testing.Short() {
		seeds = 4
	}
	events, fast := 0, 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x78647063))
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
		for range 60 {
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
			n, f := compareXDPWithTC(t, rs, []string{path})
			events += n
			if f {
				fast++
			}
		})
	}
	if events == 0 || fast == 0 {
		t.Fatalf("%d events, %d rule sets through XDP: the comparison proves nothing", events, fast)
	}
}
