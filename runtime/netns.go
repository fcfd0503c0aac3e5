package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netns is the network namespace hdrlog attaches in. Interface indexes
// given to the kernel (link creation) are read in the namespace of the
// calling thread, so attaching happens on a thread moved into it; netlink
// sockets are opened in it. The zero Netns (and a nil *Netns) is the
// process's own namespace.
type Netns struct {
	Name   string // as given (a path, or a name under /run/netns)
	handle netns.NsHandle
}

// netnsDir is where `ip netns add` puts named namespaces.
const netnsDir = "/run/netns"

// OpenNetns opens a network namespace by path (/proc/PID/ns/net,
// /run/netns/NAME) or by name (a name of `ip netns list`).
func OpenNetns(spec string) (*Netns, error) {
	path := spec
	if !strings.Contains(spec, "/") {
		path = filepath.Join(netnsDir, spec)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("network namespace %s: %s does not exist (a name is looked up in %s, as ip netns does; or give a path such as /proc/PID/ns/net)", spec, path, netnsDir)
		}
		return nil, fmt.Errorf("network namespace %s: %s", spec, errnoText(err))
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(h), &st); err == nil && st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		h.Close()
		return nil, fmt.Errorf("network namespace %s: %s is not a namespace file", spec, path)
	}
	return &Netns{Name: spec, handle: h}, nil
}

// Close releases the namespace.
func (n *Netns) Close() error {
	if n == nil || !n.handle.IsOpen() {
		return nil
	}
	return n.handle.Close()
}

// handleOrNone is the namespace for netlink: None means the current one.
func (n *Netns) handleOrNone() netns.NsHandle {
	if n == nil || !n.handle.IsOpen() {
		return netns.None()
	}
	return n.handle
}

// Do runs fn on an OS thread in the namespace. The thread returns to the
// process's namespace afterwards; if it cannot, it is left locked so that
// the Go runtime discards it.
func (n *Netns) Do(fn func() error) error {
	if n == nil || !n.handle.IsOpen() {
		return fn()
	}
	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("network namespace: %s", errnoText(err))
	}
	defer orig.Close()
	if err := netns.Set(n.handle); err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %s", n.Name, errnoText(err))
	}
	defer func() {
		if netns.Set(orig) == nil {
			goruntime.UnlockOSThread()
		}
	}()
	return fn()
}
