package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// A replay makes one BPF_PROG_TEST_RUN per frame and hook, so the cost of
// the call around the program counts. ebpf.Program.Run masks SIGPROF
// around every test run (two rt_sigprocmask calls: three system calls per
// frame) and allocates the context; testRunner makes the bpf system call
// alone, with an attribute block and buffers it reuses. Masking SIGPROF
// protects program loads from a livelock; a test run with repeat 1 runs
// the program once whatever signal comes (EINTR after the run).

// testRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr
// (include/uapi/linux/bpf.h), as the kernel lays it out on 64-bit
// platforms.
type testRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      unsafe.Pointer
	dataOut     unsafe.Pointer
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       unsafe.Pointer
	ctxOut      unsafe.Pointer
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// The layout holds where pointers take 8 bytes: elsewhere the build fails
// here rather than the kernel reading garbage.
var _ [unsafe.Sizeof(testRunAttr{}) - 80]byte
var _ [80 - unsafe.Sizeof(testRunAttr{})]byte

const bpfProgTestRun = 10 // BPF_PROG_TEST_RUN

// testRunner runs one collection's programs on frames, one test run each.
// It is not safe for concurrent use: each replay worker has its own.
type testRunner struct {
	c    *Collection
	attr testRunAttr
	buf  []byte // XDP: testRunMeta bytes of metadata (frame.len, the frame's time), then the frame
	ctx  []byte // tc: __sk_buff up to wire_len; XDP: struct xdp_md's data, data_end
}

func newTestRunner(c *Collection) *testRunner {
	return &testRunner{c: c, buf: make([]byte, testRunMeta+DefaultTestRunLimits.XDPMaxFrame), ctx: make([]byte, 256)}
}

// testRunMeta is the metadata an XDP test run passes before the frame: the
// u32 length on the wire at 0 (frame.len), the u64 time of the frame in
// nanoseconds at 8 (transactions' times). tc test runs pass them in the
// context: wire_len and tstamp.
const testRunMeta = 16

// run is Collection.RunAt with one bpf system call.
func (t *testRunner) run(h rules.Hook, frame []byte, wireLen int, tstamp uint64) error {
	p, ok := t.c.Programs[h]
	if !ok {
		return fmt.Errorf("no program for hook %s", h)
	}
	if !t.c.Output.Options.TestRun {
		return fmt.Errorf("the %s program was not compiled for test runs", h)
	}
	if len(frame) == 0 {
		return errors.New("empty frame")
	}
	wireLen = max(wireLen, len(frame))
	a := &t.attr
	*a = testRunAttr{progFD: uint32(p.FD()), repeat: 1}
	if fl := compiler.FlavourOf(h); fl.CtxWireLen >= 0 {
		if wireLen > TCMaxWireLen {
			return fmt.Errorf("a tc test run carries at most %d bytes on the wire, not %d", TCMaxWireLen, wireLen)
		}
		n := fl.CtxWireLen + 4
		clear(t.ctx[:n])
		binary.NativeEndian.PutUint32(t.ctx[fl.CtxWireLen:], uint32(wireLen))
		binary.NativeEndian.PutUint64(t.ctx[fl.CtxTstamp:], tstamp)
		a.dataIn, a.dataSizeIn = unsafe.Pointer(&frame[0]), uint32(len(frame))
		a.ctxIn, a.ctxSizeIn = unsafe.Pointer(&t.ctx[0]), uint32(n)
	} else {
		// struct xdp_md: data is the metadata's length, data_end the size.
		if testRunMeta+len(frame) > len(t.buf) {
			t.buf = make([]byte, testRunMeta+len(frame))
		}
		clear(t.buf[:testRunMeta])
		binary.NativeEndian.PutUint32(t.buf, uint32(wireLen))
		binary.NativeEndian.PutUint64(t.buf[8:], tstamp)
		copy(t.buf[testRunMeta:], frame)
		binary.NativeEndian.PutUint32(t.ctx[0:], testRunMeta)
		binary.NativeEndian.PutUint32(t.ctx[4:], uint32(testRunMeta+len(frame)))
		a.dataIn, a.dataSizeIn = unsafe.Pointer(&t.buf[0]), uint32(testRunMeta+len(frame))
		a.ctxIn, a.ctxSizeIn = unsafe.Pointer(&t.ctx[0]), 8
	}
	// A raw system call: a test run of one frame takes microseconds and
	// never blocks, so telling the scheduler (entersyscall, exitsyscall)
	// costs more than it could win; the worker's thread is locked anyway.
	_, _, errno := unix.RawSyscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(a)), unsafe.Sizeof(*a))
	if errno != 0 && errno != unix.EINTR {
		return fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
	}
	return nil
}
