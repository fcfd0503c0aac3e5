package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/output"
)

// floodUDP sends one datagram from A to B on each port of [first,
// first+n), paced so that the ring never fills.
func floodUDP(t *testing.T, p *netns.Pair, first, n int) {
	t.Helper()
	err := p.Do("A", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range n {
			dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, uint16(first+i)))
			if _, err := c.WriteToUDP([]byte("flood"), dst); err != nil {
				return err
			}
			if i%200 == 199 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A flood of events into a file that rotates every few KB, compressed,
// while logrotate renames the file and sends SIGUSR1: every event is in
// exactly one file, whole, and the files are private (0600).
func TestOutputFileRotationUnderFlood(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	r := startRun(t, p, "--poll-interval", "2ms", "-e", "udp.dstport >= 20000 && udp.dstport < 30000", "--log", "ip.src,udp.dstport",
		"-o", path, "--rotate-size", "16K", "--rotate-compress", "gzip")
	const n = 6000
	floodUDP(t, p, 20000, n/2)
	// logrotate's way: rename the file, then SIGUSR1.
	if err := os.Rename(path, filepath.Join(dir, "moved-by-logrotate.json")); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	floodUDP(t, p, 20000+n/2, n/2)
	time.Sleep(50 * time.Millisecond)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	if r.out.String() != "" {
		t.Errorf("with -o, standard output got %q", r.out.String()[:min(200, len(r.out.String()))])
	}
	if !regexp.MustCompile(`(?m)^e1 +tc ingress +` + strconv.Itoa(n) + ` +0$`).MatchString(r.errOut.String()) {
		t.Fatalf("summary: want %d events and none lost:\n%s", n, r.errOut)
	}

	rotated, err := output.Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) < 5 {
		t.Fatalf("%d rotated files, want many (16K each)", len(rotated))
	}
	seen := map[float64]int{}
	for _, name := range append(append(rotated, path), filepath.Join(dir, "moved-by-logrotate.json")) {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		} else if name != path && !strings.Contains(name, "moved") {
			t.Errorf("%s: rotated, not compressed", name)
		}
		if len(b) > 16<<10 {
			t.Errorf("%s: %d bytes, more than --rotate-size 16K", name, len(b))
		}
		if bytes.IndexByte(b, 0) >= 0 || len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s: NUL byte or torn last line", name)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: torn line %q: %v", name, sc.Text(), err)
			}
			seen[m["udp.dstport"].(float64)]++
		}
	}
	for port := 20000; port < 20000+n; port++ {
		if seen[float64(port)] != 1 {
			t.Fatalf("the event of port %d is in %d files, want exactly 1", port, seen[float64(port)])
		}
	}
}
