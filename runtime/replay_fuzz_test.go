package runtime_test

import (
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// The kernel programs and the reference evaluator must log the same events
// for every frame: same rules matched, same values, same absent fields, and
// the same frames skipped. TestKernelVsReference runs a few hundred seeded
// cases; FuzzKernelVsReference is the open-ended search (make fuzz-diff).

const framesPerCase = 8

var (
	diffCases = flag.Int("diff.cases", 300, "cases of TestKernelVsReference (a rule set and 8 frames each)")
	diffSeed  = flag.Uint64("diff.seed", 0, "first seed of TestKernelVsReference")
)

func TestKernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	n := uint64(*diffCases)
	if testing.Short() {
		n = min(n, 60)
	}
	for seed := *diffSeed; seed < *diffSeed+n; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x6864726c6f67))
		rulesIn, framesIn := make([]byte, 1024), make([]byte, 4096)
		for i := range rulesIn {
			rulesIn[i] = byte(rng.Uint32())
		}
		for i := range framesIn {
			framesIn[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { diffCase(t, rulesIn, framesIn) })
	}
}

func FuzzKernelVsReference(f *testing.F) {
	for seed := uint64(0); seed < 16; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		r, fr := make([]byte, 512), make([]byte, 1024)
		for i := range r {
			r[i] = byte(rng.Uint32())
		}
		for i := range fr {
			fr[i] = byte(rng.Uint32())
		}
		f.Add(r, fr)
	}
	f.Fuzz(func(t *testing.T, rulesIn, framesIn []byte) {
		kerneltest.Require(t)
		diffCase(t, rulesIn, framesIn)
	})
}

// checkedRules generates a rule file and checks it; rules the checker
// rejects (the generator is not perfect: an empty set after masking...) are
// dropped. It returns nil when no rule is left.
func checkedRules(c *chooser) (*rules.File, *rules.RuleSet) {
	file := genRules(c)
	kept := &rules.File{Name: file.Name}
	for _, d := range file.Rules {
		if _, diags := rules.Check(&rules.File{Name: file.Name, Rules: []*rules.RuleDecl{d}}); !diags.HasErrors() {
			kept.Rules = append(kept.Rules, d)
		}
	}
	if len(kept.Rules) == 0 {
		return nil, nil
	}
	rs, diags := rules.Check(kept)
	if diags.HasErrors() {
		panic(diags.Error())
	}
	return kept, rs
}

func diffCase(t *testing.T, rulesIn, framesIn []byte) {
	file, rs := checkedRules(&chooser{data: rulesIn})
	if rs == nil {
		return
	}
	fc := &chooser{data: framesIn}
	var frames [][]byte
	for range framesPerCase {
		frames = append(frames, genFrame(fc))
	}
	d, known, err := diffFrames(rs, frames)
	for _, id := range known {
		t.Logf("known kernel divergence %s (kernel-divergences.tsv)", id)
	}
	if err == nil && d == "" {
		return
	}
	var hexes []string
	for _, fr := range frames {
		hexes = append(hexes, hex.EncodeToString(fr))
	}
	if err != nil {
		d = err.Error()
	} else {
		d = "kernel and reference disagree\n" + d
	}
	t.Fatalf("%s\nrules:\n%s\nframes (hex, one per line):\n%s", d, dslString(file), strings.Join(hexes, "\n"))
}

// diffFrames replays frames through the kernel and the reference and
// describes the first frame where they differ ("" if none). Disagreements
// that a documented kernel divergence explains are returned in known.
func diffFrames(rs *rules.RuleSet, frames [][]byte) (diff string, known []string, err error) {
	// The build the replay loads (frame.len from the test run's context).
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		return "", nil, fmt.Errorf("compile: %w", err)
	}
	// Random rule sets hold the code generator to its contract too.
	for _, p := range out.Programs {
		if err := compiler.CheckContract(p); err != nil {
			return "", nil, err
		}
	}
	kern, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		if id := explainLoad(rs, err); id != "" {
			return "", []string{id}, nil
		}
		return "", nil, fmt.Errorf("kernel replayer: %w", err)
	}
	defer kern.Close()
	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		return "", nil, fmt.Errorf("reference replayer: %w", err)
	}
	for i, fr := range frames {
		k, err := replayFrame(kern, out.Schema, i+1, fr)
		if err != nil {
			return "", known, fmt.Errorf("kernel: %w", err)
		}
		r, err := replayFrame(ref, out.Schema, i+1, fr)
		if err != nil {
			return "", known, fmt.Errorf("reference: %w", err)
		}
		if k == r {
			continue
		}
		if id := explainFrame(rs, fr); id != "" {
			known = append(known, id)
			continue
		}
		return fmt.Sprintf("frame %d: %s\nkernel:\n%sreference:\n%s", i+1, hex.EncodeToString(fr), k, r), known, nil
	}
	return "", known, nil
}
