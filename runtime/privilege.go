package runtime

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// A refusal for lack of privileges is reported in one line that names the
// capabilities the process lacks, rather than as the library's errno chain.

type capability struct {
	bit  uint
	name string
}

var (
	capNetAdmin = capability{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}
	capSysAdmin = capability{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}
	capPerfmon  = capability{unix.CAP_PERFMON, "CAP_PERFMON"}
	capBPF      = capability{unix.CAP_BPF, "CAP_BPF"}
)

// effectiveCaps returns the calling thread's effective capability set.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// missingCaps names those of caps the process lacks. CAP_SYS_ADMIN stands
// in for CAP_BPF and CAP_PERFMON, as the kernel lets it.
func missingCaps(caps ...capability) []string {
	eff, err := effectiveCaps()
	if err != nil {
		return nil
	}
	has := func(c capability) bool { return eff&(1<<c.bit) != 0 }
	var out []string
	for _, c := range caps {
		if has(c) || (c != capNetAdmin && has(capSysAdmin)) {
			continue
		}
		out = append(out, c.name)
	}
	return out
}

// privilegeError builds the one-line error for a refused operation: what
// it needs, and what this process lacks.
func privilegeError(sentinel error, err error, caps ...capability) error {
	lack := missingCaps(caps...)
	if len(lack) == 0 {
		return fmt.Errorf("%w; the process has these capabilities, so a security module or a sysctl forbids it (%s)", sentinel, errnoText(err))
	}
	return fmt.Errorf("%w; this process lacks %s", sentinel, strings.Join(lack, ", "))
}

func isPermissionError(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}
