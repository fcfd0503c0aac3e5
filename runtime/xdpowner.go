package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// An interface has one XDP hook. When it is taken, hdrlog says by what:
// the program (id, name, tag) as the interface's netlink attributes name
// it, the bpf_link that holds it if any, and the processes that hold a
// file descriptor of the link or the program (from /proc/*/fdinfo, which
// lists "link_id:" and "prog_id:" for BPF descriptors), so that the user
// knows what to stop.

// XDPHolder describes what holds the XDP hook of an interface.
type XDPHolder struct {
	ProgramID   uint32
	ProgramName string // as loaded (at most 15 characters)
	Tag         string
	Mode        string // "driver", "generic" or "offload", as netlink says
	LinkID      uint32 // 0: attached without a link (ip link set dev X xdp ..., libbpf's netlink attach)
	Owners      []string
}

// String says it in one phrase: `program 42 "xdp_fw" (tag 0123…) in driver
// mode, through link 7, held by xdpd (pid 1234)`.
func (h *XDPHolder) String() string {
	s := fmt.Sprintf("program %d", h.ProgramID)
	if h.ProgramName != "" {
		s += fmt.Sprintf(" %q", h.ProgramName)
	}
	if h.Tag != "" {
		s += " (tag " + h.Tag + ")"
	}
	if h.Mode != "" {
		s += " in " + h.Mode + " mode"
	}
	if h.LinkID != 0 {
		s += fmt.Sprintf(", through bpf_link %d", h.LinkID)
	} else {
		s += ", attached without a bpf_link"
	}
	if len(h.Owners) > 0 {
		s += ", held by " + strings.Join(h.Owners, ", ")
	}
	return s
}

// Advice says what to do about it.
func (h *XDPHolder) Advice(iface string) string {
	switch {
	case len(h.Owners) > 0 && h.LinkID != 0:
		return "stop that process (its link detaches when it exits), or attach hdrlog to another interface"
	case h.LinkID != 0:
		return fmt.Sprintf("the link is pinned in a BPF file system: remove its pin (bpftool link show id %d) to detach it", h.LinkID)
	default:
		return fmt.Sprintf("if it is no longer needed, remove it with `ip link set dev %s xdp off`; hdrlog does not replace programs it did not attach", iface)
	}
}

// xdpModes names the attach modes of IFLA_XDP_ATTACHED.
var xdpModes = map[uint32]string{1: "driver", 2: "generic", 3: "offload", 4: "several"}

// XDPHolderOf finds what holds the XDP hook of the interface with index
// ifindex in the calling thread's network namespace; nil if nothing does or
// if it cannot tell.
func XDPHolderOf(ifindex int) *XDPHolder {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil || l.Attrs().Xdp == nil || l.Attrs().Xdp.ProgId == 0 {
		return nil
	}
	x := l.Attrs().Xdp
	h := &XDPHolder{ProgramID: x.ProgId, Mode: xdpModes[x.AttachMode]}
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
		if info, err := p.Info(); err == nil {
			h.ProgramName, h.Tag = info.Name, info.Tag
		}
		p.Close()
	}
	h.LinkID = xdpLinkOf(x.ProgId, uint32(ifindex))
	h.Owners = bpfHolders(h.LinkID, x.ProgId)
	return h
}

// xdpLinkOf finds the XDP link that attaches program progID to ifindex.
func xdpLinkOf(progID, ifindex uint32) uint32 {
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType || uint32(info.Program) != progID {
			continue
		}
		if x := info.XDP(); x != nil && x.Ifindex == ifindex {
			return uint32(info.ID)
		}
	}
	return 0
}

// bpfHolders lists the processes with a descriptor of the link (or, for
// an attachment without a link, of the program), as "comm (pid N)".
func bpfHolders(linkID, progID uint32) []string {
	key, id := "prog_id:", progID
	if linkID != 0 {
		key, id = "link_id:", linkID
	}
	want := strconv.FormatUint(uint64(id), 10)
	fdinfos, _ := filepath.Glob("/proc/[0-9]*/fdinfo/*")
	seen := map[string]bool{}
	var out []string
	for _, p := range fdinfos {
		pid := strings.Split(p, "/")[2]
		if seen[pid] {
			continue
		}
		if fdinfoHas(p, key, want) {
			seen[pid] = true
			comm, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
			out = append(out, fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), pid))
		}
	}
	sort.Strings(out)
	return out
}

// fdinfoHas tells whether an fdinfo file has the line "key\tvalue".
func fdinfoHas(path, key, value string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k+":" == key && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}
