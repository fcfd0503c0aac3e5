package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hdrlog/hdrlog/internal/capgen"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// A replay streams the capture: hdrlog test replays a capture larger than
// the memory it is allowed. The limit is RLIMIT_DATA (ulimit -d), which
// counts the memory a process writes to: RLIMIT_AS (ulimit -v) cannot be
// used on a Go program, whose runtime reserves (without using) more than
// 1.5 GB of address space at start.
func TestReplayMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 240 MB capture")
	}
	const limitKB = 200 << 10
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	syns, err := capgen.WritePcap(f, capgen.Options{Frames: 160_000, Seed: 7, Payload: 2800})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() <= limitKB<<10 {
		t.Fatalf("the capture (%d bytes) is not larger than the limit (%d KB)", st.Size(), limitKB)
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples/rules/ssh_inbound.rules"))
	if err != nil {
		t.Fatal(err)
	}
	rules := writeFile(t, dir, "ssh.rules", string(src))
	modes := []string{"--no-kernel"}
	if os.Geteuid() == 0 {
		kerneltest.Require(t)
		modes = append(modes, "")
	}
	for _, mode := range modes {
		cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -d %d && exec "$@"`, limitKB), "sh", hdrlogBin, "test", rules, "--pcap", path)
		if mode != "" {
			cmd.Args = append(cmd.Args, mode)
		}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%q under ulimit -d %d: %v\n%s", mode, limitKB, err, errb.String())
		}
		if n := strings.Count(out.String(), "\n"); n != syns {
			t.Errorf("%q: %d events, the capture holds %d SSH SYNs", mode, n, syns)
		}
		if !strings.Contains(errb.String(), "160000 frames from big.pcap") {
			t.Errorf("%q: summary: %s", mode, errb.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KB
		t.Logf("%q: %d MB capture, peak resident memory %d MB", mode, st.Size()>>20, rss>>10)
		if rss >= limitKB {
			t.Errorf("%q: peak resident memory %d KB, over the limit of %d KB", mode, rss, limitKB)
		}
	}
}
