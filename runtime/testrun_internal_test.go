package runtime

import (
	goruntime "runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// The cost of one replayed frame at one hook, by the way the test run is
// made: ebpf.Program.Run (what Collection.RunWire does) against testRunner,
// for a frame no rule logs, at tc and at XDP. ns/op is the wall clock of
// one test run, system call included; cpu-ns/op the thread's CPU time.
func benchTestRun(b *testing.B, hook string, raw bool) {
	kerneltest.Require(b)
	f, diags := lang.ParseDSL("b.rules", []byte(`rule r { hook `+hook+` match tcp.dstport == 22 && tcp.flags.syn == 1 log ip.src }`))
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		b.Fatal(err)
	}
	c, err := Load(out, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := rs.Rules[0].Hook
	frame := testpkt.New().IPv4("192.0.2.1", "10.0.0.1").TCP(40000, 80).Bytes()
	t := newTestRunner(c)
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	for range b.N {
		if raw {
			err = t.run(h, frame, len(frame), 0)
		} else {
			err = c.RunWire(h, frame, len(frame))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// threadCPU is the calling thread's user+system time in ns: on a shared
// machine, the wall clock also counts the time other processes ran.
func threadCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkTestRunTCProgramRun(b *testing.B)  { benchTestRun(b, "tc ingress", false) }
func BenchmarkTestRunTCRaw(b *testing.B)         { benchTestRun(b, "tc ingress", true) }
func BenchmarkTestRunXDPProgramRun(b *testing.B) { benchTestRun(b, "xdp", false) }
func BenchmarkTestRunXDPRaw(b *testing.B)        { benchTestRun(b, "xdp", true) }
