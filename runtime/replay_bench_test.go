package runtime_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/capgen"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// Replay throughput on a generated capture of small TCP and UDP frames with
// examples/rules/ssh_inbound.rules (make bench has the comparison with
// tcpdump and tshark). Frames per second: b.N frames.

func benchReplay(b *testing.B, noKernel, serial bool) {
	if !noKernel {
		kerneltest.Require(b)
	}
	src, err := os.ReadFile(filepath.Join("..", "examples", "rules", "ssh_inbound.rules"))
	if err != nil {
		b.Fatal(err)
	}
	rs := mustRules(b, string(src))
	out, err := compiler.Compile(rs, compiler.Options{TestRun: !noKernel})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := capgen.WritePcap(f, capgen.Options{Frames: b.N, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	replay := runtime.Replay
	if serial {
		replay = runtime.ReplaySerial
	}
	b.ResetTimer()
	s, err := replay(r, c, io.Discard, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if s.Frames != b.N {
		b.Fatalf("replayed %d frames of %d", s.Frames, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkReplayNoKernel(b *testing.B)       { benchReplay(b, true, false) }
func BenchmarkReplayNoKernelSerial(b *testing.B) { benchReplay(b, true, true) }
func BenchmarkReplayKernel(b *testing.B)         { benchReplay(b, false, false) }
func BenchmarkReplayKernelSerial(b *testing.B)   { benchReplay(b, false, true) }
