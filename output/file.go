package output

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// File is an output file that rotates: before a write that would take it
// past MaxSize bytes, or once it is older than MaxAge, it is renamed
// PATH.YYYYMMDDTHHMMSS.uuuuuuZ (the time of the rotation, UTC, so that the
// names sort in order) and a new PATH is opened. With Compress, a rotated
// file is compressed in the background to PATH.….gz and the original
// removed; with Keep, only the newest Keep rotated files are kept.
//
// Lines are never torn: the stream hands File whole lines, and a write goes
// whole into one file (a file may pass MaxSize only by a write larger than
// MaxSize, alone in its file). The file is opened O_APPEND, so when another
// program truncates it (logrotate's copytruncate), the next write lands at
// the new end: no hole, no NUL bytes. Reopen (SIGUSR1) closes the file and
// opens PATH again, for logrotate's default of renaming the file itself.
// Files are created with mode 0600: events can carry sensitive values.
type File struct {
	path string
	opts FileOptions

	mu      sync.Mutex
	f       *os.File
	size    int64
	opened  time.Time
	lastSfx string

	// One goroutine compresses and prunes the rotated files, in order.
	rotated chan string
	worker  sync.WaitGroup
	errMu   sync.Mutex
	bgErr   error // first error of the background work
}

// FileOptions say when and how a File rotates.
type FileOptions struct {
	MaxSize  int64         // rotate before passing this many bytes; 0: never by size
	MaxAge   time.Duration // rotate a non-empty file once it is this old; 0: never by age
	Keep     int           // rotated files kept (newest first); 0: every one
	Compress string        // "" or "gzip": compress rotated files
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Compressions are the values of FileOptions.Compress (besides "").
var Compressions = map[string]string{"gzip": ".gz"}

// OpenFile opens (or creates) path for appending.
func OpenFile(path string, opts FileOptions) (*File, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, ok := Compressions[opts.Compress]; opts.Compress != "" && !ok {
		return nil, fmt.Errorf("unknown compression %q (gzip)", opts.Compress)
	}
	w := &File{path: path, opts: opts, rotated: make(chan string, 64)}
	if err := w.open(); err != nil {
		return nil, err
	}
	w.worker.Add(1)
	go w.background(w.rotated)
	return w, nil
}

func (w *File) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", w.path)
	}
	w.f, w.size, w.opened = f, st.Size(), w.opts.Now()
	return nil
}

// Write writes p, which holds whole lines. It rotates first when the file
// is older than MaxAge, and splits p between files at line ends so that no
// file passes MaxSize (a line longer than MaxSize goes whole into a file of
// its own).
func (w *File) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			return 0, err
		}
	}
	written := 0
	for len(p) > 0 {
		chunk := p
		if w.opts.MaxSize > 0 && w.size+int64(len(p)) > w.opts.MaxSize {
			room := max(0, w.opts.MaxSize-w.size)
			cut := bytes.LastIndexByte(p[:min(int64(len(p)), room)], '\n') + 1
			if cut == 0 && w.size == 0 { // one line longer than MaxSize
				if cut = bytes.IndexByte(p, '\n') + 1; cut == 0 {
					cut = len(p)
				}
			}
			chunk = p[:cut]
		}
		if err := w.rotateIfDue(int64(len(chunk))); err != nil {
			return written, err
		}
		if len(chunk) == 0 {
			continue // rotated: the file is empty now
		}
		n, err := w.f.Write(chunk)
		w.size += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (w *File) rotateIfDue(next int64) error {
	bySize := w.opts.MaxSize > 0 && w.size > 0 && (next == 0 || w.size+next > w.opts.MaxSize)
	byAge := w.opts.MaxAge > 0 && w.size > 0 && w.opts.Now().Sub(w.opened) >= w.opts.MaxAge
	if !bySize && !byAge {
		return nil
	}
	if bySize {
		// The count may be stale: someone truncated the file.
		if st, err := w.f.Stat(); err == nil && st.Size() < w.size {
			w.size = st.Size()
			if w.size == 0 || next > 0 && w.size+next <= w.opts.MaxSize {
				return nil
			}
		}
	}
	return w.rotate()
}

// rotate renames the file, opens a new one, and compresses and prunes the
// rotated files in the background.
func (w *File) rotate() error {
	// Another program may have moved the file since it was opened
	// (logrotate, before its SIGUSR1): then it is theirs, and only PATH is
	// opened anew.
	mine, err := w.f.Stat()
	if err != nil {
		return err
	}
	atPath, err := os.Stat(w.path)
	moved := err != nil || !os.SameFile(mine, atPath)
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if moved {
		return w.open()
	}
	rotated := w.path + "." + w.suffix()
	if ok, err := w.exchange(rotated); ok || err != nil {
		if err != nil {
			return err
		}
		w.rotated <- rotated
		return nil
	}
	if err := os.Rename(w.path, rotated); errors.Is(err, os.ErrNotExist) {
		return w.open() // moved after all, since the check above
	} else if err != nil {
		return fmt.Errorf("rotate %s: %w", w.path, err)
	}
	if err := w.open(); err != nil {
		return err
	}
	w.rotated <- rotated
	return nil
}

// exchange rotates without a moment where PATH is missing (logrotate, a
// shipper or a test that renames PATH then would find nothing): a new
// empty file is created beside PATH and swapped with it in one
// renameat2(RENAME_EXCHANGE), and the old one, now at the new file's name,
// is renamed to rotated. It reports false, with nothing changed, where the
// file system cannot exchange; the caller renames and reopens then.
func (w *File) exchange(rotated string) (bool, error) {
	tmp := w.path + ".hdrlog-new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return false, nil
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, w.path, unix.RENAME_EXCHANGE); err != nil {
		f.Close()
		os.Remove(tmp)
		return false, nil
	}
	// PATH is the new file; tmp holds the events written so far.
	w.f, w.size, w.opened = f, 0, w.opts.Now()
	if err := os.Rename(tmp, rotated); err != nil {
		return true, fmt.Errorf("rotate %s: %w (its events are in %s)", w.path, err, tmp)
	}
	return true, nil
}

func (w *File) background(rotated <-chan string) {
	defer w.worker.Done()
	for name := range rotated {
		if w.opts.Compress != "" {
			if err := compressFile(name, Compressions[w.opts.Compress]); err != nil {
				w.setBgErr(err)
			}
		}
		if err := w.prune(); err != nil {
			w.setBgErr(err)
		}
	}
}

// suffix is the rotation time, unique among this File's rotations.
func (w *File) suffix() string {
	s := w.opts.Now().UTC().Format("20060102T150405.000000Z")
	if s <= w.lastSfx { // two rotations in one millisecond
		s = w.lastSfx + "1"
	}
	w.lastSfx = s
	return s
}

func (w *File) setBgErr(err error) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.bgErr == nil {
		w.bgErr = err
	}
}

// Rotated returns the rotated files of path, oldest first (compressed or
// not, finished compressions only).
func Rotated(path string) ([]string, error) {
	names, err := filepath.Glob(globEscape(path) + ".2*")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".tmp") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// prune removes the oldest rotated files beyond Keep. It runs after the
// compression of the newest, in the one background goroutine.
func (w *File) prune() error {
	if w.opts.Keep <= 0 {
		return nil
	}
	names, err := Rotated(w.path)
	if err != nil {
		return err
	}
	// A file and its compressed copy (during compression) are one.
	seen := map[string]bool{}
	var files []string
	for _, n := range names {
		base := n
		for _, ext := range Compressions {
			base = strings.TrimSuffix(base, ext)
		}
		if !seen[base] {
			seen[base] = true
			files = append(files, base)
		}
	}
	var errs []error
	for _, base := range files[:max(0, len(files)-w.opts.Keep)] {
		for _, n := range names {
			if n == base || strings.HasPrefix(n, base+".") {
				if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// compressFile writes name+ext (through name+ext+".tmp", renamed when
// whole) and removes name.
func compressFile(name, ext string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + ext + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close(), out.Close())
	if err == nil {
		err = os.Rename(tmp, name+ext)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compress %s: %w", name, err)
	}
	return os.Remove(name)
}

// Reopen closes the file and opens PATH again: after logrotate (or anyone)
// renamed it, writes go to a new file at PATH.
func (w *File) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return err
		}
		w.f = nil
	}
	return w.open()
}

// Close closes the file and waits for the background compressions. The
// File must not be written after.
func (w *File) Close() error {
	w.mu.Lock()
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	if w.rotated != nil {
		close(w.rotated)
		w.rotated = nil
	}
	w.mu.Unlock()
	w.worker.Wait()
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return errors.Join(err, w.bgErr)
}
