package runtime

import "golang.org/x/sys/unix"

var ebpfErrNotPermitted error = unix.EPERM
