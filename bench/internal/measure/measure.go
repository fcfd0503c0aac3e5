// Package measure times BPF programs with BPF_PROG_TEST_RUN on one pinned
// CPU and summarises repeated trials.
package measure

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Pin locks the calling goroutine to its OS thread and that thread to cpu.
// Call it from the goroutine that runs the measurements; Unpin undoes it.
func Pin(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin thread to CPU %d: %w", cpu, err)
	}
	return nil
}

// Unpin lets the thread run anywhere again and unlocks it.
func Unpin() {
	var set unix.CPUSet
	for i := 0; i < runtime.NumCPU(); i++ {
		set.Set(i)
	}
	_ = unix.SchedSetaffinity(0, &set)
	runtime.UnlockOSThread()
}

// BPFStatsEnabled reads kernel.bpf_stats_enabled (run-time statistics
// inflate test-run timings several times).
func BPFStatsEnabled() (bool, error) {
	b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) != "0", nil
}

// Sample is one timed BPF_PROG_TEST_RUN call.
type Sample struct {
	// Wall is the wall-clock time of the call divided by repeat: sub-ns
	// resolution; the call's fixed cost (building the skb, copying the
	// frame once) is spread over repeat runs. For XDP with repeat > 1 it
	// includes the dispatcher re-patching (~2x16 ms a call).
	Wall float64
	// Kernel is the kernel's own time per run (whole nanoseconds,
	// truncated), which excludes the call's setup.
	Kernel float64
	Ret    uint32
}

// Run runs prog repeat times over frame in one BPF_PROG_TEST_RUN call.
func Run(prog *ebpf.Program, frame []byte, repeat int) (Sample, error) {
	start := time.Now()
	ret, d, err := prog.Benchmark(frame, repeat, nil)
	el := time.Since(start)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Wall: float64(el.Nanoseconds()) / float64(repeat), Kernel: float64(d.Nanoseconds()), Ret: ret}, nil
}

// Stats summarises trials.
type Stats struct {
	N                int
	Median, Min, Max float64
	Q1, Q3           float64
	Samples          []float64
}

// Summarise computes the statistics of samples.
func Summarise(samples []float64) Stats {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	st := Stats{N: len(s), Samples: samples}
	if len(s) == 0 {
		return st
	}
	st.Min, st.Max = s[0], s[len(s)-1]
	st.Median = quantile(s, 0.5)
	st.Q1, st.Q3 = quantile(s, 0.25), quantile(s, 0.75)
	return st
}

func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	f := pos - float64(i)
	return s[i]*(1-f) + s[i+1]*f
}

// Sub returns per-trial differences a[i]-b[i] (the trials of a and b were
// taken in the same rounds) summarised.
func Sub(a, b []float64) (Stats, error) {
	if len(a) != len(b) {
		return Stats{}, errors.New("measure: different trial counts")
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return Summarise(d), nil
}
