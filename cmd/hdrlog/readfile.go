package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxRuleFileSize bounds what hdrlog reads of one rule file. The largest
// real rule sets (an inline set of 100,000 addresses) take a few MB; past
// this, the file is a mistake (a log, a capture, /dev/zero behind a link)
// and reading it whole would only exhaust memory.
const maxRuleFileSize = 32 << 20

// readRuleFile reads a rule file, refusing anything but a regular file of
// at most maxRuleFileSize bytes. It opens without blocking, so that a FIFO
// (which would wait for a writer forever) is refused like a device.
func readRuleFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("rule file %s is not a regular file (it is %s); hdrlog reads rules from regular files only", path, fileKind(st.Mode()))
	}
	if st.Size() > maxRuleFileSize {
		return nil, fmt.Errorf("rule file %s is %d bytes, more than hdrlog reads (%d MiB); is it really a rule file?", path, st.Size(), maxRuleFileSize>>20)
	}
	// The file may grow after the stat: read one byte past the bound to tell.
	src, err := io.ReadAll(io.LimitReader(f, maxRuleFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	if len(src) > maxRuleFileSize {
		return nil, fmt.Errorf("rule file %s grew past %d MiB while hdrlog read it", path, maxRuleFileSize>>20)
	}
	return src, nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	default:
		return "not a regular file"
	}
}
