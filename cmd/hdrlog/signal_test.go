package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestRunSecondSignalWritesCounts: a second SIGTERM while the first one's
// drain is blocked on a full stdout pipe still exits at once, with status
// 143, but first writes what was written, lost and left in the ring buffer
// (it used to exit with no word at all).
func TestRunSecondSignalWritesCounts(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "flood.rules", "rule flood { match udp.dstport == 9999 log ip.src, ip.dst, udp.srcport, udp.dstport, udp.length }\n")
	cmd, err := p.Command("B", hdrlogBin, "run", "-i", p.PeerIf, "--poll-interval", "5ms", rules)
	if err != nil {
		t.Fatal(err)
	}
	// Standard output is a pipe nobody reads: once its 64 KiB are full,
	// every write of the stream blocks.
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Kept open (not read) to the end: a collected reader would be closed.
	defer stdoutPipe.Close()
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
	// 12,000 events of ~150 bytes: more than the pipe holds, even grown to
	// the 1 MiB hdrlog asks for.
	for i := range 12000 {
		f := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).IPv4(p.AddrA.String(), p.AddrB.String()).UDP(uint16(10000+i%50000), 9999).Bytes()
		if err := p.InjectRaw("A", p.HostIf, f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("hdrlog exited on the first SIGTERM although its stdout was blocked (%v):\n%s", err, errOut)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("hdrlog did not exit on the second SIGTERM:\n%s", errOut)
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 143 {
		t.Errorf("exit %v, want status 143", werr)
	}
	msg := errOut.String()
	if !strings.Contains(msg, "hdrlog: second SIGTERM: exiting without draining the ring buffer; ") ||
		!strings.Contains(msg, "events written and") || !strings.Contains(msg, "bytes of events were left unread in the ring buffer") {
		t.Errorf("no counts on the second SIGTERM:\n%s", msg)
	}
}
