package main

import (
	"bytes"
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
// the memory it is allowed. The limit here is RLIMIT_DATA (ulimit -d), which
// counts the memory a process writes to, at 200 MB; the address space
// (ulimit -v) is bounded in TestReplayAddressSpaceBounded.
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

// hdrlog test replays a capture larger than its whole address space
// (ulimit -v, RLIMIT_AS), through the kernel and the reference evaluator:
// the capture comes through a pipe, so nothing of it can be mapped or read
// back, and every frame is read, replayed and forgotten. The limit is 2 GB:
// a Go program's runtime reserves (without using) about 1.1 GB of address
// space when it starts (its page allocator's summaries and first heap
// arena), and hdrlog test does not start under about 1.3 GB.
func TestReplayAddressSpaceBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a 2.3 GB capture")
	}
	const limitKB = 2 << 20 // 2 GB
	// One block of generated frames (20,000 frames, about 28 MB) written
	// again and again after one file header: the capture is larger than
	// the limit without the test holding it.
	var block bytes.Buffer
	blockSyns, err := capgen.WritePcap(&block, capgen.Options{Frames: 20_000, Seed: 11, Payload: 2800})
	if err != nil {
		t.Fatal(err)
	}
	const fileHeader = 24 // classic pcap
	header, records := block.Bytes()[:fileHeader], block.Bytes()[fileHeader:]
	repeats := int(int64(limitKB)<<10/int64(len(records))) + 10
	total := int64(fileHeader) + int64(repeats)*int64(len(records))
	if total <= int64(limitKB)<<10 {
		t.Fatalf("the capture (%d bytes) is not larger than the limit (%d KB)", total, limitKB)
	}
	dir := t.TempDir()
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
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// The pipe's read end is the child's descriptor 3.
		cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -v %d && exec "$@"`, limitKB), "sh", hdrlogBin, "test", rules, "--pcap", "/dev/fd/3")
		if mode != "" {
			cmd.Args = append(cmd.Args, mode)
		}
		cmd.ExtraFiles = []*os.File{r}
		var out lineCount
		var errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		written := make(chan int64, 1)
		go func() {
			var n int64
			defer func() { w.Close(); written <- n }()
			k, err := w.Write(header)
			n += int64(k)
			for i := 0; i < repeats && err == nil; i++ {
				k, err = w.Write(records)
				n += int64(k)
			}
		}()
		err = cmd.Wait()
		n := <-written
		if err != nil {
			t.Fatalf("%q under ulimit -v %d: %v\n%s", mode, limitKB, err, errb.String())
		}
		if n != total {
			t.Fatalf("%q: hdrlog read %d bytes of the %d-byte capture", mode, n, total)
		}
		if want := blockSyns * repeats; out.lines != want {
			t.Errorf("%q: %d events, the capture holds %d SSH SYNs", mode, out.lines, want)
		}
		if want := fmt.Sprintf("%d frames from", 20_000*repeats); !strings.Contains(errb.String(), want) {
			t.Errorf("%q: summary lacks %q: %s", mode, want, errb.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KB
		t.Logf("%q: %d MB capture through a pipe under ulimit -v %d MB, peak resident memory %d MB", mode, total>>20, limitKB>>10, rss>>10)
	}
}

// lineCount counts the lines written to it (events), keeping none.
type lineCount struct{ lines int }

func (l *lineCount) Write(p []byte) (int, error) {
	l.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
