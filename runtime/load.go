package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// DefaultRingBytes is the default ring-buffer size.
const DefaultRingBytes = 8 << 20

// LoadOptions tune loading.
type LoadOptions struct {
	RingBytes int // ring-buffer size, a power of two ≥ the page size; default DefaultRingBytes
	// Events is the ring buffer of a running collection, for a reload:
	// the new programs write into it, so the reader and its position stay.
	// RingBytes must then be its size.
	Events *ebpf.Map
	// Proc is the socket hooks' map (ProcTracker.Map) that programs with
	// process fields read; without it they get a map of their own, which
	// nothing fills (their process fields are null).
	Proc *ebpf.Map
	// SyscallArgs is the arguments map of a running collection's
	// system-call programs (Collection.SyscallArgs), for a reload: the new
	// programs share it, so a call that entered under the old rules finds
	// its arguments at its exit under the new ones.
	SyscallArgs *ebpf.Map
	// TxOf is a loaded collection of the same rule set whose transaction
	// state (flows and counters) the new programs share: a replay's build
	// of tc rules at XDP, for frames a tc test run refuses, pairs with the
	// requests the tc programs stored.
	TxOf *Collection
	// EmptySets leaves the set maps empty (compiler.SetMap): enough to
	// verify the programs.
	EmptySets bool
}

// Collection is a compiled rule set loaded into the kernel: one program per
// hook, the ring buffer and the lost-event counters.
type Collection struct {
	Output   *compiler.Output
	Programs map[rules.Hook]*ebpf.Program
	Events   *ebpf.Map
	Lost     *ebpf.Map
	Decoder  *Decoder
	// Acct counts, per rule, the matches not logged by choice or for
	// want of room besides the ring buffer (compiler.AcctMap).
	Acct   *ebpf.Map
	agg    *aggMaps  // nil: no rule counts
	clock  *ebpf.Map // compiler.ReplayClockMap; nil: none
	coll   *ebpf.Collection
	reader *ringbuf.Reader
	// unanswered counts the DNS queries SweepDNS reported (timeouts of
	// the dns row of TxStats).
	unanswered atomic.Uint64
}

// ErrPrivilege is returned (wrapped) when the kernel refuses for lack of privileges.
var ErrPrivilege = errors.New("loading eBPF programs needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (run as root)")

// Load loads every program of out into the kernel (the verifier checks them)
// and creates the maps. A verifier rejection names the hook, the rule whose
// code was being checked, and ends with the tail of the verifier's log.
func Load(out *compiler.Output, opts LoadOptions) (*Collection, error) {
	dec, err := NewDecoder(out.Schema)
	if err != nil {
		return nil, err
	}
	if opts.RingBytes == 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if opts.RingBytes < os.Getpagesize() || opts.RingBytes&(opts.RingBytes-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two of at least %d bytes", opts.RingBytes, os.Getpagesize())
	}
	_ = rlimit.RemoveMemlock() // only needed on kernels before 5.11
	spec := out.Spec(opts.RingBytes)
	copts := ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogSizeStart: 1 << 20}}
	copts.MapReplacements = map[string]*ebpf.Map{}
	if opts.Events != nil {
		copts.MapReplacements[compiler.EventsMap] = opts.Events
	}
	if opts.Proc != nil && out.NeedsProc() {
		copts.MapReplacements[compiler.ProcMap] = opts.Proc
	}
	if opts.SyscallArgs != nil && spec.Maps[compiler.SyscallArgsMap] != nil {
		copts.MapReplacements[compiler.SyscallArgsMap] = opts.SyscallArgs
	}
	if opts.TxOf != nil {
		for name := range spec.Maps {
			if m, ok := opts.TxOf.coll.Maps[name]; ok && compiler.IsTxMap(name) {
				copts.MapReplacements[name] = m
			}
		}
	}
	fill := out.Sets
	if opts.TxOf != nil && !opts.EmptySets {
		// The same rule set: its set maps, filled already, serve both.
		fill = nil
		for _, s := range out.Sets {
			if m, ok := opts.TxOf.coll.Maps[s.Name]; ok {
				copts.MapReplacements[s.Name] = m
				continue
			}
			fill = append(fill, s)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, copts)
	if err != nil {
		return nil, explainLoadError(out, err)
	}
	if err := fillTask(coll); err != nil {
		coll.Close()
		return nil, err
	}
	if !opts.EmptySets {
		if err := fillSets(coll, fill); err != nil {
			coll.Close()
			return nil, err
		}
		if err := fillGroupMaps(coll, out); err != nil {
			coll.Close()
			return nil, err
		}
	}
	c := &Collection{
		Output:   out,
		Programs: map[rules.Hook]*ebpf.Program{},
		Events:   coll.Maps[compiler.EventsMap],
		Lost:     coll.Maps[compiler.LostMap],
		Acct:     coll.Maps[compiler.AcctMap],
		clock:    coll.Maps[compiler.ReplayClockMap],
		Decoder:  dec,
		coll:     coll,
	}
	if slot := coll.Maps[compiler.AggCurrentMap]; slot != nil {
		if c.agg, err = newAggMaps(out, slot); err != nil {
			coll.Close()
			return nil, err
		}
	}
	for _, p := range out.Programs {
		c.Programs[p.Hook] = coll.Programs[p.Flavour.Name]
	}
	return c, nil
}

// Close releases the programs and maps (attached links keep programs alive
// until they are closed too).
func (c *Collection) Close() error {
	if c.reader != nil {
		c.reader.Close()
	}
	if c.agg != nil {
		c.agg.close()
	}
	c.coll.Close()
	return nil
}

// Program returns the compiled program of a hook.
func (c *Collection) Program(h rules.Hook) *compiler.Program {
	for _, p := range c.Output.Programs {
		if p.Hook == h {
			return p
		}
	}
	return nil
}

var insnLine = regexp.MustCompile(`^(\d+): \(`)

func explainLoadError(out *compiler.Output, err error) error {
	// The verifier refuses many programs with EACCES: a refusal that
	// comes with a verifier log is the verifier's, not a lack of
	// privileges (without them, the kernel refuses before verifying).
	var ve *ebpf.VerifierError
	isVerifier := errors.As(err, &ve) && len(ve.Log) > 0
	if !isVerifier && (errors.Is(err, os.ErrPermission) || isPermissionError(err)) {
		return privilegeError(ErrPrivilege, err, capBPF, capNetAdmin, capPerfmon)
	}
	if ve == nil {
		return err
	}
	// Find the program and the last instruction the verifier looked at.
	var prog *compiler.Program
	for _, p := range out.Programs {
		if strings.Contains(err.Error(), p.Flavour.Name) {
			prog = p
		}
	}
	last := -1
	for _, l := range ve.Log {
		if m := insnLine.FindStringSubmatch(l); m != nil {
			last, _ = strconv.Atoi(m[1])
		}
	}
	tail := ve.Log
	if len(tail) > 20 {
		tail = tail[len(tail)-20:]
	}
	where := "program"
	if prog != nil {
		where = fmt.Sprintf("%s program", prog.Hook)
		if r := prog.RuleAt(last); r >= 0 {
			where += fmt.Sprintf(", in the code of rule %q (instruction %d)", out.Schema.Rules[r].Name, last)
		} else if last >= 0 {
			where += fmt.Sprintf(", in the header parser (instruction %d)", last)
		}
	}
	return fmt.Errorf("the kernel verifier rejected the %s: %v\nthis is a bug in hdrlog's compiler; please report it with the rule file\nverifier log (last %d lines):\n  %s",
		where, ve.Cause, len(tail), strings.Join(tail, "\n  "))
}

// Run runs the program of hook h once over frame (BPF_PROG_TEST_RUN); the
// events it emits wait in the ring buffer for Drain.
func (c *Collection) Run(h rules.Hook, frame []byte) error {
	p, ok := c.Programs[h]
	if !ok {
		return fmt.Errorf("no program for hook %s", h)
	}
	_, err := p.Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	return err
}

// TCMaxWireLen is the longest length on the wire a tc test run's context
// carries (GSO_LEGACY_MAX_SIZE); a longer frame is replayed through XDP.
const TCMaxWireLen = 65536

// RunWire is Run for programs compiled with compiler.Options.TestRun: the
// frame holds the first bytes of a frame of wireLen bytes on the wire (a
// capture's snap length), and frame.len is wireLen. tc programs get it in
// the context's wire_len, XDP programs as a u32 of metadata before the
// frame.
func (c *Collection) RunWire(h rules.Hook, frame []byte, wireLen int) error {
	return c.RunAt(h, frame, wireLen, 0)
}

// RunAt is RunWire for a frame of time tstamp (nanoseconds, the capture's
// clock): what the programs take as the packet's time (transactions'
// http.time). tc programs get it in the context's tstamp, XDP programs as
// a u64 at 8 in the metadata.
func (c *Collection) RunAt(h rules.Hook, frame []byte, wireLen int, tstamp uint64) error {
	p, ok := c.Programs[h]
	if !ok {
		return fmt.Errorf("no program for hook %s", h)
	}
	if !c.Output.Options.TestRun {
		return fmt.Errorf("the %s program was not compiled for test runs", h)
	}
	wireLen = max(wireLen, len(frame))
	opts := &ebpf.RunOptions{Data: frame, Repeat: 1}
	if fl := compiler.FlavourOf(h); fl.CtxWireLen >= 0 {
		if wireLen > TCMaxWireLen {
			return fmt.Errorf("a tc test run carries at most %d bytes on the wire, not %d", TCMaxWireLen, wireLen)
		}
		ctx := make([]byte, fl.CtxWireLen+4)
		binary.NativeEndian.PutUint32(ctx[fl.CtxWireLen:], uint32(wireLen))
		binary.NativeEndian.PutUint64(ctx[fl.CtxTstamp:], tstamp)
		opts.Context = ctx
	} else {
		// struct xdp_md: data is the metadata's length, data_end the size.
		data := make([]byte, testRunMeta+len(frame))
		binary.NativeEndian.PutUint32(data, uint32(wireLen))
		binary.NativeEndian.PutUint64(data[8:], tstamp)
		copy(data[testRunMeta:], frame)
		ctx := make([]byte, 8)
		binary.NativeEndian.PutUint32(ctx[0:], testRunMeta)
		binary.NativeEndian.PutUint32(ctx[4:], uint32(len(data)))
		opts.Data, opts.Context = data, ctx
	}
	_, err := p.Run(opts)
	return err
}

// Drain decodes every event waiting in the ring buffer, without blocking.
func (c *Collection) Drain(fn func(*Event) error) error {
	rd, err := c.ringReader()
	if err != nil {
		return err
	}
	// Most frames log nothing: reading the ring's positions spares the
	// poll (a system call) ReadInto makes when it last found the ring
	// empty. Stopping while records remain to be read, before ReadInto
	// finds the ring empty, spares it for the next frame too: the reader
	// then polls only after discarded records (never, in practice), not
	// twice for every frame that logs.
	if rd.AvailableBytes() == 0 {
		return nil
	}
	var rec ringbuf.Record
	var ev Event
	rd.SetDeadline(time.Now())
	for rd.AvailableBytes() > 0 {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
				return nil
			}
			return err
		}
		if err := c.Decoder.Decode(rec.RawSample, &ev); err != nil {
			return err
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// LostCounts returns the lost-event count of every rule, summed over CPUs.
func (c *Collection) LostCounts() ([]uint64, error) {
	n := len(c.Output.Schema.Rules)
	out := make([]uint64, n)
	// One batch syscall for all rules (a per-key lookup costs one syscall
	// per rule, every second, in the stream); per-key lookups remain the
	// fallback for kernels without batch operations on arrays.
	if ncpu, err := ebpf.PossibleCPU(); err == nil {
		keys := make([]uint32, n)
		vals := make([]uint64, n*ncpu)
		var cursor ebpf.MapBatchCursor
		got, err := c.Lost.BatchLookup(&cursor, keys, vals, nil)
		if got == n && (err == nil || errors.Is(err, ebpf.ErrKeyNotExist)) {
			for i := 0; i < n; i++ {
				for _, v := range vals[i*ncpu : (i+1)*ncpu] {
					out[keys[i]] += v
				}
			}
			return out, nil
		}
	}
	for i := 0; i < n; i++ {
		var per []uint64
		if err := c.Lost.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read lost counter of rule %d: %w", i, err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}
