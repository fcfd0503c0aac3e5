package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/runtime"
)

// progressBar draws a replay's progress on stderr when it is a terminal, at
// most ten times a second: how much of the file is read, the frames so far,
// frames per second and the time left. Piped or redirected, it writes
// nothing.
type progressBar struct {
	w       io.Writer
	source  func() (read, size int64)
	on      bool
	start   time.Time
	last    time.Time
	drawn   bool
	width   int // terminal columns; 0: unknown
	nowFunc func() time.Time
}

func newProgressBar(w io.Writer, c *runtime.Capture) *progressBar {
	b := &progressBar{w: w, source: c.Progress, nowFunc: time.Now}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		b.on = err == nil
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			b.width = int(ws.Col)
		}
	}
	b.start = b.nowFunc()
	return b
}

func (b *progressBar) update(frames int) {
	if !b.on {
		return
	}
	now := b.nowFunc()
	if now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	read, size := b.source()
	line := renderProgress(read, size, frames, now.Sub(b.start))
	if b.width > 1 && len(line) >= b.width {
		line = line[:b.width-1] // one line, or \r would not go back to its start
	}
	fmt.Fprint(b.w, "\r"+line+"\033[K")
	b.drawn = true
}

func (b *progressBar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}

// renderProgress is the bar's line: read of size bytes and frames replayed
// after elapsed. The rate is the mean since the start; the time left
// assumes the rest of the file goes at the rate the bytes so far went (of a
// compressed file, compressed bytes).
func renderProgress(read, size int64, frames int, elapsed time.Duration) string {
	frac := 0.0
	if size > 0 {
		frac = min(1, float64(read)/float64(size))
	}
	const width = 30
	n := int(frac * width)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %3.0f%%  %d frames", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, frames)
	secs := elapsed.Seconds()
	if secs <= 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "  %s frames/s", siRate(float64(frames)/secs))
	if frac > 0 && frac < 1 {
		left := time.Duration(float64(elapsed) * (1 - frac) / frac)
		fmt.Fprintf(&b, "  ETA %s", clock(left))
	}
	return b.String()
}

// siRate writes a rate with k or M: 950, 12.3k, 1.25M.
func siRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// clock writes a duration as m:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
