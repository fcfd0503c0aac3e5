package rules

import (
	"fmt"
	"slices"
	"strings"
)

// Rules over system calls. A system-call hook (`hook syscall connect`) runs
// a rule at the exit of one system call, with the calling thread's process
// fields and the call's arguments as fields. The field names are Falco's
// (proc.pid, proc.name, fd.sip, evt.res...), the convention security users
// know; docs/syscalls.md says where hdrlog differs.

// SyscallDef is one row of the system-call table.
type SyscallDef struct {
	Hook Hook
	Name string // Falco's evt.type
	Nr   int32  // x86_64 system-call number
	// AddrArg and LenArg are the argument indices of the socket address
	// the call takes and of its length; -1: the call has none.
	AddrArg, LenArg int
	// Peer: the call writes the address (accept: the client's, a pointer
	// to its length in LenArg); its fields are fd.cip, fd.cip6, fd.cport.
	Peer bool
	// PathArg is the argument index of the file name the call takes
	// (openat, execve), ArgvArg of its argument vector (execve), FlagsArg
	// of its flags (openat); -1: none.
	PathArg, ArgvArg, FlagsArg int
}

// syscallTable lists the system calls hdrlog hooks.
var syscallTable = []SyscallDef{
	{Hook: HookSyscallConnect, Name: "connect", Nr: 42, AddrArg: 1, LenArg: 2, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallBind, Name: "bind", Nr: 49, AddrArg: 1, LenArg: 2, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallSendto, Name: "sendto", Nr: 44, AddrArg: 4, LenArg: 5, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallListen, Name: "listen", Nr: 50, AddrArg: -1, LenArg: -1, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallAccept, Name: "accept", Nr: 43, AddrArg: 1, LenArg: 2, Peer: true, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallAccept4, Name: "accept4", Nr: 288, AddrArg: 1, LenArg: 2, Peer: true, PathArg: -1, ArgvArg: -1, FlagsArg: -1},
	{Hook: HookSyscallOpenat, Name: "openat", Nr: 257, AddrArg: -1, LenArg: -1, PathArg: 1, ArgvArg: -1, FlagsArg: 2},
	{Hook: HookSyscallExecve, Name: "execve", Nr: 59, AddrArg: -1, LenArg: -1, PathArg: 0, ArgvArg: 1, FlagsArg: -1},
	{Hook: HookSyscallExecveat, Name: "execveat", Nr: 322, AddrArg: -1, LenArg: -1, PathArg: 1, ArgvArg: 2, FlagsArg: -1},
}

// PathMax and ArgsMax are the bytes of a call's file name and of its
// arguments an event can carry: the first ones (proc.args: the first
// ArgsMaxCount arguments after the program's name).
const (
	PathMax      = 128
	ArgsMax      = 128
	ArgsMaxCount = 8
)

// Has reports whether the call has a field that only some calls have
// (openat's fd.name); the others' fields it has or not by its table row.
func (d *SyscallDef) Has(f *Field) bool {
	calls, only := callFields[f.Name]
	return !only || slices.Contains(calls, d.Name)
}

// callFields are the fields only some calls have, and which.
var callFields = map[string][]string{
	"fd.name":          {"openat"},
	"evt.arg.flags":    {"openat"},
	"evt.arg.filename": {"execve", "execveat"},
	"proc.args":        {"execve", "execveat"},
}

// SyscallHooks lists the system-call hooks in table order.
var SyscallHooks = func() []Hook {
	var out []Hook
	for _, d := range syscallTable {
		out = append(out, d.Hook)
	}
	return out
}()

// IsSyscall reports whether h is a system-call hook.
func (h Hook) IsSyscall() bool { return h.Syscall() != nil }

// Syscall returns h's row of the system-call table, or nil for a packet hook.
func (h Hook) Syscall() *SyscallDef {
	for i := range syscallTable {
		if syscallTable[i].Hook == h {
			return &syscallTable[i]
		}
	}
	return nil
}

// IsSyscall reports whether fields of h belong to system-call events.
func (h Header) IsSyscall() bool { return h == HdrSyscall || h == HdrFd }

// Socket addresses as the calls take them (struct sockaddr_in, sockaddr_in6).
const (
	AFInet         = 2
	AFInet6        = 10
	sockaddrInLen  = 16
	sockaddrIn6Len = 28
	// SockaddrInLen and SockaddrIn6Len are the lengths a call's address
	// length must reach for fd.sip or fd.sip6 to be present.
	SockaddrInLen  = sockaddrInLen
	SockaddrIn6Len = sockaddrIn6Len
	// CommLen is the kernel's TASK_COMM_LEN: proc.name holds at most
	// CommLen-1 bytes.
	CommLen = 16
)

// falcoNotOffered explains Falco fields that hdrlog does not offer, and
// what to use instead (docs/syscalls.md).
var falcoNotOffered = map[string]string{
	"proc.exepath": "the kernel gives these hooks no path of the running program (docs/syscalls.md, proc.exepath): at execve and execveat, evt.arg.filename is the path the call was given; elsewhere test proc.name",
	"proc.exe":     "argv[0] is not read: at execve and execveat, evt.arg.filename is the program's path and proc.args the arguments after argv[0]",
	"proc.cmdline": "log proc.name and, at execve and execveat, proc.args",
	"proc.ppid":    "the parent's pid is not read: proc.pname names the parent",
}

// LogOnly are the fields that can be logged but not yet tested in a match.
var LogOnly = map[string]string{
	"proc.args":    "test evt.arg.filename or proc.name instead (the arguments are redacted in user space, when the event is written)",
	"container.id": "test cgroup.id instead (container.id is found from it in user space, when the event is written)",
	"evt.res":      "test evt.failed instead (true when the call returned an error)",
	"evt.rawres":   "test evt.failed instead (true when the call returned an error)",
}

// syscallFields are the fields of system-call events (with the process
// fields of proc.go). They are not in the
// packet catalogue (Fields), which the packet oracles iterate.
var syscallFields = []*Field{
	{Name: "evt.type", Type: TypeString, Header: HdrSyscall, Computed: true, L7: &L7Field{MaxLen: CommLen},
		Doc: "The system call's name (connect, bind, sendto), as Falco's evt.type."},
	procFields[0], procFields[1], procFields[2], procFields[3], procFields[4], procFields[5],
	{Name: "proc.pname", Type: TypeString, Header: HdrSyscall, Computed: true, L7: &L7Field{MaxLen: CommLen},
		Doc: "The command name of the caller's parent process (its comm: at most 15 bytes), at the call's exit; tested with == only."},
	{Name: "fd.name", Type: TypeString, Header: HdrSyscall, Computed: true, L7: &L7Field{MaxLen: PathMax},
		Doc: "openat: the file name as the call was given it (relative names stay relative), at most 127 bytes; tested with == only."},
	{Name: "evt.arg.flags", Type: TypeUint, Bits: 32, Base: BaseHex, Header: HdrSyscall, Computed: true,
		Doc: "openat: the flags (O_WRONLY 0x1, O_RDWR 0x2, O_CREAT 0x40, O_TRUNC 0x200...), as a number."},
	{Name: "evt.arg.filename", Type: TypeString, Header: HdrSyscall, Computed: true, L7: &L7Field{MaxLen: PathMax},
		Doc: "execve, execveat: the program's file name as the call was given it, at most 127 bytes; tested with == only."},
	{Name: "proc.args", Type: TypeString, Header: HdrSyscall, Computed: true, L7: &L7Field{MaxLen: ArgsMax},
		Doc: "execve, execveat: the arguments after the program's name, space-separated: the first 8, at most 128 bytes; secrets redacted (docs/syscalls.md); log only."},
	{Name: "evt.failed", Type: TypeBool, Bits: 8, Header: HdrSyscall, Computed: true, Doc: "True when the call returned an error."},
	{Name: "evt.res", Type: TypeUint, Bits: 32, Header: HdrSyscall, Computed: true,
		Doc: "The call's result as Falco shows it: SUCCESS, or the error's name (ECONNREFUSED); log only."},
	{Name: "evt.rawres", Type: TypeUint, Bits: 32, Header: HdrSyscall, Computed: true,
		Doc: "The call's return value as a signed number (-111 for ECONNREFUSED); log only."},
	{Name: "fd.sport", Type: TypeUint, Bits: 16, Header: HdrFd, Offset: 2, Size: 2,
		Doc: "Port of the call's IPv4 or IPv6 socket address (the server port of connect and sendto, the local port of bind)."},
	{Name: "fd.sip", Type: TypeIPv4, Header: HdrFd, Offset: 4, Size: 4,
		Doc: "IPv4 address of the call's socket address. Falco's fd.sip takes either family: hdrlog types it, fd.sip6 is the IPv6 one."},
	{Name: "fd.sip6", Type: TypeIPv6, Header: HdrFd, Offset: 8, Size: 16,
		Doc: "IPv6 address of the call's socket address (an IPv4-mapped one stays IPv6)."},
	{Name: "fd.cport", Type: TypeUint, Bits: 16, Header: HdrFd, Offset: 2, Size: 2,
		Doc: "accept, accept4: the client's port, from the address the call returns."},
	{Name: "fd.cip", Type: TypeIPv4, Header: HdrFd, Offset: 4, Size: 4,
		Doc: "accept, accept4: the client's IPv4 address, from the address the call returns."},
	{Name: "fd.cip6", Type: TypeIPv6, Header: HdrFd, Offset: 8, Size: 16,
		Doc: "accept, accept4: the client's IPv6 address."},
}

// peerFields are the address fields of the calls that return a peer's
// address (Peer), and the fields of the others they stand for.
var peerFields = map[string]string{"fd.cport": "fd.sport", "fd.cip": "fd.sip", "fd.cip6": "fd.sip6"}

// SyscallFields returns the fields of system-call events, in documented order.
func SyscallFields() []*Field { return append([]*Field(nil), syscallFields...) }

// hookField checks that a field belongs to the rule's kind of hook.
func (c *checker) hookField(fn FieldName, f *Field) bool {
	switch {
	case f.Header == HdrProc:
		if !c.hook.IsSyscall() && !c.hook.HasSocket() {
			c.errorf(fn.Span, "hook the rule at tc ingress, tc egress or a cgroup hook, where the packet's local socket is known",
				"%s is a process field; at %s a packet has no socket yet", f.Name, c.hook)
			return false
		}
		return true
	case c.hook.IsCgroup() && linkLayer[f.Header]:
		c.errorf(fn.Span, "cgroup hooks see packets from the IP header on; use tc ingress or tc egress for link-layer fields",
			"%s is a link-layer field; rule %q hooks %s", f.Name, c.rule_, c.hook)
		return false
	case c.hook.IsSyscall() && !f.Header.IsSyscall():
		c.errorf(fn.Span, "system-call rules take proc.*, user.uid, cgroup.id, evt.* and fd.* fields",
			"%s is a packet field; rule %q hooks the system call %s", f.Name, c.rule_, c.hook.Syscall().Name)
		return false
	case !c.hook.IsSyscall() && f.Header.IsSyscall():
		c.errorf(fn.Span, "use it under a system-call hook, e.g. `hook syscall connect`",
			"%s is a system-call field; rule %q hooks packets (%s)", f.Name, c.rule_, c.hook)
		return false
	case c.hook.IsSyscall() && !c.hook.Syscall().Has(f):
		c.errorf(fn.Span, "it is a field of "+strings.Join(callFields[f.Name], " and "), "%s takes no such argument: %s is never present", c.hook.Syscall().Name, f.Name)
		return false
	case f.Header == HdrFd && c.hook.Syscall().AddrArg < 0:
		c.errorf(fn.Span, "remove it", "%s takes no socket address: %s is never present", c.hook.Syscall().Name, f.Name)
		return false
	}
	if f.Header == HdrFd {
		peer := c.hook.Syscall().Peer
		if other, isPeer := peerFields[f.Name]; isPeer != peer {
			if !isPeer {
				for k, v := range peerFields {
					if v == f.Name {
						other = k
					}
				}
			}
			c.errorf(fn.Span, "write "+other, "%s: the address of %s is the %s's", f.Name, c.hook.Syscall().Name, map[bool]string{true: "client", false: "server (or, for bind, the local one)"}[peer])
			return false
		}
	}
	return true
}

// syscallMatch checks what the kernel program can test on system-call
// fields: string fields by == only (the kernel compares the whole value),
// no log-only field.
func (c *checker) syscallMatch(p Pred, span Span) {
	var walk func(Pred)
	walk = func(p Pred) {
		switch p := p.(type) {
		case *PredAnd:
			for _, t := range p.Terms {
				walk(t)
			}
		case *PredOr:
			for _, t := range p.Terms {
				walk(t)
			}
		case *PredNot:
			walk(p.X)
		case *PredText:
			if !p.Ref.Field.Header.IsSyscall() && p.Ref.Field.Header != HdrProc {
				return
			}
			if hint, lo := LogOnly[p.Ref.Field.Name]; lo {
				c.errorf(span, hint, "%s can be logged but not tested", p.Ref.Field.Name)
				return
			}
			if p.Op != TextEq || p.Fold {
				c.errorf(span, "compare the whole name with ==, e.g. proc.name == \"curl\"", "%s is tested with == only", p.Ref.Field.Name)
			} else if max := textMax(p.Ref.Field); len(p.Lit) >= max {
				c.errorf(span, fmt.Sprintf("the kernel keeps the first %d bytes of a %s", max-1, map[bool]string{true: "command name", false: "file name"}[max == CommLen]), "%q is longer than any %s", p.Lit, p.Ref.Field.Name)
			}
		case *PredTextSet:
			// A set of command names: each as an == would be.
			if !IsCommName(p.Ref.Field) {
				return
			}
			for _, l := range p.Lits {
				before := c.nerrors
				walk(&PredText{Ref: p.Ref, Op: TextEq, Lit: l, Fold: p.Fold})
				if c.nerrors > before {
					return // one error for the set
				}
			}
		case *PredFieldCompare:
			for _, ref := range []FieldRef{p.Left, p.Right} {
				if ref.Field.Bits > 32 {
					c.errorf(span, "compare it with a number, e.g. "+ref.Field.Name+" == 4242", "%s is not compared with another field", ref.Field.Name)
				}
			}
		default:
			if ref, ok := predRef(p); ok {
				if hint, lo := LogOnly[ref.Field.Name]; lo {
					c.errorf(span, hint, "%s can be logged but not tested", ref.Field.Name)
				}
				if ref.Field.Bits > 32 && !wholeValue(p) {
					c.errorf(span, "compare the whole id, e.g. "+ref.Field.Name+" == 4242 or "+ref.Field.Name+" in {4242, 4243}",
						"%s is an id: it takes ==, !=, <, <=, >, >= and in, without a mask or bit test", ref.Field.Name)
				}
			}
		}
	}
	if p != nil {
		walk(p)
	}
}

// predRef returns the field a leaf predicate tests.
func predRef(p Pred) (FieldRef, bool) {
	switch p := p.(type) {
	case *PredExists:
		return p.Ref, true
	case *PredCompare:
		return p.Ref, true
	case *PredInSet:
		return p.Ref, true
	case *PredBitTest:
		return p.Ref, true
	case *PredSlice:
		return p.Ref, true
	case *PredLen:
		return p.Ref, true
	}
	return FieldRef{}, false
}

// wholeValue reports whether a leaf tests a field's whole value (no mask,
// no bit test, no slice): what the kernel compares of a 64-bit field.
func wholeValue(p Pred) bool {
	switch p := p.(type) {
	case *PredCompare:
		return p.Mask == 0
	case *PredInSet:
		return p.Mask == 0
	case *PredExists:
		return true
	}
	return false
}

// textMax is the size of the kernel's buffer of a string field of system
// calls: its values are shorter.
func textMax(f *Field) int {
	if f.Name == "proc.name" || f.Name == "proc.pname" {
		return CommLen
	}
	return PathMax
}
