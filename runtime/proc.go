package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/hdrlog/hdrlog/compiler"
)

// ProcTracker is the socket hooks that record, with every IPv4 and IPv6
// socket a process creates, connects or sends a datagram from, the
// process's fields (compiler/proc.go). Packet programs that log or test
// process fields read them. The hooks attach through links at the root of
// the cgroup v2 hierarchy (every process), and the kernel detaches them
// when hdrlog exits, however it exits. A tracker outlives reloads: the
// rules change, the sockets' records stay.
type ProcTracker struct {
	Map   *ebpf.Map
	Root  string // the cgroup v2 hierarchy's root it is attached to
	coll  *ebpf.Collection
	links []link.Link
}

// ModeCgroup is a program attached to a cgroup through a link.
const ModeCgroup AttachMode = "cgroup"

// CgroupRoot returns where the cgroup v2 hierarchy is mounted (the first
// cgroup2 mount of /proc/self/mountinfo: /sys/fs/cgroup on a v2-only
// system, /sys/fs/cgroup/unified on a hybrid one).
func CgroupRoot() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source options
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted (process fields and cgroup hooks need one: mount -t cgroup2 none /sys/fs/cgroup)")
}

// StartProcTracker loads the socket hooks and attaches them at the cgroup
// v2 root.
func StartProcTracker() (*ProcTracker, error) {
	root, err := CgroupRoot()
	if err != nil {
		return nil, err
	}
	coll, err := ebpf.NewCollection(compiler.ProcTrackerSpec())
	if err != nil {
		if isPermissionError(err) {
			return nil, privilegeError(ErrPrivilege, err, capBPF, capNetAdmin, capPerfmon)
		}
		return nil, fmt.Errorf("load the socket hooks of the process fields: %w", err)
	}
	t := &ProcTracker{Map: coll.Maps[compiler.ProcMap], Root: root, coll: coll}
	for _, h := range compiler.ProcTrackers {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: h.Attach, Program: coll.Programs[h.Name]})
		if err != nil {
			t.Close()
			if isPermissionError(err) {
				return nil, privilegeError(ErrAttachPrivilege, err, capBPF, capNetAdmin)
			}
			return nil, fmt.Errorf("attach the socket hook %s to the cgroup %s: %s", h.Name, root, errnoText(err))
		}
		t.links = append(t.links, l)
	}
	return t, nil
}

// String says where the tracker is attached, for the start notice.
func (t *ProcTracker) String() string {
	return fmt.Sprintf("socket hooks for process fields (sock_create, connect, sendmsg) at cgroup %s", t.Root)
}

// Close detaches the hooks and releases the map. It is safe to call more
// than once, and on nil.
func (t *ProcTracker) Close() error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.coll != nil {
		t.coll.Close()
		t.coll = nil
	}
	return errors.Join(errs...)
}
