package scale

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// kernelRules is the size of TestKernelGeneratedRules' rule set: 40,000 in
// `make test` (as decision trees, about 1.05 million instructions: over the
// kernel's limit of one program), 100,000 in `make bench` (-rules 100000).
var kernelRules = flag.Int("rules", 40_000, "TestKernelGeneratedRules: how many generated rules")

// kernelLimit is the most instructions the kernel loads in one program
// (BPF_COMPLEXITY_LIMIT_INSNS).
const kernelLimit = 1_000_000

// TestKernelGeneratedRules loads a large generated rule set (the scaling
// benchmark's shape) in the kernel, where its groups of rules are hash
// maps (compiler/groupmap.go), and replays frames that hit a sample of the
// rules, frames beside them, and frames that match nothing, through the
// kernel and through the reference evaluator: both must log the same
// events. It also holds the compiler to the reason for the maps: as
// decision trees the same rules make a program longer than the kernel
// loads.
func TestKernelGeneratedRules(t *testing.T) {
	kerneltest.Require(t)
	n := *kernelRules
	start := time.Now()
	specs := Specs(n)
	rs, err := suite.Check("gen", Rules(n))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rules: parse and check %v", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compile %v", time.Since(start).Round(time.Millisecond))
	if len(out.Programs) != 1 {
		t.Fatalf("%d programs, want 1", len(out.Programs))
	}
	p := out.Programs[0]
	maps, entries := len(p.GroupMaps), 0
	for _, m := range p.GroupMaps {
		entries += m.Len()
		t.Logf("%s", m.Describe())
	}
	// One map per shape of GroupMapMin rules or more.
	perKind := map[Kind]int{}
	for _, r := range specs {
		perKind[r.Kind]++
	}
	want := 0
	for _, c := range perKind {
		if c >= compiler.GroupMapMin {
			want++
		}
	}
	if maps != want || want == 0 || len(p.Insns) > kernelLimit {
		t.Fatalf("%d group maps (want %d, one per shape of %d rules or more) and %d instructions", maps, want, compiler.GroupMapMin, len(p.Insns))
	}
	for _, pr := range out.Programs {
		if err := compiler.CheckContract(pr); err != nil {
			t.Fatal(err)
		}
	}
	if n >= 40_000 {
		saved := compiler.GroupMapMin
		compiler.GroupMapMin = math.MaxInt
		trees, err := compiler.Compile(rs, compiler.Options{TestRun: true})
		compiler.GroupMapMin = saved
		if err != nil {
			t.Fatal(err)
		}
		if got := len(trees.Programs[0].Insns); got <= kernelLimit {
			t.Errorf("as decision trees the rules make %d instructions: no longer over the kernel's limit, the test no longer shows why groups become maps", got)
		} else {
			t.Logf("as decision trees: %d instructions (the kernel loads at most %d)", got, kernelLimit)
		}
	}

	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	// The tc program, and its XDP build (which a replay prefers).
	var kerns []*runtime.Replayer
	for _, opts := range []runtime.ReplayOptions{{TCAsTC: true}, {}} {
		start = time.Now()
		kern, err := runtime.NewReplayer(rs, out, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer kern.Close()
		t.Logf("load and verify (TCAsTC %v, %d program instructions, %d map entries) %v", opts.TCAsTC, len(p.Insns), entries, time.Since(start).Round(time.Millisecond))
		kerns = append(kerns, kern)
	}
	if len(kerns[1].ThroughXDP()) == 0 {
		t.Errorf("the replay runs the tc rules at tc: their XDP build is not tested")
	}

	type frame struct {
		what  string
		bytes []byte
		want  string // a rule the reference must log ("" none)
	}
	frames := []frame{
		{"first match", FirstMatch(), "r0"},
		{"miss", Miss(), ""},
		{"near miss", NearMiss(), ""},
	}
	rng := rand.New(rand.NewPCG(uint64(n), 15))
	sample := []int{0, 1, n / 2, n - 1}
	for range 400 {
		sample = append(sample, rng.IntN(n))
	}
	for _, i := range sample {
		r := specs[i]
		v := rng.IntN(8)
		frames = append(frames,
			frame{fmt.Sprintf("hit %s (%v)", r.Name, r.Kind), Hit(r, v), r.Name},
			frame{fmt.Sprintf("beside %s (%v)", r.Name, r.Kind), NearHit(r, v), ""})
	}
	replay := func(r *runtime.Replayer, num int, fr []byte) (string, []string) {
		var b []byte
		var names []string
		_, err := r.Frame(num, fr, func(ev *runtime.Event) error {
			b = runtime.AppendJSON(b, out.Schema, ev, runtime.Meta{Time: time.Unix(0, 0).UTC(), Frame: num})
			b = append(b, '\n')
			names = append(names, out.Schema.Rules[ev.Rule].Name)
			return nil
		})
		if err != nil {
			t.Fatalf("frame %d: %v", num, err)
		}
		return string(b), names
	}
	events := 0
	for i, fr := range frames {
		rf, names := replay(ref, i+1, fr.bytes)
		for _, kern := range kerns {
			if k, _ := replay(kern, i+1, fr.bytes); k != rf {
				t.Fatalf("%s: kernel and reference disagree\nkernel:\n%sreference:\n%s", fr.what, k, rf)
			}
		}
		if fr.want != "" && !strings.Contains(" "+strings.Join(names, " ")+" ", " "+fr.want+" ") {
			t.Fatalf("%s: the reference logs %v, not the rule the frame was made for", fr.what, names)
		}
		if i < 3 && fr.want == "" && len(names) > 0 {
			t.Fatalf("%s: logged %v", fr.what, names)
		}
		events += len(names)
	}
	t.Logf("%d frames, %d events, kernel (tc and XDP builds) and reference agree", len(frames), events)

	// The same frames as a capture, replayed as `hdrlog test` does: in
	// batches of frames per test run (the batch build of the XDP program,
	// compiler.Options.Batch), against the reference frame by frame.
	path := filepath.Join(t.TempDir(), "frames.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1_700_000_000+i), 0), CaptureLength: len(fr.bytes), Length: len(fr.bytes)}
		if err := w.WritePacket(ci, fr.bytes); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	capture := func(r *runtime.Replayer, replay func(*runtime.Replayer, *runtime.Capture, io.Writer, func(runtime.Skip), func(int)) (*runtime.ReplaySummary, error)) string {
		c, err := runtime.OpenCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out strings.Builder
		if _, err := replay(r, c, &out, nil, nil); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	start = time.Now()
	batched := capture(kerns[1], runtime.Replay)
	t.Logf("the capture through the kernel in batches (%v): %v", kerns[1].Batched(), time.Since(start).Round(time.Millisecond))
	if want := capture(ref, runtime.ReplaySerial); batched != want {
		t.Fatalf("the capture: kernel (in batches) and reference disagree\nkernel:\n%s\nreference:\n%s", batched, want)
	}
	if len(kerns[1].Batched()) == 0 {
		t.Errorf("the capture's frames did not go in batches")
	}
	if got := strings.Count(batched, "\n"); got != events {
		t.Errorf("the capture gave %d events, frame by frame %d", got, events)
	}
}
