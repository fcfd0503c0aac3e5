package main

import (
	"fmt"
	goruntime "runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The floor under a kernel replay: what one BPF_PROG_TEST_RUN costs with a
// program that does nothing (return at once) on a 72-byte frame, one frame
// per call as a replay makes them, and what a system call that does
// nothing (getppid) costs, CPU time of the calling thread (user+system)
// per call. A replay of N frames through one hook takes at least N such
// test runs, whatever the rules.

type replayFloor struct {
	Calls   int
	Getppid float64 // ns of CPU per call
	XDPRun  float64 // ns per test run of an empty XDP program
	TCRun   float64 // ns per test run of an empty tc program
	Err     string
}

// bpfTestRunAttr is union bpf_attr's BPF_PROG_TEST_RUN member on 64-bit
// platforms (runtime/testrun.go has the same).
type bpfTestRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         unsafe.Pointer
	repeat, duration, ctxSizeIn, ctxSizeOut uint32
	ctxIn, ctxOut                           unsafe.Pointer
	flags, cpu, batchSize, _                uint32
}

func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measureReplayFloor(calls int) *replayFloor {
	res := &replayFloor{Calls: calls}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	start := threadCPU()
	for i := 0; i < calls; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	res.Getppid = float64(threadCPU()-start) / float64(calls)
	frame := make([]byte, 72)
	frame[12], frame[13] = 0x08, 0x00
	for _, c := range []struct {
		typ ebpf.ProgramType
		ret int32
		out *float64
	}{{ebpf.XDP, 2, &res.XDPRun}, {ebpf.SchedCLS, -1, &res.TCRun}} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: c.typ, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, c.ret), asm.Return()}})
		if err != nil {
			res.Err = fmt.Sprintf("load an empty %v program: %v", c.typ, err)
			return res
		}
		a := bpfTestRunAttr{progFD: uint32(prog.FD()), repeat: 1, dataIn: unsafe.Pointer(&frame[0]), dataSizeIn: uint32(len(frame))}
		start := threadCPU()
		for i := 0; i < calls; i++ {
			a.retval, a.duration = 0, 0
			if _, _, errno := unix.RawSyscall(unix.SYS_BPF, 10, uintptr(unsafe.Pointer(&a)), unsafe.Sizeof(a)); errno != 0 {
				res.Err = fmt.Sprintf("BPF_PROG_TEST_RUN of an empty %v program: %v", c.typ, errno)
				prog.Close()
				return res
			}
		}
		*c.out = float64(threadCPU()-start) / float64(calls)
		prog.Close()
	}
	return res
}
