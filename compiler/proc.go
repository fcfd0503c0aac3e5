package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/rules"
)

// Process fields on packets. The kernel keeps, with every socket, what
// hdrlog's socket hooks wrote there: socket-local storage (ProcMap), which
// lives and dies with its socket, so an entry never outlives the socket and
// never passes to another one (a process that exits, or a pid used again,
// cannot leak into the events of later sockets). The hooks run in the
// process's context, at the cgroup v2 root, so for every process:
//
//   - sock_create, when a process creates an IPv4 or IPv6 socket;
//   - connect4/6, when a process connects one (TCP, or UDP);
//   - sendmsg4/6, when a process sends a datagram with an address;
//
// each writes the calling thread's pid, tid, uid, cgroup id and comm into
// the socket's storage (the last user wins). An accepted TCP socket is
// created by the kernel, not by a process: it inherits a copy of its
// listener's storage (BPF_F_CLONE), hence the process that created the
// listening socket.
//
// A packet program finds the socket of a packet at tc egress from the
// packet itself (skb->sk, when it is a full socket); else, and at tc
// ingress, by looking the packet's 4-tuple up in the packet's network
// namespace (bpf_sk_lookup_tcp, _udp), as the kernel will demultiplex it. A
// packet with no local socket, or whose socket has no storage (created
// before hdrlog started), has no process fields: null.

// ProcMap is the socket-local storage of the process fields.
const ProcMap = "proc_sk"

// Map flags (include/uapi/linux/bpf.h).
const (
	mapNoPrealloc = 1 << 0 // BPF_F_NO_PREALLOC
	mapClone      = 1 << 9 // BPF_F_CLONE: accepted sockets inherit their listener's storage
	skStorageNew  = 1      // BPF_SK_STORAGE_GET_F_CREATE
	currentNetns  = -1     // BPF_F_CURRENT_NETNS
	skbSk         = 168    // offsetof(struct __sk_buff, sk)
	sockAddrSk    = 64     // offsetof(struct bpf_sock_addr, sk)
)

// Process-tracking program names.
const (
	ProcSockCreate = "hl_proc_create"
	ProcConnect4   = "hl_proc_conn4"
	ProcConnect6   = "hl_proc_conn6"
	ProcSendmsg4   = "hl_proc_send4"
	ProcSendmsg6   = "hl_proc_send6"
)

// ProcTracker is one socket hook: its program and where it attaches.
type ProcTracker struct {
	Name   string
	Type   ebpf.ProgramType
	Attach ebpf.AttachType
}

// ProcTrackers are the socket hooks that fill ProcMap.
var ProcTrackers = []ProcTracker{
	{ProcSockCreate, ebpf.CGroupSock, ebpf.AttachCGroupInetSockCreate},
	{ProcConnect4, ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect},
	{ProcConnect6, ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Connect},
	{ProcSendmsg4, ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP4Sendmsg},
	{ProcSendmsg6, ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP6Sendmsg},
}

// ProcMapSpec is the socket-local storage's spec. The kernel requires BTF
// for it: a 4-byte integer key, and the value's layout (rules.Proc*).
func ProcMapSpec() *ebpf.MapSpec {
	u32 := &btf.Int{Name: "u32", Size: 4}
	u64 := &btf.Int{Name: "u64", Size: 8}
	comm := &btf.Array{Index: u32, Type: &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}, Nelems: rules.CommLen}
	value := &btf.Struct{Name: "hl_proc", Size: rules.ProcSize, Members: []btf.Member{
		{Name: "pid", Type: u32, Offset: rules.ProcPid * 8},
		{Name: "tid", Type: u32, Offset: rules.ProcTid * 8},
		{Name: "uid", Type: u32, Offset: rules.ProcUid * 8},
		{Name: "cgroup", Type: u64, Offset: rules.ProcCgroup * 8},
		{Name: "comm", Type: comm, Offset: rules.ProcComm * 8},
	}}
	return &ebpf.MapSpec{Name: ProcMap, Type: ebpf.SkStorage, KeySize: 4, ValueSize: rules.ProcSize,
		Flags: mapNoPrealloc | mapClone, Key: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}, Value: value}
}

// ProcTrackerSpec is the collection of the socket hooks and their map.
func ProcTrackerSpec() *ebpf.CollectionSpec {
	spec := &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{ProcMap: ProcMapSpec()}, Programs: map[string]*ebpf.ProgramSpec{}}
	for _, t := range ProcTrackers {
		spec.Programs[t.Name] = &ebpf.ProgramSpec{Name: t.Name, Type: t.Type, AttachType: t.Attach,
			Instructions: procTracker(t), License: "GPL"}
	}
	return spec
}

// procTracker is one socket hook's program: the socket's storage (created
// if need be) gets the current thread's process fields. It always allows
// the operation.
func procTracker(t ProcTracker) asm.Instructions {
	b := bpf.NewBuilder()
	b.Comment("%s: the caller's process fields into the socket's storage", t.Name)
	if t.Type == ebpf.CGroupSock {
		b.Emit(asm.Mov.Reg(asm.R2, asm.R1)) // the context is the socket
	} else {
		b.Emit(asm.LoadMem(asm.R2, asm.R1, sockAddrSk, asm.DWord))
	}
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(ProcMap))
	b.Emit(asm.Mov.Imm(asm.R3, 0), asm.Mov.Imm(asm.R4, skStorageNew))
	b.Emit(asm.FnSkStorageGet.Call(), asm.JEq.Imm(asm.R0, 0, "out"))
	b.Emit(asm.Mov.Reg(asm.R6, asm.R0))
	b.Emit(asm.FnGetCurrentPidTgid.Call())
	b.Emit(asm.StoreMem(asm.R6, rules.ProcTid, asm.R0, asm.Word), asm.RSh.Imm(asm.R0, 32), asm.StoreMem(asm.R6, rules.ProcPid, asm.R0, asm.Word))
	b.Emit(asm.FnGetCurrentUidGid.Call(), asm.StoreMem(asm.R6, rules.ProcUid, asm.R0, asm.Word))
	b.Emit(asm.FnGetCurrentCgroupId.Call(), asm.StoreMem(asm.R6, rules.ProcCgroup, asm.R0, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R6), asm.Add.Imm(asm.R1, rules.ProcComm), asm.Mov.Imm(asm.R2, rules.CommLen))
	b.Emit(asm.FnGetCurrentComm.Call())
	b.Label("out")
	b.Emit(asm.Mov.Imm(asm.R0, 1), asm.Return())
	insns, err := b.Instructions()
	if err != nil {
		panic("compiler: socket hook " + t.Name + ": " + err.Error())
	}
	insns[0] = insns[0].WithSymbol(t.Name)
	return insns
}

// compProcTuple is the record slot where the packet program builds the
// socket lookup's tuple: an IPv4 header and ports, or an IPv6 one.
const (
	compProcTuple = "proc.tuple"
	procTupleSize = 48
)

// procKeys are the record slots the process lookup needs.
func (g *gen) procKeys() []slotKey {
	if !g.procLookup() || g.fl.L3Start {
		return nil
	}
	return []slotKey{{computed: compProcTuple, size: procTupleSize, layer: 1}}
}

// procLookup reports whether the program looks up its packets' process.
// Test runs never do: a replayed frame is not the host's traffic, and the
// reference evaluator has no sockets to agree with.
func (g *gen) procLookup() bool {
	return g.need.has(rules.HdrProc) && g.hook.HasSocket() && !g.opts.TestRun
}

// procFind fills the process slots from the packet's socket's storage and
// sets FactProc, or leaves them absent. It runs at the parser's end, on
// every path.
func (g *gen) procFind() {
	if !g.procLookup() {
		return
	}
	b := g.b
	lookup, none := b.NewLabel("proc.lookup"), b.NewLabel("proc.none")
	v4, v6, tcp, got, release := b.NewLabel("proc.v4"), b.NewLabel("proc.v6"), b.NewLabel("proc.tcp"), b.NewLabel("proc.got"), b.NewLabel("proc.release")
	egress := g.hook == rules.HookTCEgress
	// storage gets the record of the socket in sk (a callee-saved
	// register), or else of the MPTCP connection whose subflow it is: an
	// MPTCP socket's packets travel on TCP subflows that the kernel
	// creates, with no process to record, while the process's socket (and
	// an accepted one, a copy of its listener) has the record.
	storage := func(sk asm.Register) {
		found := b.NewLabel("proc.found")
		b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(ProcMap))
		b.Emit(asm.Mov.Reg(asm.R2, sk), asm.Mov.Imm(asm.R3, 0), asm.Mov.Imm(asm.R4, 0))
		b.Emit(asm.FnSkStorageGet.Call(), asm.JNE.Imm(asm.R0, 0, found))
		b.Comment("none: the MPTCP connection of a subflow")
		b.Emit(asm.Mov.Reg(asm.R1, sk), asm.FnSkcToMptcpSock.Call(), asm.JEq.Imm(asm.R0, 0, found))
		b.Emit(asm.Mov.Reg(asm.R2, asm.R0), asm.LoadMapPtr(asm.R1, 0).WithReference(ProcMap))
		b.Emit(asm.Mov.Imm(asm.R3, 0), asm.Mov.Imm(asm.R4, 0), asm.FnSkStorageGet.Call())
		b.Label(found)
	}
	if egress || g.fl.L3Start {
		b.Comment("process: the packet's own socket, when it is a full one")
		if g.fl.L3Start {
			// A cgroup hook's packet always has its socket: no lookup.
			lookup = none
		}
		b.Emit(asm.LoadMem(asm.R1, rCtx, skbSk, asm.DWord), asm.JEq.Imm(asm.R1, 0, lookup))
		b.Emit(asm.FnSkFullsock.Call(), asm.JEq.Imm(asm.R0, 0, lookup))
		b.Emit(asm.Mov.Reg(rData, asm.R0))
		storage(rData)
		b.Emit(asm.JEq.Imm(asm.R0, 0, lookup))
		g.procCopy()
		if g.fl.L3Start {
			b.Label(none)
			return
		}
		b.Emit(asm.Ja.Label(none))
	}
	t := g.rec.slots[slotKey{computed: compProcTuple, size: procTupleSize, layer: 1}].off
	load := func(off int32, dst int16, n int32) {
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R2, off))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(t+dst)), asm.Mov.Imm(asm.R4, n))
		b.Emit(asm.FnSkbLoadBytes.Call(), asm.JNE.Imm(asm.R0, 0, none))
	}
	// swap exchanges two n-byte fields of the tuple (egress: the lookup
	// wants the packet as the local host receives it).
	swap := func(a, c int16, size asm.Size) {
		b.Emit(asm.LoadMem(asm.R1, asm.R10, t+a, size), asm.LoadMem(asm.R2, asm.R10, t+c, size))
		b.Emit(asm.StoreMem(asm.R10, t+a, asm.R2, size), asm.StoreMem(asm.R10, t+c, asm.R1, size))
	}
	proto := func(at int16) {
		ok := b.NewLabel("proc.proto")
		b.Emit(asm.LoadMem(rDataEnd, asm.R10, t+at, asm.Byte))
		b.Emit(asm.JEq.Imm(rDataEnd, 6, ok), asm.JNE.Imm(rDataEnd, 17, none))
		b.Label(ok)
	}
	b.Label(lookup)
	b.Comment("process: look the socket up by the packet's addresses and ports (Ethernet, IPv4 or IPv6, TCP or UDP)")
	load(12, 0, 2)
	b.Emit(asm.LoadMem(asm.R1, asm.R10, t, asm.Half))
	b.Emit(asm.JEq.Imm(asm.R1, raw16(0x0800), v4), asm.JEq.Imm(asm.R1, raw16(0x86dd), v6), asm.Ja.Label(none))

	b.Label(v4)
	load(14, 0, 20)
	proto(9)
	b.Comment("not a later fragment: no ports")
	b.Emit(asm.LoadMem(asm.R1, asm.R10, t+6, asm.Half), asm.And.Imm(asm.R1, raw16(0x1fff)), asm.JNE.Imm(asm.R1, 0, none))
	b.Emit(asm.LoadMem(asm.R2, asm.R10, t, asm.Byte), asm.And.Imm(asm.R2, 0xf), asm.LSh.Imm(asm.R2, 2))
	b.Emit(asm.JLT.Imm(asm.R2, 20, none), asm.Add.Imm(asm.R2, 14))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(t+20)), asm.Mov.Imm(asm.R4, 4))
	b.Emit(asm.FnSkbLoadBytes.Call(), asm.JNE.Imm(asm.R0, 0, none))
	if egress {
		swap(12, 16, asm.Word)
		swap(20, 22, asm.Half)
	}
	b.Comment("struct bpf_sock_tuple.ipv4: the header's addresses, then the ports")
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(t+12)), asm.Mov.Imm(asm.R3, 12), asm.Ja.Label(tcp))

	b.Label(v6)
	load(14, 0, 40)
	proto(6)
	load(54, 40, 4)
	if egress {
		swap(8, 24, asm.DWord)
		swap(16, 32, asm.DWord)
		swap(40, 42, asm.Half)
	}
	b.Comment("struct bpf_sock_tuple.ipv6")
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(t+8)), asm.Mov.Imm(asm.R3, 36))

	b.Label(tcp)
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R4, currentNetns), asm.Mov.Imm(asm.R5, 0))
	udp := b.NewLabel("proc.udp")
	b.Emit(asm.JEq.Imm(rDataEnd, 17, udp))
	b.Emit(asm.FnSkLookupTcp.Call(), asm.Ja.Label(got))
	b.Label(udp)
	b.Emit(asm.FnSkLookupUdp.Call())
	b.Label(got)
	b.Emit(asm.JEq.Imm(asm.R0, 0, none))
	b.Comment("the socket is referenced until released")
	b.Emit(asm.Mov.Reg(rData, asm.R0))
	storage(rData)
	b.Emit(asm.JEq.Imm(asm.R0, 0, release))
	g.procCopy()
	b.Label(release)
	b.Emit(asm.Mov.Reg(asm.R1, rData), asm.FnSkRelease.Call())
	b.Label(none)
}

// procCopy copies the process fields the rules use from the storage (R0)
// into their slots, and sets FactProc.
func (g *gen) procCopy() {
	b := g.b
	for _, c := range []struct {
		name string
		at   int16
	}{{"proc.pid", rules.ProcPid}, {"proc.tid", rules.ProcTid}, {"user.uid", rules.ProcUid}, {"cgroup.id", rules.ProcCgroup}, {"proc.name", rules.ProcComm}} {
		s, ok := g.rec.slots[slotKey{computed: c.name, size: syscallSlot[c.name], layer: 1}]
		if !ok {
			continue
		}
		for k := 0; k < s.size; k += min(8, s.size) {
			size := map[int]asm.Size{4: asm.Word, 8: asm.DWord}[min(8, s.size)]
			b.Emit(asm.LoadMem(asm.R1, asm.R0, c.at+int16(k), size), asm.StoreMem(asm.R10, s.off+int16(k), asm.R1, size))
		}
	}
	// R1 is free: setFact may use it for a high bit.
	g.setFact(rules.FactProc)
}

// NeedsProc reports whether the output's packet programs read ProcMap: a
// run must then start the socket hooks (ProcTrackerSpec) and share their
// map with the programs.
func (o *Output) NeedsProc() bool {
	for _, p := range o.Programs {
		if p.usesProc {
			return true
		}
	}
	return false
}
