package compiler

import (
	"sort"

	"github.com/hdrlog/hdrlog/rules"
)

// The packet record is where the parser leaves, on the stack, the values the
// rules of a hook need. Each slot holds either header bytes exactly as they
// sit in the packet (network byte order: "raw"), or a value the parser
// computed, in host order. Slots are zero until written, and the parser writes
// a slot only when the fact it belongs to holds; so a zero in a slot never
// passes for a present value without the fact bit saying so.

// slotKey identifies what a slot holds.
type slotKey struct {
	computed string // "" for raw header bytes; otherwise the computed value's name
	header   rules.Header
	offset   int
	size     int
	layer    int
}

// Computed values.
const (
	compFrameLen  = "frame.len"
	compEthType   = "eth.type"
	compVLANTCI   = "vlan.tci"
	compVLANEType = "vlan.etype"
	compTCPLen    = "tcp.len"
	compIPVersion = "ip.version" // the first byte of the IPv4 or IPv6 header
	// The outer tag's TCI again, written only for an S-tag: a slot is
	// written only when its fact holds (predicates rely on it).
	compSTagTCI = "ieee8021ad.tci"
)

// slot is a slot's place on the stack: Off is relative to R10 (negative).
type slot struct {
	key  slotKey
	off  int16
	size int
	host bool // computed, host byte order; otherwise raw network bytes
}

// keyOf returns the slot key holding a field occurrence.
func keyOf(ref rules.FieldRef) slotKey {
	f := ref.Field
	if f.Header.IsSyscall() || f.Header.IsProcess() {
		return syscallKeyOf(ref)
	}
	if f.Header.IsL7() {
		return l7KeyOf(ref)
	}
	if rules.IsBytes(f) {
		return payKeyOf(f)
	}
	if !f.Computed {
		return slotKey{header: f.Header, offset: f.Offset, size: f.Size, layer: 1}
	}
	switch f.Name {
	case "frame.len":
		return slotKey{computed: compFrameLen, size: 4, layer: 1}
	case "eth.type":
		return slotKey{computed: compEthType, size: 2, layer: 1}
	case "vlan.etype":
		return slotKey{computed: compVLANEType, size: 2, layer: ref.Layer}
	case "vlan.id", "vlan.priority", "vlan.dei":
		return slotKey{computed: compVLANTCI, size: 2, layer: ref.Layer}
	case "ieee8021ad.id", "ieee8021ad.priority", "ieee8021ad.dei":
		return slotKey{computed: compSTagTCI, size: 2, layer: 1}
	case "ip.version":
		return slotKey{computed: compIPVersion, size: 1, layer: 1}
	case "tcp.len":
		return slotKey{computed: compTCPLen, size: 4, layer: 1}
	}
	panic("compiler: no slot for computed field " + f.Name)
}

// record is the layout of the packet record of one program.
type record struct {
	slots map[slotKey]*slot
	lo    int16 // lowest stack offset used (record spans [lo, hi))
	hi    int16
}

// Stack frame: the lookup key for the lost-event counter sits at keyOff, the
// presence bitmap's opaque copy at presenceOff (see parseEnd), the record
// below them.
const (
	keyOff      = -8
	presenceOff = -16
	recordTop   = -16
)

func layoutRecord(keys []slotKey) *record {
	// Largest first keeps every slot naturally aligned.
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].size > keys[j].size })
	r := &record{slots: map[slotKey]*slot{}, hi: recordTop, lo: recordTop}
	off := int16(recordTop)
	for _, k := range keys {
		if _, dup := r.slots[k]; dup {
			continue
		}
		size := k.size
		off -= int16(size)
		if a := int16(alignOf(size)); off%a != 0 {
			off -= a + off%a
		}
		r.slots[k] = &slot{key: k, off: off, size: size, host: k.computed != "" && !rawComputed[k.computed]}
	}
	// Round down to 8 bytes so the record can be zeroed with 8-byte stores.
	for off%8 != 0 {
		off--
	}
	r.lo = off
	return r
}

func alignOf(size int) int {
	switch {
	case size >= 8:
		return 8
	case size >= 4:
		return 4
	case size >= 2:
		return 2
	}
	return 1
}

// Size is the record's size in bytes.
func (r *record) Size() int { return int(r.hi - r.lo) }

// has reports whether the record holds the slot.
func (r *record) has(k slotKey) bool { _, ok := r.slots[k]; return ok }

// headerSlots returns the raw slots of one header, in offset order.
func (r *record) headerSlots(h rules.Header) []*slot {
	var out []*slot
	for k, s := range r.slots {
		if k.computed == "" && k.header == h {
			out = append(out, s)
		}
	}
	// In a total order (slots at one offset differ in size or layer): map
	// order must not reach the program.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].key, out[j].key
		if a.offset != b.offset {
			return a.offset < b.offset
		}
		if a.size != b.size {
			return a.size < b.size
		}
		return a.layer < b.layer
	})
	return out
}
