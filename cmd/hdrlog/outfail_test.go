package main

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestRunOutputToDevFull: hdrlog run > /dev/full writes no event, so its
// summary must say none was written: the events read count as not written,
// with the reason, and the run ends with an error. It used to report as
// written every event whose write failed.
func TestRunOutputToDevFull(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "u.rules", "rule u { match udp.dstport == 9999 log ip.src, udp.srcport }\n")
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	cmd, err := p.Command("B", hdrlogBin, "run", "-i", p.PeerIf, "--poll-interval", "5ms", rules)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = full
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(errOut.String(), "streaming events") {
		if time.Now().After(deadline) {
			t.Fatalf("hdrlog run did not attach:\n%s", errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var werr error
	sent := 0
	for werr == nil {
		f := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).IPv4(p.AddrA.String(), p.AddrB.String()).UDP(uint16(10000+sent%50000), 9999).Bytes()
		if err := p.InjectRaw("A", p.HostIf, f); err != nil {
			t.Fatal(err)
		}
		sent++
		select {
		case werr = <-done:
		case <-time.After(2 * time.Millisecond):
			if sent > 100000 {
				t.Fatalf("hdrlog run did not end on a failing output:\n%s", errOut)
			}
		}
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() == 0 {
		t.Errorf("exit %v, want an error", werr)
	}
	msg := errOut.String()
	// The table has a "not written" column; the total row: 0 events.
	total := regexp.MustCompile(`(?m)^total\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(msg)
	if !strings.Contains(msg, "not written") || total == nil {
		t.Fatalf("no summary with a not-written column:\n%s", msg)
	}
	if total[1] != "0" || total[3] == "0" {
		t.Errorf("summary says %s events written and %s not written to /dev/full; want 0 and some:\n%s", total[1], total[3], msg)
	}
	if !regexp.MustCompile(`\d+ events not written: the output failed \(.*no space left on device\); \d+ of them were still in the ring buffer`).MatchString(msg) {
		t.Errorf("no reason for the events not written:\n%s", msg)
	}
}
