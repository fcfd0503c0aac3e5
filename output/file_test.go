package output

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readLines reads a file, gunzipping .gz ones.
func readLines(t *testing.T, name string) []string {
	t.Helper()
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
	}
	if bytes.IndexByte(b, 0) >= 0 {
		t.Errorf("%s holds a NUL byte", name)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("%s ends in a torn line: %q", name, b[max(0, len(b)-40):])
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// line is the n-th test line: its number, then padding of a varying length.
func line(n int) string {
	return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", n%97))
}

// Rotation under a flood, with logrotate renaming the file and sending
// SIGUSR1 (Reopen) meanwhile: every line is in exactly one file, whole.
func TestFileRotationFlood(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	const maxSize = 32 << 10
	f, err := OpenFile(path, FileOptions{MaxSize: maxSize, Compress: "gzip"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	const lines = 40000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
	defer halt()
	wg.Add(1)
	moved := 0
	go func() { // logrotate: rename, then SIGUSR1
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			// PATH is missing for an instant while File rotates it.
			if err := os.Rename(path, filepath.Join(dir, "moved."+strconv.Itoa(moved+1))); errors.Is(err, os.ErrNotExist) {
				continue
			} else if err != nil {
				t.Error(err)
				return
			}
			moved++
			if err := f.Reopen(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for n := 1; n <= lines; {
		// A write holds whole lines, as the stream's flushes do, up to
		// 64 KB: more than a file takes.
		buf = buf[:0]
		for k := 1 + rng.IntN(800); k > 0 && n <= lines; k-- {
			buf = append(buf, line(n)...)
			buf = append(buf, '\n')
			n++
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	halt()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	rotated, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	moves, _ := filepath.Glob(filepath.Join(dir, "moved.*"))
	if len(rotated) < 10 || moved < 2 {
		t.Fatalf("%d rotations, %d renames by logrotate: the test did not exercise both", len(rotated), moved)
	}
	seen := make([]int, lines+1)
	for _, name := range append(append(rotated, moves...), path) {
		if !strings.HasSuffix(name, ".gz") && strings.HasPrefix(filepath.Base(name), "events.json.") {
			t.Errorf("%s: rotated but not compressed", name)
		}
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
		}
		size := 0
		for _, l := range readLines(t, name) {
			size += len(l) + 1
			var n int
			if _, err := fmt.Sscanf(l, `{"n":%d,`, &n); err != nil || n < 1 || n > lines || l != line(n) {
				t.Fatalf("%s: torn or unknown line %q", name, l)
			}
			seen[n]++
		}
		if size > maxSize {
			t.Errorf("%s: %d bytes, more than the %d of --rotate-size", name, size, maxSize)
		}
	}
	for n := 1; n <= lines; n++ {
		if seen[n] != 1 {
			t.Fatalf("line %d is in %d files, want exactly 1", n, seen[n])
		}
	}
}

// Keep: only the newest rotated files stay. Age: a file older than MaxAge
// rotates at the next write.
func TestFileKeepAndAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "e.log")
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	f, err := OpenFile(path, FileOptions{MaxSize: 1000, MaxAge: time.Hour, Keep: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 100; n++ {
		now = now.Add(time.Second)
		if _, err := f.Write([]byte(line(n) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, _ := Rotated(path)
	if len(rotated) != 3 {
		t.Fatalf("%d rotated files, want 3 (Keep): %v", len(rotated), rotated)
	}
	// The newest: the three files before the current one, in order.
	last := 0
	for _, name := range append(rotated, path) {
		ls := readLines(t, name)
		var first int
		fmt.Sscanf(ls[0], `{"n":%d,`, &first)
		if first != last+1 && last != 0 {
			t.Errorf("%s starts at line %d, want %d", name, first, last+1)
		}
		fmt.Sscanf(ls[len(ls)-1], `{"n":%d,`, &last)
	}
	if last != 100 {
		t.Errorf("the current file ends at line %d, want 100", last)
	}

	// By age: one line, an hour later another: two files.
	path2 := filepath.Join(dir, "age.log")
	f, err = OpenFile(path2, FileOptions{MaxAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(line(1) + "\n"))
	now = now.Add(59 * time.Minute)
	f.Write([]byte(line(2) + "\n"))
	now = now.Add(time.Minute)
	f.Write([]byte(line(3) + "\n"))
	f.Close()
	rotated, _ = Rotated(path2)
	if len(rotated) != 1 || len(readLines(t, rotated[0])) != 2 || len(readLines(t, path2)) != 1 {
		t.Errorf("rotation by age: rotated %v", rotated)
	}
}

// Truncation by another program (logrotate's copytruncate): the next line
// lands at the new end of the file, with no hole of NUL bytes before it.
func TestFileTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.log")
	f, err := OpenFile(path, FileOptions{MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 100; n++ {
		f.Write([]byte(line(n) + "\n"))
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(line(101) + "\n"))
	f.Close()
	if ls := readLines(t, path); len(ls) != 1 || ls[0] != line(101) {
		t.Errorf("after truncation the file holds %q", ls)
	}
}

// TestFileRotationPathAlwaysThere: while the file rotates again and again,
// PATH never goes missing (a new file is exchanged with it in one step),
// so that logrotate or a shipper that renames or opens PATH at any moment
// finds it.
func TestFileRotationPathAlwaysThere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	f, err := OpenFile(path, FileOptions{MaxSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	missing := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				missing <- n
				return
			default:
			}
			if _, err := os.Lstat(path); err != nil {
				n++
			}
		}
	}()
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 5000 {
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	n := <-missing
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) < 1000 {
		t.Fatalf("%d rotations, want one every two lines", len(rotated))
	}
	if n > 0 {
		t.Fatalf("PATH was missing %d times during %d rotations", n, len(rotated))
	}
	if _, err := os.Stat(path + ".hdrlog-new"); !os.IsNotExist(err) {
		t.Errorf("the exchange's temporary file is left: %v", err)
	}
}
