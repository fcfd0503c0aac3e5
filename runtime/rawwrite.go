package runtime

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter writes the stream's output with raw write(2) calls where a write
// cannot block for long: regular files, character devices that are not
// terminals (/dev/null), and pipes with room for the whole write. A regular
// system call in Go wakes the runtime's monitor thread when it sleeps, which
// it does between polls; at one flush per poll that wake-up costs more CPU
// than writing the events (see ringWaiter). Everything else (terminals,
// sockets, a full pipe) goes through the file's own Write, which lets the
// runtime run other goroutines while it blocks.
type rawWriter struct {
	f    *os.File
	fd   uintptr
	pipe bool
}

// directOutput returns w, or a rawWriter for w when w is a file that raw
// writes suit.
func directOutput(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return w
	}
	// The descriptor through SyscallConn: f.Fd() would switch it to
	// blocking mode, and a pipe's mode is shared with its other holders.
	// f stays open as long as the stream writes to it.
	rc, err := f.SyscallConn()
	if err != nil {
		return w
	}
	var fd uintptr
	if err := rc.Control(func(d uintptr) { fd = d }); err != nil {
		return w
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return w
	}
	rw := &rawWriter{f: f, fd: fd}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFCHR:
		if _, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); err == nil {
			return w // a terminal: output can stop (^S, a slow link)
		}
	case unix.S_IFIFO:
		rw.pipe = true
		// Room for a few polls' worth of events: a reader that lags
		// briefly then costs nothing, and raw writes fit more often.
		// Best effort: the limit for users other than root is
		// /proc/sys/fs/pipe-max-size.
		if size, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && size < pipeSize {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
		}
	default:
		return w
	}
	return rw
}

// pipeRoom reports whether the pipe has room for n more bytes: its capacity
// minus what waits in it, less a page per write already queued could
// occupy a slot of its own (a conservative margin).
func (w *rawWriter) pipeRoom(n int) bool {
	size, _, e1 := syscall.RawSyscall(syscall.SYS_FCNTL, w.fd, unix.F_GETPIPE_SZ, 0)
	var queued int32
	_, _, e2 := syscall.RawSyscall(syscall.SYS_IOCTL, w.fd, unix.TIOCINQ, uintptr(unsafe.Pointer(&queued)))
	if e1 != 0 || e2 != 0 {
		return false
	}
	page := os.Getpagesize()
	return int(queued)+n+2*page <= int(size)/2
}

// pipeSize is the capacity directOutput asks for a pipe.
const pipeSize = 1 << 20

func (w *rawWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.pipe && !w.pipeRoom(len(p)) {
		return w.f.Write(p)
	}
	done := 0
	for done < len(p) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, w.fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
		switch errno {
		case 0:
			done += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			// A non-blocking descriptor that is full: let the file wait.
			m, err := w.f.Write(p[done:])
			return done + m, err
		default:
			return done, &os.PathError{Op: "write", Path: w.f.Name(), Err: errno}
		}
	}
	return done, nil
}
