package rules

// Process fields: who a system call's caller is, and who owns the local
// socket of a packet. Falco's names (proc.pid, proc.name, user.uid). In a
// system-call event they are always present; in a packet event they are
// present when the packet belongs to a local socket that a process created
// or used while hdrlog was running (docs/syscalls.md, "Process fields on
// packets"): forwarded packets, and sockets older than hdrlog, have none.

// procFields are the process fields, in documented order.
var procFields = []*Field{
	{Name: "proc.pid", Type: TypeUint, Bits: 32, Header: HdrProc, Computed: true,
		Doc: "Process id (the thread group id): of the caller of a system call; of the process that created or last used the packet's local socket."},
	{Name: "proc.tid", Type: TypeUint, Bits: 32, Header: HdrProc, Computed: true, Doc: "Thread id: of the caller; of the thread that created or last used the packet's local socket."},
	{Name: "user.uid", Type: TypeUint, Bits: 32, Header: HdrProc, Computed: true, Doc: "Real user id of that process."},
	{Name: "proc.name", Type: TypeString, Header: HdrProc, Computed: true, L7: &L7Field{MaxLen: CommLen},
		Doc: "The process's command name (the kernel's comm: at most 15 bytes); tested with == only."},
	{Name: "cgroup.id", Type: TypeUint, Bits: 64, Header: HdrProc, Computed: true,
		Doc: "Id of the process's cgroup (cgroup v2): the inode number of its directory in the cgroup file system."},
	{Name: "container.id", Type: TypeString, Header: HdrProc, Computed: true, L7: &L7Field{MaxLen: 12},
		Doc: "The process's container (12 hex digits; host outside containers), from its cgroup's path when the event is written; log only."},
}

// ContainerOf is the field whose kernel value a user-space field is
// computed from when the event is written.
var ContainerOf = map[string]string{"container.id": "cgroup.id"}

// HasSocket reports whether packets at h may belong to a local socket whose
// process the packet programs can find (process fields are available).
func (h Hook) HasSocket() bool { return h == HookTCIngress || h == HookTCEgress || h.IsCgroup() }

// ProcValue is the layout of what the socket hooks record for a socket,
// which the packet programs read: offsets of the process fields.
const (
	ProcPid    = 0  // u32
	ProcTid    = 4  // u32
	ProcUid    = 8  // u32
	ProcCgroup = 16 // u64
	ProcComm   = 24 // CommLen bytes, zero-padded
	ProcSize   = ProcComm + CommLen
)

// IsProcess reports whether h is the process fields' header.
func (h Header) IsProcess() bool { return h == HdrProc }
