package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// ModeRawTracepoint is a system-call program attached to a raw tracepoint
// (sys_enter, sys_exit) through a link.
const ModeRawTracepoint AttachMode = "raw_tp"

// HasSyscalls reports whether the collection has system-call programs.
func (c *Collection) HasSyscalls() bool {
	for h := range c.Programs {
		if h.IsSyscall() {
			return true
		}
	}
	return false
}

// SyscallArgs is the map in which the system-call programs pair a call's
// entry with its exit (nil without system-call rules), for
// LoadOptions.SyscallArgs.
func (c *Collection) SyscallArgs() *ebpf.Map { return c.coll.Maps[compiler.SyscallArgsMap] }

// AttachSyscalls attaches the system-call programs: each hook's program at
// sys_exit, then the program that copies the hooked calls' arguments at
// sys_enter (last, so that no argument waits for an exit program that is
// not there yet). The links detach when hdrlog exits, however it exits.
// With no system-call rule it attaches nothing.
func (c *Collection) AttachSyscalls() (Attachments, error) {
	var as Attachments
	fail := func(err error) (Attachments, error) {
		if cerr := as.Close(); cerr != nil {
			err = fmt.Errorf("%w (and undoing the attachments before it: %v)", err, cerr)
		}
		return nil, err
	}
	for _, h := range rules.SyscallHooks {
		prog, ok := c.Programs[h]
		if !ok {
			continue
		}
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: prog})
		if err != nil {
			return fail(explainTracepointError(h, "sys_exit", err))
		}
		as = append(as, &Attachment{Iface: "sys_exit", Hook: h, Mode: ModeRawTracepoint, link: l})
	}
	if len(as) == 0 {
		return nil, nil
	}
	enter := c.coll.Programs[compiler.SyscallEnterProg]
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: enter})
	if err != nil {
		return fail(explainTracepointError(as[0].Hook, "sys_enter", err))
	}
	as = append(as, &Attachment{Iface: "sys_enter", Hook: as[0].Hook, Mode: ModeRawTracepoint, link: l})
	return as, nil
}

func explainTracepointError(h rules.Hook, tp string, err error) error {
	where := fmt.Sprintf("attach %s program to the raw tracepoint %s", h, tp)
	if isPermissionError(err) {
		return fmt.Errorf("%s: %w", where, privilegeError(ErrAttachPrivilege, err, capBPF, capPerfmon))
	}
	return fmt.Errorf("%s: %s", where, errnoText(err))
}

// appendErrno appends a system call's return value as Falco's evt.res
// shows it: "SUCCESS", or the error's name ("ECONNREFUSED"), or the
// number when the kernel returned an error with no name.
func appendErrno(buf []byte, ret int32) []byte {
	if ret >= 0 {
		return append(buf, `"SUCCESS"`...)
	}
	if name := unix.ErrnoName(unix.Errno(-ret)); name != "" {
		return append(append(append(buf, '"'), name...), '"')
	}
	return strconv.AppendInt(buf, int64(ret), 10)
}

// ErrSyscallReplay is returned (wrapped) when a replay is asked of rules
// over system calls.
var ErrSyscallReplay = errors.New("a capture holds packets, not system calls: rules over system calls cannot be replayed (run them live with hdrlog run)")

// ErrCgroupReplay is returned (wrapped) when a replay is asked of rules
// of cgroup hooks.
var ErrCgroupReplay = errors.New("a capture's frames belong to no cgroup: rules of cgroup hooks cannot be replayed (run them live with hdrlog run)")

// RefuseSyscallRules refuses a replay of cgroup rules, then a replay of a rule set with system-call rules,
// naming them: replaying the rest would pass in silence over rules that
// could never match, and the reference evaluator has no system calls to
// agree with.
func RefuseSyscallRules(rs *rules.RuleSet) error {
	var cg []string
	for _, r := range rs.Rules {
		if r.Hook.IsCgroup() {
			cg = append(cg, fmt.Sprintf("%s (%s, %s)", r.Name, r.Span.Start, r.Hook))
		}
	}
	if len(cg) > 0 {
		return fmt.Errorf("rule %s: %w; move them to a file of their own", strings.Join(cg, ", rule "), ErrCgroupReplay)
	}
	var names []string
	for _, r := range rs.Rules {
		if r.Hook.IsSyscall() {
			names = append(names, fmt.Sprintf("%s (%s, %s)", r.Name, r.Span.Start, r.Hook))
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("rule %s: %w; move them to a file of their own", strings.Join(names, ", rule "), ErrSyscallReplay)
}

// Empty reports whether the set names no interface.
func (s IfaceSet) Empty() bool { return len(s.Names) == 0 && !s.All }

func hasPacketPrograms(progs map[rules.Hook]*ebpf.Program) bool {
	for h := range progs {
		if h.IsInterface() {
			return true
		}
	}
	return false
}
