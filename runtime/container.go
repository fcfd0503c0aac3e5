package runtime

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// container.id: the container a process runs in, found in user space from
// its cgroup id (the inode number of its cgroup v2 directory) when the
// event is written: the directory's path names the container in the
// layouts of the common runtimes (docs/syscalls.md). As Falco's
// container.id: the first 12 hex digits of the id, "host" for a process in
// no container, and null when the cgroup is gone before the event is
// written.

// containerPatterns find a container id in a cgroup path, tried in order
// on each path element from the last:
//
//	docker-ID.scope                 docker (systemd cgroup driver)
//	cri-containerd-ID.scope         containerd's CRI plugin (systemd driver)
//	crio-ID.scope                   CRI-O
//	libpod-ID.scope                 podman (libpod-conmon-ID.scope is its monitor: host)
//	ID                              cgroupfs drivers: /docker/ID, /kubepods/burstable/podUID/ID
var containerPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})\.scope$`),
	regexp.MustCompile(`^([0-9a-f]{64})$`),
}

// ContainerID returns the container id (12 hex digits) a cgroup path
// names, or "host".
func ContainerID(path string) string {
	elems := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(elems) - 1; i >= 0; i-- {
		for _, re := range containerPatterns {
			if m := re.FindStringSubmatch(elems[i]); m != nil {
				return m[1][:12]
			}
		}
	}
	return "host"
}

// cgroupNames maps cgroup ids to container ids, from walks of the cgroup
// v2 hierarchy: a walk on a miss, at most one a second.
type cgroupNames struct {
	mu       sync.Mutex
	root     string
	byID     map[uint64]string
	lastWalk time.Time
}

var cgroups = &cgroupNames{}

// container returns the container id of cgroup id, and whether the cgroup
// was found.
func (c *cgroupNames) container(id uint64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byID[id]; ok {
		return s, true
	}
	if time.Since(c.lastWalk) < time.Second {
		return "", false
	}
	c.walk()
	s, ok := c.byID[id]
	return s, ok
}

func (c *cgroupNames) walk() {
	c.lastWalk = time.Now()
	if c.root == "" {
		root, err := CgroupRoot()
		if err != nil {
			return
		}
		c.root = root
	}
	byID := map[uint64]string{}
	filepath.WalkDir(c.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Stat(path, &st) == nil {
			byID[st.Ino] = ContainerID(strings.TrimPrefix(path, c.root))
		}
		return nil
	})
	c.byID = byID
}

// appendContainer writes container.id for cgroup id: a JSON string, or
// null when the cgroup is not found.
func appendContainer(buf []byte, id uint64) []byte {
	s, ok := cgroups.container(id)
	if !ok {
		return append(buf, "null"...)
	}
	return append(append(append(buf, '"'), s...), '"')
}
