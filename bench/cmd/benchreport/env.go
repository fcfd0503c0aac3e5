package main

import (
	"bufio"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/bench/internal/measure"
)

// env records what the figures depend on.
type env struct {
	Date       string
	Kernel     string
	CPU        string
	NumCPU     int
	Go         string
	Clang      string
	Tcpdump    string
	CiliumEBPF string
	Commit     string
	BPFStats   bool
	PinnedCPU  int
	LoadBefore string
	LoadAfter  string
	Elapsed    time.Duration
}

func environment(b *bench) env {
	e := env{Date: time.Now().UTC().Format(time.RFC3339), Go: goruntime.Version(), NumCPU: goruntime.NumCPU(), PinnedCPU: b.cpu}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	e.Clang = firstLine("clang", "--version")
	e.Tcpdump = strings.ReplaceAll(firstLines(2, "tcpdump", "--version"), "\n", ", ")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/cilium/ebpf" {
				e.CiliumEBPF = d.Version
			}
		}
	}
	e.Commit = firstLine("git", "rev-parse", "--short", "HEAD")
	if out, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/REPORT.md").Output(); len(out) > 0 {
		e.Commit += " (work tree has uncommitted changes)"
	}
	var err error
	if e.BPFStats, err = measure.BPFStatsEnabled(); err != nil {
		e.BPFStats = true // unknown counts as on: refuse to measure
	}
	e.LoadBefore = loadavg()
	return e
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func firstLine(name string, args ...string) string { return firstLines(1, name, args...) }

func firstLines(n int, name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unavailable (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
