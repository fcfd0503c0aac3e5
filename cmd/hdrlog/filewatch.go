package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// --watch follows the rule files through inotify. It watches directories,
// not files: editors replace a file by renaming a new one over it, and a
// Kubernetes ConfigMap volume replaces all its files at once by renaming a
// symbolic link (..data) to a new directory; both are events in the
// directory, while a watch on the old file would only see it vanish. A
// burst of events (an editor's save, a ConfigMap update) gives one reload
// once the directory has been quiet for watchQuiet.

// watchQuiet is how long the rule directories must be quiet before a reload.
const watchQuiet = 100 * time.Millisecond

// configMapLink is the symbolic link a Kubernetes ConfigMap or Secret
// volume renames to publish a new version of its files.
const configMapLink = "..data"

type fileWatcher struct {
	f *os.File
	// watch descriptor -> what in its directory matters: nil means every
	// rule file (a directory argument), otherwise the names of the files
	// named on the command line.
	dirs  map[int32]map[string]bool
	paths map[int32]string
	// also are files named on the command line (or set files) in a
	// directory watched whole, which are not rule files.
	also map[int32]map[string]bool
}

func newFileWatcher(args []string) (*fileWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("--watch: inotify: %w", err)
	}
	fw := &fileWatcher{f: os.NewFile(uintptr(fd), "inotify"), dirs: map[int32]map[string]bool{}, paths: map[int32]string{}, also: map[int32]map[string]bool{}}
	const mask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB
	for _, arg := range args {
		dir, name := arg, ""
		if st, err := os.Stat(arg); err != nil || !st.IsDir() {
			dir, name = filepath.Dir(arg), filepath.Base(arg)
		}
		wd, err := unix.InotifyAddWatch(fd, dir, mask)
		if err != nil {
			fw.close()
			return nil, fmt.Errorf("--watch: watch %s: %w", dir, err)
		}
		w := int32(wd)
		fw.paths[w] = dir
		names, seen := fw.dirs[w]
		switch {
		case name == "":
			fw.dirs[w] = nil
		case seen && names == nil: // the whole directory is watched already
			if fw.also[w] == nil {
				fw.also[w] = map[string]bool{}
			}
			fw.also[w][name] = true
		default:
			if names == nil {
				names = map[string]bool{}
			}
			names[name] = true
			fw.dirs[w] = names
		}
	}
	return fw, nil
}

// relevant tells whether an event on name in the directory of wd can
// change the rules.
func (fw *fileWatcher) relevant(wd int32, name string) bool {
	if name == configMapLink {
		return true
	}
	names, ok := fw.dirs[wd]
	if !ok {
		return false
	}
	if fw.also[wd][name] {
		return true
	}
	if names == nil {
		_, rule := frontEnds[filepath.Ext(name)]
		return rule && !strings.HasPrefix(name, ".")
	}
	return names[name]
}

// run sends a reason to reloads after each quiet burst of relevant events.
func (fw *fileWatcher) run(ctx context.Context, reloads chan<- string) {
	changed := make(chan string, 64)
	go fw.read(changed)
	var timer <-chan time.Time
	var what string
	for {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-changed:
			if !ok {
				return
			}
			what = name
			timer = time.After(watchQuiet)
		case <-timer:
			timer = nil
			select {
			case reloads <- "rule files changed (" + what + ")":
			case <-ctx.Done():
				return
			}
		}
	}
}

// read decodes inotify events and sends the paths of relevant ones.
func (fw *fileWatcher) read(changed chan<- string) {
	defer close(changed)
	buf := make([]byte, 64<<10)
	for {
		n, err := fw.f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			name := strings.TrimRight(string(nameBytes), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 || fw.relevant(ev.Wd, name) {
				select {
				case changed <- filepath.Join(fw.paths[ev.Wd], name):
				default: // a reload is coming anyway
				}
			}
		}
	}
}

func (fw *fileWatcher) close() error { return fw.f.Close() }
