package reference

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// A Decoder reuses its storage frame after frame: what it decodes must not
// depend on the frames before. Every frame of the project's captures, cut
// short and with bytes changed, decodes and evaluates the same through a
// Decoder that saw the other frames as through a fresh Decode.
func TestDecoderReuseMatchesFreshDecode(t *testing.T) {
	frames := captureFrames(t)
	rng := rand.New(rand.NewPCG(1, 19))
	for _, fr := range frames[:len(frames):len(frames)] {
		for _, n := range []int{14, 18, 34, 54, 62, len(fr) / 2} {
			if n < len(fr) {
				frames = append(frames, fr[:n])
			}
		}
		flipped := append([]byte(nil), fr...)
		for range 3 {
			if len(flipped) > 0 {
				flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
			}
		}
		frames = append(frames, flipped)
	}
	rng.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })

	fresh, reused := l7Evaluator(t), l7Evaluator(t)
	var d Decoder
	for i, fr := range frames {
		want, got := Decode(fr), d.Decode(fr)
		if w, g := snapshot(want), snapshot(got); w != g {
			t.Fatalf("frame %d (%x): a reused decoder gives\n%s\na fresh one\n%s", i, fr, g, w)
		}
		for _, h := range []rules.Hook{rules.HookTCIngress, rules.HookTCEgress} {
			w, g := fmt.Sprint(fresh.EvalPacket(h, want)), fmt.Sprint(reused.EvalPacket(h, got))
			if w != g {
				t.Fatalf("frame %d (%x), %s: events through a reused decoder\n%s\nthrough a fresh one\n%s", i, fr, h, g, w)
			}
		}
	}
	if len(frames) < 1000 {
		t.Fatalf("only %d frames: the captures were not read", len(frames))
	}
}

// snapshot prints every field and protocol of the catalogue the package
// decodes, at every layer, and the decoder's bookkeeping.
func snapshot(p *Packet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "end %d ext %d payload %d/%v tcplen %d/%v\n", p.HeadersEnd, p.ExtHeaders, p.IPPayload, p.IPPayloadKnown, p.TCPLen, p.HasTCPLen)
	for _, f := range rules.Fields() {
		if pr, ok := protocols[f.Name]; ok && f.Type == rules.TypeProto {
			fmt.Fprintf(&b, "%s %v\n", f.Name, pr(p))
		}
		a, ok := fields[f.Name]
		if !ok {
			continue
		}
		for layer := 1; layer <= f.MaxLayers(); layer++ {
			v := a(p, layer)
			fmt.Fprintf(&b, "%s#%d %v %d %x %x\n", f.Name, layer, v.Present, v.U, v.Bytes, v.Elems)
		}
	}
	return b.String()
}

// l7Evaluator logs every L7 field of the catalogue, on both tc hooks.
func l7Evaluator(t *testing.T) *Evaluator {
	var names []string
	for _, f := range rules.Fields() {
		if f.Header.IsL7() && f.Type != rules.TypeProto {
			names = append(names, f.Name)
		}
	}
	var src strings.Builder
	for _, hook := range []string{"tc ingress", "tc egress"} {
		for i, n := range names {
			fmt.Fprintf(&src, "rule r%d_%s {\n    hook %s\n    match %s\n    log %s\n}\n", i, strings.ReplaceAll(hook, " ", "_"), hook, n, n)
		}
	}
	f, diags := lang.ParseDSL("l7.rules", []byte(src.String()))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// captureFrames reads the frames of the project's captures.
func captureFrames(t *testing.T) [][]byte {
	var frames [][]byte
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "captures", "*", "*.pcap*"))
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var read func() ([]byte, error)
		if strings.HasSuffix(path, ".pcapng") {
			r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			read = func() ([]byte, error) { b, _, err := r.ReadPacketData(); return b, err }
		} else {
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			read = func() ([]byte, error) { b, _, err := r.ReadPacketData(); return b, err }
		}
		for {
			b, err := read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // a capture cut short ends here
			}
			frames = append(frames, b)
		}
		f.Close()
	}
	return frames
}
