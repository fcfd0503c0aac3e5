package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// failingOutput takes the first lines it is given, then fails as a full
// disk does (a short write and ENOSPC). Its first write waits for release,
// so that the test can put more events into the ring meanwhile.
type failingOutput struct {
	keep     int // lines the failing write still takes
	inWrite  chan struct{}
	release  chan struct{}
	written  bytes.Buffer
	failures int
}

func (o *failingOutput) Write(b []byte) (int, error) {
	if o.inWrite != nil {
		close(o.inWrite)
		o.inWrite = nil
		<-o.release
	}
	n := 0
	for range o.keep {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			break
		}
		n += i + 1
	}
	o.keep = 0
	o.written.Write(b[:n])
	o.failures++
	return n, syscall.ENOSPC
}

// TestStreamOutputFails: when writing fails (> /dev/full, a closed pipe),
// an event counts as written only when its line was, the events read but
// not written and those left in the ring count as not written, the
// programs are stopped first, and every event the programs sent is
// accounted for: 15 sent = 3 written + 12 not written (5 of them left in
// the ring). Before, the 10 events of the failed write counted as written
// and the 5 in the ring counted nowhere.
func TestStreamOutputFails(t *testing.T) {
	c := loadDSL(t, `rule a { hook xdp match udp log udp.srcport }`, 0)
	frame := func(sport uint16) []byte {
		return testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4("10.0.0.1", "10.0.0.2").UDP(sport, 53).Bytes()
	}
	for i := range 10 {
		if err := c.Run(rules.HookXDP, frame(uint16(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	out := &failingOutput{keep: 3, inWrite: make(chan struct{}), release: make(chan struct{})}
	stopped := 0
	var notices strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		st  runtime.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := c.Stream(ctx, out, runtime.StreamOptions{
			Notices:       &notices,
			StopProducers: func() error { stopped++; return nil },
		})
		done <- result{st, err}
	}()
	select {
	case <-out.inWrite:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream wrote nothing")
	}
	// The stream is inside its first write: five more events wait in the
	// ring when it fails.
	for i := range 5 {
		if err := c.Run(rules.HookXDP, frame(uint16(2000+i))); err != nil {
			t.Fatal(err)
		}
	}
	close(out.release)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after its output failed")
	}
	if !errors.Is(r.err, syscall.ENOSPC) || !errors.Is(r.st.OutputErr, syscall.ENOSPC) {
		t.Fatalf("stream error %v, OutputErr %v; want ENOSPC", r.err, r.st.OutputErr)
	}
	if got := strings.Count(out.written.String(), "\n"); got != 3 || out.failures != 1 {
		t.Fatalf("%d lines written in %d writes; want 3 in 1 (nothing written after the failure)", got, out.failures)
	}
	if stopped != 1 {
		t.Errorf("StopProducers called %d times, want once", stopped)
	}
	a := r.st.Rules[0]
	if a.Events != 3 || a.Unwritten != 12 || r.st.LeftInRing != 5 || a.Lost != 0 {
		t.Errorf("rule a: %d written, %d not written (%d left in the ring), %d lost; want 3, 12 (5), 0", a.Events, a.Unwritten, r.st.LeftInRing, a.Lost)
	}
	if a.Matched() != 15 {
		t.Errorf("matched %d, want 15: every event written, lost or not written", a.Matched())
	}
}

// blockedOutput blocks every write until release is closed.
type blockedOutput struct {
	inWrite chan struct{}
	release chan struct{}
	once    bool
}

func (o *blockedOutput) Write(b []byte) (int, error) {
	if !o.once {
		o.once = true
		close(o.inWrite)
	}
	<-o.release
	return len(b), nil
}

// TestStreamLossNoticeWhileOutputBlocked: events lost while the stream's
// write is blocked (stdout nobody reads) are reported on the notices writer
// during the block, not after it. Before, the notice came only once the
// write returned.
func TestStreamLossNoticeWhileOutputBlocked(t *testing.T) {
	c := loadDSL(t, `rule a { hook xdp match udp log udp.srcport }`, 4096)
	frame := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4("10.0.0.1", "10.0.0.2").UDP(1000, 53).Bytes()
	if err := c.Run(rules.HookXDP, frame); err != nil {
		t.Fatal(err)
	}
	out := &blockedOutput{inWrite: make(chan struct{}), release: make(chan struct{})}
	notices := &lineSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Stream(ctx, out, runtime.StreamOptions{Notices: notices, LostInterval: 20 * time.Millisecond})
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	<-out.inWrite
	// The stream is blocked in its first write: 4 KiB of ring hold a few
	// dozen events, the rest of 500 are lost.
	for range 500 {
		if err := c.Run(rules.HookXDP, frame); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(notices.String(), "while writing the events has been blocked") {
		if time.Now().After(deadline) {
			close(out.release)
			t.Fatalf("no loss notice while the output was blocked; notices: %q", notices.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	lost, err := c.LostCounts()
	if err != nil || lost[0] == 0 {
		t.Fatalf("lost counters %v (%v): the test lost nothing", lost, err)
	}
	close(out.release)
}
