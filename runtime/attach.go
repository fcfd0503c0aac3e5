package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Attaching uses bpf_link only (XDP links and tcx links). A link belongs to
// the file descriptor that created it: when hdrlog exits, however it exits,
// the kernel detaches its programs. Nothing is pinned, and no qdisc, filter
// or program that hdrlog did not create is ever touched.

// AttachMode says how a program is attached.
type AttachMode string

const (
	ModeTCX        AttachMode = "tcx"     // tc ingress or egress through a tcx link
	ModeXDPDriver  AttachMode = "driver"  // native XDP, in the driver's receive path
	ModeXDPGeneric AttachMode = "generic" // generic (SKB) XDP, for drivers without native XDP
)

// maxIfname is the longest interface name the kernel accepts.
const maxIfname = unix.IFNAMSIZ - 1

// Attachment is one program attached to one interface. Close detaches it.
type Attachment struct {
	Iface   string
	Ifindex int
	Hook    rules.Hook
	Mode    AttachMode
	// Fallback is why driver-mode XDP was not used (ModeXDPGeneric only).
	Fallback string

	link link.Link
}

// String describes the attachment in one line: "eth0 (#2): xdp, driver mode".
func (a *Attachment) String() string {
	s := fmt.Sprintf("%s (#%d): %s", a.Iface, a.Ifindex, a.Hook)
	switch a.Mode {
	case ModeXDPDriver, ModeXDPGeneric:
		s += ", " + string(a.Mode) + " mode"
		if a.Fallback != "" {
			s += " (no native XDP: " + a.Fallback + ")"
		}
	}
	return s
}

// Close detaches the program. It is safe to call more than once.
func (a *Attachment) Close() error {
	if a.link == nil {
		return nil
	}
	err := a.link.Close()
	a.link = nil
	if err != nil {
		return fmt.Errorf("detach %s from %s: %w", a.Hook, a.Iface, err)
	}
	return nil
}

// Attachments is what one Attach call (or several) attached.
type Attachments []*Attachment

// Close detaches every attachment and reports every failure.
func (as Attachments) Close() error {
	var errs []error
	for _, a := range as {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}

// Interfaces maps the interface index of every attachment to its name, for
// StreamOptions.Interfaces.
func (as Attachments) Interfaces() map[uint32]string {
	m := map[uint32]string{}
	for _, a := range as {
		m[uint32(a.Ifindex)] = a.Iface
	}
	return m
}

// ErrAttachPrivilege is returned (wrapped) when the kernel refuses to attach
// for lack of privileges.
var ErrAttachPrivilege = errors.New("attaching programs to interfaces needs CAP_NET_ADMIN and CAP_BPF (run as root)")

// Attach attaches every program of the collection to the interface named
// iface, in the network namespace of the calling OS thread. If one program
// cannot be attached, those attached before it are detached again.
func (c *Collection) Attach(iface string) (Attachments, error) {
	ifi, err := lookupInterface(iface)
	if err != nil {
		return nil, err
	}
	var as Attachments
	for _, h := range rules.Hooks {
		prog, ok := c.Programs[h]
		if !ok {
			continue
		}
		a, err := AttachProgram(prog, h, ifi.Index, ifi.Name)
		if err != nil {
			if cerr := as.Close(); cerr != nil {
				err = fmt.Errorf("%w (and undoing the attachments before it: %v)", err, cerr)
			}
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// AttachProgram attaches one loaded program at hook h of the interface with
// index ifindex (name is for messages). XDP programs are attached in driver
// mode when the driver has native XDP, otherwise in generic mode; TC
// programs through tcx: first at ingress and last at egress, so that hdrlog
// sees frames where tcpdump does (before other programs change or drop them
// on the way in, after them on the way out). hdrlog's programs always
// return TCX_NEXT, so their place never changes what the others see.
func AttachProgram(prog *ebpf.Program, h rules.Hook, ifindex int, name string) (*Attachment, error) {
	a := &Attachment{Iface: name, Ifindex: ifindex, Hook: h}
	var err error
	switch h {
	case rules.HookXDP:
		a.Mode = ModeXDPDriver
		a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
		if err != nil && noNativeXDP(err) {
			a.Mode, a.Fallback = ModeXDPGeneric, errnoText(err)
			a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
		}
	case rules.HookTCIngress, rules.HookTCEgress:
		a.Mode = ModeTCX
		anchor := link.Head()
		if h == rules.HookTCEgress {
			anchor = link.Tail()
		}
		a.link, err = link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifindex,
			Attach: compiler.FlavourOf(h).AttachType, Anchor: anchor})
	default:
		return nil, fmt.Errorf("cannot attach to unknown hook %d", h)
	}
	if err != nil {
		return nil, explainAttachError(a, err)
	}
	return a, nil
}

// noNativeXDP tells whether a driver-mode XDP attach failed because the
// driver has no native XDP (or refuses it for this device's configuration),
// so that generic mode is worth trying.
func noNativeXDP(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE)
}

func explainAttachError(a *Attachment, err error) error {
	where := fmt.Sprintf("attach %s program to %s", a.Hook, a.Iface)
	switch {
	case isPermissionError(err):
		return fmt.Errorf("%s: %w", where, privilegeError(ErrAttachPrivilege, err, capNetAdmin, capBPF))
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%s: interface %s (#%d) has gone away", where, a.Iface, a.Ifindex)
	case a.Hook == rules.HookXDP && (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST)):
		if h := XDPHolderOf(a.Ifindex); h != nil {
			return fmt.Errorf("%s: the XDP hook of %s is taken by %s; %s", where, a.Iface, h, h.Advice(a.Iface))
		}
		return fmt.Errorf("%s: the interface already has an XDP program in another mode or without a link; hdrlog does not replace programs it did not attach", where)
	case errors.Is(err, link.ErrNotSupported):
		return fmt.Errorf("%s: this kernel does not support %s links (tcx needs Linux 6.6 or later)", where, a.Mode)
	}
	return fmt.Errorf("%s: %s", where, errnoText(err))
}

// errnoText is the kernel's reason without the library's layers of context.
func errnoText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// lookupInterface finds an interface by name, with a one-line error naming
// the interfaces that do exist when it is not there.
func lookupInterface(name string) (*net.Interface, error) {
	if name == "" || len(name) > maxIfname || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("%q is not a valid interface name", name)
	}
	ifi, err := net.InterfaceByName(name)
	if err == nil {
		return ifi, nil
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	var names []string
	if all, lerr := net.Interfaces(); lerr == nil {
		for _, i := range all {
			names = append(names, i.Name)
		}
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no interface named %q here (interfaces: %s)", name, strings.Join(names, ", "))
}
