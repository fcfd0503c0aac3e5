package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/rules"
)

// System-call hooks. A program at sys_enter (syscallEnter, one for all the
// hooked calls) copies the arguments of a hooked call, its socket address
// included, into SyscallArgsMap under the calling thread's id; the hook's
// program at sys_exit takes them back (and deletes them), fills the record
// with them, the thread's process fields and the return value, and runs the
// rules as the packet programs do: same rules phase, same events, same
// ring buffer, same lost counters. A thread is in one system call at a
// time, so one entry per thread suffices; the map is bounded
// (SyscallArgsEntries) and a call whose arguments find no room counts a
// lost event against every rule of its hook.

// Map and program names of the system-call programs.
const (
	SyscallArgsMap     = "sys_args"
	SyscallArgsEntries = 16384
	SyscallEnterProg   = "hl_sys_enter"
)

// The value of SyscallArgsMap: the call's number, the socket address's
// length as passed, and its first sockaddrBytes bytes.
const (
	argNr        = 0 // u32
	argAddrLen   = 4 // u32
	argAddr      = 8 // sockaddr bytes
	sockaddrRead = rules.SockaddrIn6Len
	// A call that writes the address (accept) leaves, at entry, the
	// pointers to the address and to its length; its exit reads them.
	argAddrPtr = argAddr + 32 // u64
	argLenPtr  = argAddrPtr + 8
	argsSize   = argLenPtr + 8
	// The calls on files and programs (openat, execve) add their flags,
	// their file name and their arguments; each string is a u32 length (of
	// the bytes, without the NUL), a u32 "cut short", then its bytes.
	argFlags = argsSize // u32
	argPath  = argFlags + 8
	argArgs  = argPath + 8 + rules.PathMax
	// The arguments are copied one after the other at a variable offset:
	// the verifier wants room for the largest copy at the largest offset,
	// hence ArgsMax bytes more that are never written.
	argsSizeFile = argArgs + 8 + 2*rules.ArgsMax
	argStrSlot   = 8 + rules.PathMax // a string's record slot: length, cut, bytes
)

// SyscallArgsSize is the size of SyscallArgsMap's values, whatever calls
// are hooked: one layout for every rule set, so that a reload's programs
// share the running map and a call under way at the swap (entered under
// the old rules, exiting under the new ones) keeps its arguments.
const SyscallArgsSize = argsSizeFile

// argsSizeOf is the size of SyscallArgsMap's values.
func argsSizeOf([]*Program) int { return SyscallArgsSize }

// fileArgs are the string fields of the calls on files and programs, and
// where their value lies in SyscallArgsMap's value.
var fileArgs = map[string]int16{"fd.name": argPath, "evt.arg.filename": argPath, "proc.args": argArgs}

// fileArgNames are fileArgs' names in the order their copies are emitted.
var fileArgNames = []string{"evt.arg.filename", "fd.name", "proc.args"}

// Offsets in struct bpf_raw_tracepoint_args of sys_enter(regs, id) and
// sys_exit(regs, ret).
const (
	rtpRegs = 0
	rtpArg1 = 8 // sys_enter: the call's number; sys_exit: its return value
)

// ptRegsArg are the offsets in x86_64's struct pt_regs of the system-call
// arguments: di, si, dx, r10, r8, r9.
var ptRegsArg = [6]int16{112, 104, 96, 56, 72, 64}

// syscallSlot sizes the computed slots of system-call fields (0: the value
// is known at compile time and needs none).
var syscallSlot = map[string]int{
	"evt.type": 0, "proc.pid": 4, "proc.tid": 4, "user.uid": 4,
	"proc.name": rules.CommLen, "proc.pname": rules.CommLen, "cgroup.id": 8, "evt.failed": 1, "evt.res": 4, "evt.rawres": 4,
	"fd.name": argStrSlot, "evt.arg.filename": argStrSlot, "proc.args": argStrSlot, "evt.arg.flags": 4,
}

// syscallRender are the renderings of system-call fields that are not
// unsigned integers: the return value, signed.
var syscallRender = map[string]Render{"evt.res": RenderErrno, "evt.rawres": RenderInt}

func syscallKeyOf(ref rules.FieldRef) slotKey {
	f := ref.Field
	if f.Header == rules.HdrFd {
		return slotKey{header: f.Header, offset: f.Offset, size: f.Size, layer: 1}
	}
	name := f.Name
	if from, ok := rules.ContainerOf[name]; ok {
		name = from // container.id: the event carries cgroup.id
	}
	return slotKey{computed: name, size: syscallSlot[name], layer: 1}
}

// syscallFlavour is the flavour of a system-call hook's exit program.
func syscallFlavour(d *rules.SyscallDef) bpf.Flavour { return bpf.Syscall("hl_sys_" + d.Name) }

// parseSyscall is the parser of a system-call hook's exit program.
func (g *gen) parseSyscall() {
	b, rec := g.b, g.rec
	d := g.hook.Syscall()
	b.Comment("system call %s (%d) at sys_exit: its arguments from sys_enter", d.Name, d.Nr)
	b.Emit(asm.Mov.Reg(rCtx, asm.R1))
	b.Emit(asm.LoadImm(rPresence, 1<<rules.FactSyscall, asm.DWord))
	g.setFact(rules.FactProc)
	// The thread id is the key; the presence slot holds it until parseEnd.
	b.Emit(asm.FnGetCurrentPidTgid.Call(), asm.StoreMem(asm.R10, presenceOff, asm.R0, asm.DWord))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(SyscallArgsMap))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, presenceOff))
	b.Emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, epilogue))
	b.Emit(asm.Mov.Reg(rData, asm.R0))
	b.Emit(asm.LoadMem(asm.R1, rData, argNr, asm.Word), asm.JNE.Imm(asm.R1, d.Nr, epilogue))
	if rec.Size() > 0 {
		// A zero the verifier does not know (see parse).
		b.Comment("zero the record (%d bytes)", rec.Size())
		b.Emit(asm.LoadMem(asm.R1, rData, argNr, asm.Word), asm.LoadMem(asm.R2, rData, argNr, asm.Word), asm.Sub.Reg(asm.R1, asm.R2))
		for off := rec.lo; off < rec.hi; off += 8 {
			b.Emit(asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
		}
	}
	comp := func(name string) (*slot, bool) {
		s, ok := rec.slots[slotKey{computed: name, size: syscallSlot[name], layer: 1}]
		return s, ok
	}
	if s, ok := comp("proc.pid"); ok {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, presenceOff, asm.DWord), asm.RSh.Imm(asm.R1, 32), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
	}
	if s, ok := comp("proc.tid"); ok {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, presenceOff, asm.DWord), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
	}
	if s, ok := comp("user.uid"); ok {
		b.Emit(asm.FnGetCurrentUidGid.Call(), asm.StoreMem(asm.R10, s.off, asm.R0, asm.Word))
	}
	if s, ok := comp("cgroup.id"); ok {
		b.Emit(asm.FnGetCurrentCgroupId.Call(), asm.StoreMem(asm.R10, s.off, asm.R0, asm.DWord))
	}
	if s, ok := comp("proc.name"); ok {
		// The kernel pads comm with zeros (strscpy_pad).
		b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(s.off)), asm.Mov.Imm(asm.R2, rules.CommLen))
		b.Emit(asm.FnGetCurrentComm.Call())
	}
	if s, ok := comp("proc.pname"); ok {
		g.parentComm(s.off)
	}
	for _, name := range []string{"evt.res", "evt.rawres"} {
		if s, ok := comp(name); ok {
			b.Emit(asm.LoadMem(asm.R1, rCtx, rtpArg1, asm.DWord), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
		}
	}
	if s, ok := comp("evt.failed"); ok {
		ok := b.NewLabel("sys.ok")
		b.Emit(asm.LoadMem(asm.R1, rCtx, rtpArg1, asm.DWord), asm.JSGE.Imm(asm.R1, 0, ok))
		b.Emit(asm.StoreImm(asm.R10, s.off, 1, asm.Byte))
		b.Label(ok)
	}
	for _, name := range fileArgNames { // in a fixed order: the same rules give the same program
		if s, ok := comp(name); ok {
			g.copyRaw(rData, fileArgs[name], asm.R10, s.off, argStrSlot)
		}
	}
	if s, ok := comp("evt.arg.flags"); ok {
		b.Emit(asm.LoadMem(asm.R1, rData, argFlags, asm.Word), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
	}
	if d.AddrArg >= 0 && g.need.has(rules.HdrFd) {
		if d.Peer {
			g.peerAddr()
		}
		g.sockaddr()
	}
	b.Comment("the arguments are taken")
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(SyscallArgsMap))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, presenceOff))
	b.Emit(asm.FnMapDeleteElem.Call())
	g.parseEnd()
}

// TaskMap holds, at key 0, where the running kernel keeps what proc.pname
// reads: the offsets in struct task_struct of real_parent and of comm
// (TaskOffsets). The compiler cannot know them (no CO-RE here); the
// runtime fills the map from the kernel's BTF when it loads the programs.
const TaskMap = "task_offsets"

// TaskOffsets is the value of TaskMap.
type TaskOffsets struct{ RealParent, Comm uint32 }

// parentComm reads the command name of the caller's parent into the
// record at off (CommLen bytes, zeroed): current->real_parent->comm,
// through bpf_probe_read_kernel at the offsets of TaskMap. A failed read
// leaves zeros (an empty name).
func (g *gen) parentComm(off int16) {
	b := g.b
	g.usesTask = true
	done, end := b.NewLabel("pname.none"), b.NewLabel("pname.end")
	b.Comment("proc.pname: current->real_parent->comm, at the offsets of %s", TaskMap)
	b.Emit(asm.FnGetCurrentTask.Call(), asm.StoreMem(asm.R10, off, asm.R0, asm.DWord))
	b.Emit(asm.StoreImm(asm.R10, off+8, 0, asm.Word))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TaskMap))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(off+8)))
	b.Emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R0, 4, asm.Word), asm.StoreMem(asm.R10, off+8, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R3, asm.R0, 0, asm.Word), asm.LoadMem(asm.R1, asm.R10, off, asm.DWord), asm.Add.Reg(asm.R3, asm.R1))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)), asm.Mov.Imm(asm.R2, 8))
	b.Emit(asm.FnProbeReadKernel.Call())
	b.Emit(asm.LoadMem(asm.R3, asm.R10, off, asm.DWord), asm.LoadMem(asm.R1, asm.R10, off+8, asm.Word), asm.Add.Reg(asm.R3, asm.R1))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)), asm.Mov.Imm(asm.R2, rules.CommLen))
	b.Emit(asm.FnProbeReadKernel.Call())
	b.Emit(asm.Ja.Label(end))
	b.Label(done)
	b.Comment("no offsets: an empty name")
	b.Emit(storeDW(asm.R10, off, 0), storeDW(asm.R10, off+8, 0))
	b.Label(end)
}

// NeedsTask reports whether the output's programs read TaskMap.
func (o *Output) NeedsTask() bool {
	for _, p := range o.Programs {
		if p.usesTask {
			return true
		}
	}
	return false
}

// peerAddr reads, after a successful accept, the address the call wrote
// and its length into the arguments' map value, where sockaddr finds them.
func (g *gen) peerAddr() {
	b := g.b
	none, fits := b.NewLabel("peer.none"), b.NewLabel("peer.fits")
	b.Comment("the client's address, as the call returned it")
	b.Emit(asm.LoadMem(asm.R1, rCtx, rtpArg1, asm.DWord), asm.JSLT.Imm(asm.R1, 0, none))
	b.Emit(asm.LoadMem(asm.R3, rData, argLenPtr, asm.DWord), asm.JEq.Imm(asm.R3, 0, none))
	b.Emit(asm.Mov.Reg(asm.R1, rData), asm.Add.Imm(asm.R1, argAddrLen), asm.Mov.Imm(asm.R2, 4))
	b.Emit(asm.FnProbeReadUser.Call(), asm.JNE.Imm(asm.R0, 0, none))
	b.Emit(asm.LoadMem(asm.R3, rData, argAddrPtr, asm.DWord), asm.JEq.Imm(asm.R3, 0, none))
	b.Emit(asm.LoadMem(asm.R2, rData, argAddrLen, asm.Word), asm.JEq.Imm(asm.R2, 0, none))
	b.Emit(asm.JLE.Imm(asm.R2, sockaddrRead, fits), asm.Mov.Imm(asm.R2, sockaddrRead))
	b.Label(fits)
	b.Emit(asm.Mov.Reg(asm.R1, rData), asm.Add.Imm(asm.R1, argAddr))
	b.Emit(asm.FnProbeReadUser.Call())
	b.Label(none)
}

// sockaddr fills the fd.* slots from the copied socket address: fd.sip
// when it is a whole sockaddr_in, fd.sip6 a whole sockaddr_in6, fd.sport
// either.
func (g *gen) sockaddr() {
	b, rec := g.b, g.rec
	v6, done := b.NewLabel("sa.v6"), b.NewLabel("sa.done")
	fact4, fact6 := rules.FactFdIPv4, rules.FactFdIPv6
	if g.hook.Syscall().Peer {
		fact4, fact6 = rules.FactFdCIPv4, rules.FactFdCIPv6
	}
	copyField := func(name string) {
		f, _ := rules.LookupField(name)
		if s, ok := rec.slots[syscallKeyOf(rules.FieldRef{Field: f, Layer: 1})]; ok {
			g.copyRaw(rData, int16(argAddr+f.Offset), asm.R10, s.off, s.size)
		}
	}
	b.Comment("socket address: family, length")
	b.Emit(asm.LoadMem(asm.R1, rData, argAddr, asm.Half), asm.LoadMem(asm.R2, rData, argAddrLen, asm.Word))
	b.Emit(asm.JNE.Imm(asm.R1, rules.AFInet, v6), asm.JLT.Imm(asm.R2, rules.SockaddrInLen, done))
	g.setFact(rules.FactFd)
	g.setFact(fact4)
	copyField("fd.sport")
	copyField("fd.sip")
	b.Emit(asm.Ja.Label(done))
	b.Label(v6)
	b.Emit(asm.JNE.Imm(asm.R1, rules.AFInet6, done), asm.JLT.Imm(asm.R2, rules.SockaddrIn6Len, done))
	g.setFact(rules.FactFd)
	g.setFact(fact6)
	copyField("fd.sport")
	copyField("fd.sip6")
	b.Label(done)
}

// syscallText tests a string field of system-call events: proc.name
// against the whole (zero-padded) name, evt.type at compile time.
func (g *gen) syscallText(p *rules.PredText, exists bool, target string, want bool) {
	b := g.b
	switch {
	case exists && !g.hook.IsSyscall():
		// A packet's process fields are present when its socket's are.
		if want {
			g.jumpIfPresent(rules.FactProc, target)
		} else {
			g.jumpIfAbsent(rules.FactProc, target)
		}
		return
	case exists: // always present in a system-call event
		if want {
			b.Emit(asm.Ja.Label(target))
		}
		return
	case p.Ref.Field.Name == "evt.type":
		if (p.Lit == g.hook.Syscall().Name) == want {
			b.Emit(asm.Ja.Label(target))
		}
		return
	}
	if _, ok := fileArgs[p.Ref.Field.Name]; ok {
		g.fileText(p, target, want)
		return
	}
	var lit [rules.CommLen]byte
	copy(lit[:], p.Lit)
	s := g.rec.slots[syscallKeyOf(p.Ref)]
	miss := target
	if want {
		miss = b.NewLabel("comm.miss")
	}
	if !g.hook.IsSyscall() {
		g.jumpIfAbsent(rules.FactProc, miss)
	}
	for k := 0; k < rules.CommLen; k += 8 {
		b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta+int16(k), asm.DWord))
		b.Emit(asm.LoadImm(asm.R2, int64(ByteOrder.Uint64(lit[k:k+8])), asm.DWord))
		b.Emit(asm.JNE.Reg(asm.R1, asm.R2, miss))
	}
	if want {
		b.Emit(asm.Ja.Label(target))
		b.Label(miss)
	}
}

// writeSyscallText writes a string field of system-call events.
func (g *gen) writeSyscallText(ref rules.FieldRef, fs FieldSlot) {
	b := g.b
	for off := 0; off < fs.Size; off += 8 {
		b.Emit(storeDW(rEvent, int16(fs.Offset+off), 0))
	}
	if _, ok := fileArgs[ref.Field.Name]; ok {
		g.writeFileText(ref, fs)
		return
	}
	if ref.Field.Name == "evt.type" {
		name := g.hook.Syscall().Name
		n := min(len(name), fs.MaxLen)
		flags := int64(TextPresent)
		if n < len(name) {
			flags |= TextTruncated
		}
		b.Emit(asm.StoreImm(rEvent, int16(fs.Offset), int64(len(name)), asm.Half), asm.StoreImm(rEvent, int16(fs.Offset+2), flags, asm.Byte))
		for i := 0; i < n; i++ {
			b.Emit(asm.StoreImm(rEvent, int16(fs.Offset+8+i), int64(name[i]), asm.Byte))
		}
		return
	}
	// proc.name: the length is the first zero byte's index.
	s := g.rec.slots[syscallKeyOf(ref)]
	at := s.off - g.delta
	length := b.NewLabel("comm.len")
	b.Emit(asm.Mov.Imm(asm.R2, 0))
	for i := 0; i < rules.CommLen-1; i++ {
		b.Emit(asm.LoadMem(asm.R1, g.base, at+int16(i), asm.Byte), asm.JEq.Imm(asm.R1, 0, length), asm.Mov.Imm(asm.R2, int32(i+1)))
	}
	b.Label(length)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset), asm.R2, asm.Half))
	fits := b.NewLabel("comm.fits")
	b.Emit(asm.Mov.Imm(asm.R1, TextPresent), asm.JLE.Imm(asm.R2, int32(fs.MaxLen), fits), asm.Or.Imm(asm.R1, TextTruncated))
	b.Label(fits)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset+2), asm.R1, asm.Byte))
	// Zero-padded: copying the first MaxLen bytes copies the name and zeros.
	g.copyRaw(g.base, at, rEvent, int16(fs.Offset+8), min(fs.MaxLen, rules.CommLen))
}

// syscallEnter is the program at sys_enter: for a hooked call, it copies the
// socket address argument into SyscallArgsMap; when the map is full it
// counts a lost event for each rule of the call's hook.
func syscallEnter(progs []*Program) asm.Instructions {
	b := bpf.NewBuilder()
	size := argsSizeOf(progs)
	var (
		kOff    int16 = -8
		vOff          = kOff - int16(size)
		tmpOff        = vOff - 8
		argvOff       = tmpOff - 8
	)
	b.Comment("sys_enter: the hooked calls' arguments, for their exit programs")
	b.Emit(asm.Mov.Reg(asm.R6, asm.R1))
	b.Emit(asm.LoadMem(asm.R7, asm.R6, rtpArg1, asm.DWord))
	for _, p := range progs {
		d := p.Hook.Syscall()
		b.Emit(asm.JEq.Imm(asm.R7, d.Nr, "call."+d.Name))
	}
	b.Emit(asm.Ja.Label("out"))
	for _, p := range progs {
		d := p.Hook.Syscall()
		b.Label("call." + d.Name)
		b.Comment("%s: zero the value, then number, address length and address", d.Name)
		for off := vOff; off < kOff; off += 8 {
			b.Emit(storeDW(asm.R10, int16(off), 0))
		}
		b.Emit(asm.StoreImm(asm.R10, vOff+argNr, int64(d.Nr), asm.Word))
		if d.PathArg >= 0 {
			fileEnter(b, d, vOff, tmpOff, argvOff)
		}
		if d.Peer {
			b.Comment("the pointers to the address and its length, for the exit")
			b.Emit(asm.LoadMem(asm.R8, asm.R6, rtpRegs, asm.DWord))
			for _, a := range []struct{ arg, off int }{{d.AddrArg, argAddrPtr}, {d.LenArg, argLenPtr}} {
				b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(vOff)+int32(a.off)), asm.Mov.Imm(asm.R2, 8))
				b.Emit(asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, int32(ptRegsArg[a.arg])))
				b.Emit(asm.FnProbeReadKernel.Call())
			}
		} else if d.AddrArg >= 0 {
			b.Emit(asm.LoadMem(asm.R8, asm.R6, rtpRegs, asm.DWord))
			arg := func(i int) {
				b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(tmpOff)), asm.Mov.Imm(asm.R2, 8))
				b.Emit(asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, int32(ptRegsArg[i])))
				b.Emit(asm.FnProbeReadKernel.Call())
			}
			arg(d.LenArg)
			b.Emit(asm.LoadMem(asm.R9, asm.R10, tmpOff, asm.Word), asm.StoreMem(asm.R10, vOff+argAddrLen, asm.R9, asm.Word))
			arg(d.AddrArg)
			skip := b.NewLabel("noaddr")
			b.Emit(asm.LoadMem(asm.R3, asm.R10, tmpOff, asm.DWord))
			b.Emit(asm.JEq.Imm(asm.R9, 0, skip))
			clamp := b.NewLabel("clamp")
			b.Emit(asm.JLE.Imm(asm.R9, sockaddrRead, clamp), asm.Mov.Imm(asm.R9, sockaddrRead))
			b.Label(clamp)
			b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(vOff+argAddr)), asm.Mov.Reg(asm.R2, asm.R9))
			b.Emit(asm.FnProbeReadUser.Call())
			b.Label(skip)
		}
		b.Emit(asm.FnGetCurrentPidTgid.Call(), asm.StoreMem(asm.R10, kOff, asm.R0, asm.DWord))
		b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(SyscallArgsMap))
		b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(kOff)))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(vOff)), asm.Mov.Imm(asm.R4, 0))
		b.Emit(asm.FnMapUpdateElem.Call(), asm.JEq.Imm(asm.R0, 0, "out"))
		b.Comment("no room: every rule of the hook may miss this call's event")
		for _, r := range p.Rules {
			next := b.NewLabel("lost")
			b.Emit(asm.StoreImm(asm.R10, kOff, int64(r), asm.Word))
			b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(kOff)))
			b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(LostMap))
			b.Emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, next))
			b.Emit(asm.Mov.Imm(asm.R1, 1), asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
			b.Label(next)
		}
		b.Emit(asm.Ja.Label("out"))
	}
	b.Label("out")
	b.Emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	insns, err := b.Instructions()
	if err != nil {
		panic("compiler: sys_enter program: " + err.Error())
	}
	insns[0] = insns[0].WithSymbol(SyscallEnterProg)
	return insns
}

// syscallSpec adds the sys_enter program and the arguments map when the
// output has system-call programs.
func (o *Output) syscallSpec(spec *ebpf.CollectionSpec) {
	var progs []*Program
	for _, p := range o.Programs {
		if p.Hook.IsSyscall() {
			progs = append(progs, p)
		}
	}
	if len(progs) == 0 {
		return
	}
	spec.Maps[SyscallArgsMap] = &ebpf.MapSpec{Name: SyscallArgsMap, Type: ebpf.Hash, KeySize: 8, ValueSize: uint32(argsSizeOf(progs)), MaxEntries: SyscallArgsEntries}
	if o.NeedsTask() {
		spec.Maps[TaskMap] = &ebpf.MapSpec{Name: TaskMap, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	}
	spec.Programs[SyscallEnterProg] = &ebpf.ProgramSpec{
		Name: SyscallEnterProg, Type: ebpf.RawTracepoint, Instructions: syscallEnter(progs), License: "GPL",
	}
}

// foldSyscall replaces what a system-call hook knows in advance by
// constants: evt.type is the hook's call, and the string fields are always
// present. simplify then folds them away (a rule of hook bind testing
// evt.type == "connect" never matches and emits nothing).
func foldSyscall(p rules.Pred, h rules.Hook) rules.Pred {
	d := h.Syscall()
	if d == nil || p == nil {
		return p
	}
	switch p := p.(type) {
	case *rules.PredAnd:
		out := &rules.PredAnd{}
		for _, t := range p.Terms {
			out.Terms = append(out.Terms, foldSyscall(t, h))
		}
		return out
	case *rules.PredOr:
		out := &rules.PredOr{}
		for _, t := range p.Terms {
			out.Terms = append(out.Terms, foldSyscall(t, h))
		}
		return out
	case *rules.PredNot:
		return &rules.PredNot{X: foldSyscall(p.X, h)}
	case *rules.PredText:
		if p.Ref.Field.Name == "evt.type" {
			return &rules.PredConst{Value: p.Lit == d.Name}
		}
	case *rules.PredExists:
		if p.Ref.Field.Header == rules.HdrSyscall || p.Ref.Field.Header == rules.HdrProc {
			return &rules.PredConst{Value: true}
		}
	}
	return p
}
