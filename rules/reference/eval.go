package reference

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/hdrlog/hdrlog/rules"
)

// Event is what one matching rule logs for one frame.
type Event struct {
	Rule int // index in the rule set
	// Values holds the logged fields in the rule's log order.
	Values []Value
}

// Evaluator evaluates one rule set.
type Evaluator struct {
	rs *rules.RuleSet
	l7 l7State // held ClientHellos (l7.go)
	// ports are the ports each hook decodes each L7 protocol on, sni the
	// hooks whose rules use the server name (l7.go).
	ports map[portsKey][]uint16
	sni   map[rules.Hook]bool
	// out and vals are EvalPacket's storage, reused call after call.
	out  []Event
	vals []Value
	tx   txState // transactions (tx.go)
	// sets indexes the large set tests (setindex.go).
	sets map[*rules.PredInSet]*setIndex
}

// New returns an evaluator of rs. It fails when the rule set uses a field
// this package has no decoding for (Decodes).
func New(rs *rules.RuleSet) (*Evaluator, error) {
	for _, r := range rs.Rules {
		if r.Hook.IsSyscall() {
			continue // no packet reaches them; replays refuse them
		}
		var err error
		check := func(ref rules.FieldRef) {
			if err == nil {
				err = known(ref)
			}
		}
		walk(r.Match, check)
		for _, lf := range r.Log {
			check(lf.Ref)
		}
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.Name, err)
		}
	}
	indexOnce.Do(indexFields)
	ports, sni := portsOf(rs)
	return &Evaluator{rs: rs, l7: l7State{held: map[heldKey]heldHello{}}, ports: ports, sni: sni, tx: newTxState(rs), sets: setIndexes(rs)}, nil
}

func known(ref rules.FieldRef) error {
	if !Decodes(ref.Field) {
		return fmt.Errorf("the reference evaluator does not decode %s (it covers the Ethernet, VLAN, IP, TCP, UDP, ICMP and ICMPv6 fields)", ref.Field.Name)
	}
	return nil
}

// Decodes reports whether the evaluator knows a catalogue field (or
// protocol). It knows the headers up to the transport layer; a field added
// to the catalogue needs a line in fields.go.
func Decodes(f *rules.Field) bool {
	if f.Type == rules.TypeProto {
		_, ok := protocols[f.Name]
		return ok
	}
	if f.Header.IsL7() || f.Header.IsProcess() {
		return true // l7.go; a replayed frame has no local socket, hence no process
	}
	if f.IsEither() {
		for _, n := range f.Either {
			if _, ok := fields[n]; !ok {
				return false
			}
		}
		return true
	}
	_, ok := fields[f.Name]
	return ok
}

// Eval returns the events the rules of hook h produce for one frame, in rule
// order, valid until the evaluator's next Eval or EvalPacket.
func (e *Evaluator) Eval(h rules.Hook, frame []byte) []Event {
	return e.EvalPacket(h, Decode(frame))
}

// EvalPacket is Eval on a decoded frame. The events are valid until the
// evaluator's next EvalPacket: their storage is reused.
func (e *Evaluator) EvalPacket(h rules.Hook, p *Packet) []Event {
	out := e.out[:0]
	e.vals = e.vals[:0]
	p.l7 = e.decodeL7(h, p)
	p.sets = e.sets
	out = e.evalRules(h, p, out, func(*rules.Rule) bool { return true })
	if p.l7 != nil {
		// Further requests of the segment: the rules that use HTTP, again.
		for _, m := range p.l7.more {
			p.l7.http, p.l7.request = m, true
			out = e.evalRules(h, p, out, usesHTTP)
		}
	}
	e.out = out
	return out
}

func (e *Evaluator) evalRules(h rules.Hook, p *Packet, out []Event, which func(*rules.Rule) bool) []Event {
	for _, r := range e.rs.Rules {
		p.rule = r // whose view of L7 protocols counts (its ports)
		if r.Hook != h || !which(r) || (r.Match != nil && !holds(r.Match, p)) {
			continue
		}
		start := len(e.vals)
		for _, lf := range r.Log {
			e.vals = append(e.vals, value(lf.Ref, p))
		}
		out = append(out, Event{Rule: r.Index, Values: e.vals[start:len(e.vals):len(e.vals)]})
	}
	return out
}

// usesHTTP reports whether a rule uses an HTTP field.
func usesHTTP(r *rules.Rule) bool {
	used := false
	check := func(ref rules.FieldRef) { used = used || ref.Field.Header == rules.HdrHTTP }
	walk(r.Match, check)
	for _, lf := range r.Log {
		check(lf.Ref)
	}
	return used
}

func value(ref rules.FieldRef, p *Packet) Value {
	if ref.Field.Header.IsProcess() {
		return Value{} // a captured frame has no local socket (docs/syscalls.md)
	}
	if ref.Field.Header.IsL7() {
		return l7Value(ref, p)
	}
	if a := fieldIndex.find(ref.Field).acc; a != nil {
		return a(p, ref.Layer)
	}
	return fields[ref.Field.Name](p, ref.Layer)
}

func present(ref rules.FieldRef, p *Packet) bool {
	if ref.Field.Type == rules.TypeProto {
		if f := fieldIndex.find(ref.Field).proto; f != nil {
			return f(p)
		}
		return protocols[ref.Field.Name](p)
	}
	return value(ref, p).Present
}

// fieldIndex holds the fields and protocols keyed by the catalogue's
// fields, for the per-frame lookups (a pointer hashes faster than a name).
// It is filled once every init has filled the maps, and only read after.
var (
	indexOnce  sync.Once
	fieldIndex fieldTable
)

func indexFields() {
	all := rules.Fields()
	n := 1
	for n < 4*len(all) {
		n <<= 1
	}
	t := fieldTable{slots: make([]fieldSlot, n), mask: uintptr(n - 1)}
	for _, f := range all {
		a := fields[f.Name]
		var pr func(*Packet) bool
		if f.Type == rules.TypeProto {
			pr = protocols[f.Name]
		}
		if a == nil && pr == nil {
			continue
		}
		i := t.hash(f)
		for t.slots[i].f != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = fieldSlot{f: f, acc: a, proto: pr}
	}
	fieldIndex = t
}

// fieldTable is an open-addressed table keyed by field pointers, a quarter
// full at most: a lookup is a multiply and, mostly, one compare (a Go map's
// lookups took ~10% of a --no-kernel replay).
type fieldTable struct {
	slots []fieldSlot
	mask  uintptr
}

type fieldSlot struct {
	f     *rules.Field
	acc   accessor
	proto func(*Packet) bool
}

func (t *fieldTable) hash(f *rules.Field) uintptr {
	return uintptr(uint64(uintptr(unsafe.Pointer(f)))*0x9e3779b97f4a7c15>>40) & t.mask
}

// find returns f's slot, empty if f has none.
func (t *fieldTable) find(f *rules.Field) fieldSlot {
	for i := t.hash(f); ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.f == f || s.f == nil {
			if s.f == nil {
				return fieldSlot{}
			}
			return s
		}
	}
}

// holds evaluates a predicate. Every comparison is false on an absent field.
func holds(pred rules.Pred, p *Packet) bool {
	switch pred := pred.(type) {
	case *rules.PredAnd:
		for _, t := range pred.Terms {
			if !holds(t, p) {
				return false
			}
		}
		return true
	case *rules.PredOr:
		for _, t := range pred.Terms {
			if holds(t, p) {
				return true
			}
		}
		return false
	case *rules.PredNot:
		return !holds(pred.X, p)
	case *rules.PredConst:
		return pred.Value
	case *rules.PredExists:
		return present(pred.Ref, p)
	case *rules.PredCompare:
		v := value(pred.Ref, p)
		return v.Present && compare(pred.Ref.Field, v, pred.Mask, pred.Op, pred.Value)
	case *rules.PredInSet:
		v := value(pred.Ref, p)
		if !v.Present {
			return false
		}
		if x := p.sets[pred]; x != nil {
			return x.has(pred.Ref.Field, v)
		}
		for _, it := range pred.Items {
			if inItem(pred.Ref.Field, v, pred.Mask, it) {
				return true
			}
		}
		return false
	case *rules.PredBitTest:
		v := value(pred.Ref, p)
		return v.Present && v.U&pred.Mask != 0
	case *rules.PredText:
		v := value(pred.Ref, p)
		if !v.Present {
			return false
		}
		if l7 := pred.Ref.Field.L7; l7 != nil && l7.List {
			for _, e := range v.Elems {
				if pred.Holds(e) != pred.All {
					return !pred.All
				}
			}
			return pred.All
		}
		return pred.Holds(v.Bytes)
	case *rules.PredTextSet:
		v := value(pred.Ref, p)
		return v.Present && pred.Holds(v.Bytes)
	case *rules.PredFieldCompare:
		a, b := value(pred.Left, p), value(pred.Right, p)
		return a.Present && b.Present && ordered(cmpValues(pred.Left.Field, a, b), pred.Op)
	case *rules.PredSlice:
		v := value(pred.Ref, p)
		return v.Present && sliceHolds(pred, v.Bytes)
	case *rules.PredLen:
		v := value(pred.Ref, p)
		return v.Present && order(uint64(len(v.Bytes)), pred.Op, pred.N)
	}
	panic(fmt.Sprintf("reference: unexpected predicate %T", pred))
}

func masked(u, mask uint64) uint64 {
	if mask != 0 {
		return u & mask
	}
	return u
}

func compare(f *rules.Field, v Value, mask uint64, op rules.CmpOp, lit rules.Value) bool {
	switch f.Type {
	case rules.TypeIPv4, rules.TypeIPv6:
		a := addrOf(v)
		if lit.IsPrefix() || op == rules.CmpEq || op == rules.CmpNe {
			in := lit.Prefix().Contains(a)
			if op == rules.CmpNe {
				return !in
			}
			return in // the checker allows only == and != on prefixes
		}
		// Addresses order as unsigned big-endian numbers.
		return ordered(bytes.Compare(v.Bytes, lit.Addr().AsSlice()), op)
	case rules.TypeMAC:
		return ordered(bytes.Compare(v.Bytes, lit.MAC[:]), op)
	}
	return order(masked(v.U, mask), op, lit.U)
}

// ordered reports whether a three-way comparison's result (-1, 0, +1)
// satisfies op.
func ordered(c int, op rules.CmpOp) bool { return order(uint64(c+1), op, 1) }

// cmpValues compares two present values of one type (a field-to-field
// comparison): -1, 0 or +1.
func cmpValues(f *rules.Field, a, b Value) int {
	switch f.Type {
	case rules.TypeIPv4, rules.TypeIPv6, rules.TypeMAC:
		return bytes.Compare(a.Bytes, b.Bytes)
	}
	return cmp.Compare(a.U, b.U)
}

func order(a uint64, op rules.CmpOp, b uint64) bool {
	switch op {
	case rules.CmpEq:
		return a == b
	case rules.CmpNe:
		return a != b
	case rules.CmpLt:
		return a < b
	case rules.CmpLe:
		return a <= b
	case rules.CmpGt:
		return a > b
	case rules.CmpGe:
		return a >= b
	}
	panic("reference: unexpected operator " + op.String())
}

func inItem(f *rules.Field, v Value, mask uint64, it rules.SetItem) bool {
	switch f.Type {
	case rules.TypeIPv4, rules.TypeIPv6:
		if !it.IsRange() {
			return it.Lo.Prefix().Contains(addrOf(v))
		}
		return bytes.Compare(it.Lo.Addr().AsSlice(), v.Bytes) <= 0 && bytes.Compare(v.Bytes, it.Hi.Addr().AsSlice()) <= 0
	case rules.TypeMAC:
		return bytes.Compare(it.Lo.MAC[:], v.Bytes) <= 0 && bytes.Compare(v.Bytes, it.Hi.MAC[:]) <= 0
	}
	u := masked(v.U, mask)
	return it.Lo.U <= u && u <= it.Hi.U
}

func addrOf(v Value) netip.Addr {
	a, _ := netip.AddrFromSlice(v.Bytes)
	return a
}

func ipv4Uint(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// walk calls fn for every field occurrence a predicate refers to.
func walk(pred rules.Pred, fn func(rules.FieldRef)) {
	switch pred := pred.(type) {
	case *rules.PredAnd:
		for _, t := range pred.Terms {
			walk(t, fn)
		}
	case *rules.PredOr:
		for _, t := range pred.Terms {
			walk(t, fn)
		}
	case *rules.PredNot:
		walk(pred.X, fn)
	case *rules.PredExists:
		fn(pred.Ref)
	case *rules.PredCompare:
		fn(pred.Ref)
	case *rules.PredInSet:
		fn(pred.Ref)
	case *rules.PredBitTest:
		fn(pred.Ref)
	case *rules.PredText:
		fn(pred.Ref)
	case *rules.PredTextSet:
		fn(pred.Ref)
	case *rules.PredFieldCompare:
		fn(pred.Left)
		fn(pred.Right)
	case *rules.PredSlice:
		fn(pred.Ref)
	case *rules.PredLen:
		fn(pred.Ref)
	}
}

// sliceHolds tests the bytes [Start, Start+Len) of a value; a slice past
// its end has no value (false).
func sliceHolds(p *rules.PredSlice, b []byte) bool {
	if p.Var {
		return varSliceHolds(p, b)
	}
	if p.Start < 0 || p.Start+p.Len > len(b) {
		return false
	}
	s := b[p.Start : p.Start+p.Len]
	if p.Int {
		var v uint64
		for _, c := range s {
			v = v<<8 | uint64(c)
		}
		if p.BitTest {
			return v&p.Mask != 0
		}
		return order(masked(v, p.Mask), p.Op, p.U)
	}
	switch p.Op {
	case rules.CmpEq:
		return bytes.Equal(s, p.Lit)
	case rules.CmpNe:
		return !bytes.Equal(s, p.Lit)
	case rules.CmpContains:
		return bytes.Contains(s, p.Lit)
	}
	panic("reference: unexpected slice operator " + p.Op.String())
}
