package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// After attaching, a running hdrlog keeps only the capabilities it may
// still need, in every thread, and sets no_new_privs:
//
//   - CAP_BPF and CAP_PERFMON: a reload loads programs (the verifier's
//     checks of pointer arithmetic and bounded loops need CAP_PERFMON);
//   - CAP_NET_ADMIN: attaching to interfaces that appear, and a reload
//     that adds a hook, create XDP and tcx links; loading networking
//     programs needs it too;
//   - CAP_SYS_ADMIN only with --netns (entering the namespace to attach
//     needs it), or where it stands in for a missing CAP_BPF or
//     CAP_PERFMON (kernels before 5.8).
//
// Everything else goes: from the effective and permitted sets, from the
// bounding set (when the process may change it, CAP_SETPCAP), and the
// inheritable and ambient sets are emptied. Of the three, none can go:
// besides reloads and new interfaces, which can come at any time, reading
// the lost-event counters is a bpf() call, which the kernel refuses
// without CAP_BPF where unprivileged BPF is disabled (the default).

// KeepCapabilities reduces the process to the capabilities hdrlog still
// needs (see above); withNetns keeps CAP_SYS_ADMIN for --netns. It returns
// the names of those kept and the number of those dropped from the
// permitted set.
func KeepCapabilities(withNetns bool) (kept []string, dropped int, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, 0, fmt.Errorf("read capabilities: %w", err)
	}
	permitted := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	has := func(c uint) bool { return permitted&(1<<c) != 0 }
	keep := uint64(1)<<unix.CAP_BPF | 1<<unix.CAP_PERFMON | 1<<unix.CAP_NET_ADMIN
	if withNetns || !has(unix.CAP_BPF) || !has(unix.CAP_PERFMON) {
		keep |= 1 << unix.CAP_SYS_ADMIN
	}
	keep &= permitted

	if err := allThreads(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0); errors.Is(err, unix.ENOTSUP) {
		return nil, 0, errors.New("not possible in a binary built with cgo (capabilities are per thread, and only a binary without cgo can change them in every thread); build hdrlog with CGO_ENABLED=0, as make build does")
	}
	var errs []error
	// The bounding set first: dropping from it needs CAP_SETPCAP, which
	// goes with the rest below.
	if has(unix.CAP_SETPCAP) {
		for c := uint(0); c <= unix.CAP_LAST_CAP; c++ {
			if keep&(1<<c) != 0 {
				continue
			}
			if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("drop %s from the bounding set: %w", capName(c), err))
				break
			}
		}
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("clear the ambient set: %w", err))
	}
	for i := range data {
		k := uint32(keep >> (32 * i))
		data[i].Effective, data[i].Permitted, data[i].Inheritable = k, k, 0
	}
	cerr := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	goruntime.KeepAlive(&hdr)
	goruntime.KeepAlive(&data)
	if cerr != nil {
		errs = append(errs, fmt.Errorf("set capabilities: %w", cerr))
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		errs = append(errs, fmt.Errorf("set no_new_privs: %w", err))
	}
	for c := uint(0); c <= unix.CAP_LAST_CAP; c++ {
		switch {
		case keep&(1<<c) != 0:
			kept = append(kept, capName(c))
		case permitted&(1<<c) != 0:
			dropped++
		}
	}
	return kept, dropped, errors.Join(errs...)
}

// allThreads makes a system call in every thread of the process:
// capabilities, the bounding set and no_new_privs are per thread, and Go
// runs goroutines on several threads. It is unavailable in binaries built
// with cgo.
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	if errno != 0 {
		return errno
	}
	return nil
}

// capName names the capabilities hdrlog keeps.
func capName(c uint) string {
	for _, k := range []capability{capBPF, capPerfmon, capNetAdmin, capSysAdmin} {
		if k.bit == c {
			return k.name
		}
	}
	return fmt.Sprintf("capability %d", c)
}
