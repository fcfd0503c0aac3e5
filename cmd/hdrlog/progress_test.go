package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

func TestRenderProgress(t *testing.T) {
	for _, c := range []struct {
		read, size int64
		frames     int
		elapsed    time.Duration
		want       string
	}{
		{0, 1000, 0, 0, "[..............................]   0%  0 frames"},
		{250, 1000, 1_250_000, time.Second, "[#######.......................]  25%  1250000 frames  1.25M frames/s  ETA 0:03"},
		{500, 1000, 45_000, 30 * time.Second, "[###############...............]  50%  45000 frames  1.5k frames/s  ETA 0:30"},
		{1, 3600, 20_000, 10 * time.Second, "[..............................]   0%  20000 frames  2.0k frames/s  ETA 9:59:50"},
		{1000, 1000, 900, 2 * time.Second, "[##############################] 100%  900 frames  450 frames/s"},
		{10, 0, 5, time.Second, "[..............................]   0%  5 frames  5 frames/s"},
	} {
		if got := renderProgress(c.read, c.size, c.frames, c.elapsed); got != c.want {
			t.Errorf("renderProgress(%d, %d, %d, %v)\n got %q\nwant %q", c.read, c.size, c.frames, c.elapsed, got, c.want)
		}
	}
}

// Piped, the bar writes nothing; on a terminal (a pseudo-terminal here) it
// draws frames/s and the time left, and clears its line at the end.
func TestProgressBarOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := &progressBar{w: &buf, source: func() (int64, int64) { return 1, 2 }, nowFunc: time.Now}
	b.update(1)
	b.clear()
	if buf.Len() != 0 {
		t.Errorf("not a terminal: the bar wrote %q", buf.String())
	}

	dir := t.TempDir()
	rules := writeFile(t, dir, "ssh.rules", sshRules)
	capture, _ := filepath.Abs(filepath.Join(repoRoot, "testdata/captures/tcpdump/ssh.pcap"))
	code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--no-kernel")
	if code != 0 || strings.ContainsAny(stderr, "\r\033") || strings.Contains(stderr, "frames/s") {
		t.Errorf("stderr piped: exit %d, stderr %q", code, stderr)
	}

	master, slave, err := openPTY()
	if err != nil {
		if kerneltest.InCI() {
			t.Fatalf("no pseudo-terminal: %v", err)
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	cmd := exec.Command(hdrlogBin, "test", rules, "--pcap", capture, "--no-kernel")
	cmd.Dir = dir
	cmd.Stderr = slave
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(master) // EIO once the last holder of the terminal is gone
		read <- b
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	tty := string(<-read)
	for _, want := range []string{"\r[", "frames/s", "\r\033[K", "54 frames from ssh.pcap"} {
		if !strings.Contains(tty, want) {
			t.Errorf("on a terminal: no %q in %q", want, tty)
		}
	}
	if strings.Count(out.String(), "\n") != 22 {
		t.Errorf("on a terminal: stdout has %d events, want 22", strings.Count(out.String(), "\n"))
	}
}

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname).
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}
