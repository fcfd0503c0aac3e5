package runtime

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

func TestStreamRejectsBusyPollInterval(t *testing.T) {
	c := &Collection{Output: &compiler.Output{Schema: &compiler.Schema{HeaderSize: compiler.HeaderSize}}}
	for _, d := range []time.Duration{999 * time.Microsecond, time.Nanosecond, -time.Second} {
		if _, err := newStreamer(c, io.Discard, StreamOptions{PollInterval: d}); err == nil || !strings.Contains(err.Error(), "spin") {
			t.Errorf("poll interval %v: err = %v, want a refusal", d, err)
		}
	}
	s, err := newStreamer(c, io.Discard, StreamOptions{})
	if err != nil || s.opts.PollInterval != DefaultPollInterval {
		t.Errorf("default poll interval: %v, %v", s.opts.PollInterval, err)
	}
	if _, err := newStreamer(c, io.Discard, StreamOptions{PollInterval: MinPollInterval}); err != nil {
		t.Errorf("poll interval %v refused: %v", MinPollInterval, err)
	}
}

func TestBootToWall(t *testing.T) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		t.Fatal(err)
	}
	wall := time.Unix(0, ts.Nano()+bootToWall())
	if d := time.Since(wall); d < 0 || d > 50*time.Millisecond {
		t.Errorf("boot time converted to wall time is %v off", d)
	}
}

func TestAttachErrors(t *testing.T) {
	a := &Attachment{Iface: "eth0", Ifindex: 2, Hook: rules.HookXDP, Mode: ModeXDPDriver}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("failed to attach link: create link: %w", unix.EPERM), "attach xdp program to eth0: attaching programs to interfaces needs CAP_NET_ADMIN and CAP_BPF (run as root)"},
		{fmt.Errorf("create link: %w", unix.EBUSY), "already has an XDP program"},
		{fmt.Errorf("create link: %w", unix.ENODEV), "interface eth0 (#2) has gone away"},
		{fmt.Errorf("failed to attach link: create link: %w", unix.ENOSPC), "attach xdp program to eth0: no space left on device"},
	} {
		msg := explainAttachError(a, tc.err).Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q, want one line with %q", tc.err, msg, tc.want)
		}
	}
	if !noNativeXDP(fmt.Errorf("x: %w", unix.EOPNOTSUPP)) || noNativeXDP(fmt.Errorf("x: %w", unix.EPERM)) {
		t.Error("noNativeXDP: EOPNOTSUPP must fall back to generic mode, EPERM must not")
	}
}

// When the ring wakes the reader, the poll timer starts its interval over,
// so the next tick comes a whole interval later, not at the old phase. (An
// eventfd stands in for the ring's descriptor. Timers never fire early, so
// the bound below cannot fail by load; without the restart the tick comes
// about half an interval after the wake-up.)
func TestRingWaiterRestartsIntervalOnWakeup(t *testing.T) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	const interval = 200 * time.Millisecond
	w, err := newRingWaiter(efd, interval)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	time.AfterFunc(interval/2, func() {
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		_, _ = unix.Write(efd, one)
	})
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	woken := time.Now()
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(woken); d < interval*3/4 {
		t.Errorf("tick %v after the ring's wake-up; want about %v (the interval restarted)", d, interval)
	}
}
