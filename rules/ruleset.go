package rules

import (
	"fmt"
	"net/netip"
	"strings"
)

// Hook is where a rule's program runs.
type Hook int

const (
	HookTCIngress Hook = iota // the default
	HookTCEgress
	HookXDP
	// System-call hooks (syscall.go), one per system call, after the
	// packet hooks.
	HookSyscallConnect
	HookSyscallBind
	HookSyscallSendto
	HookSyscallListen
	HookSyscallAccept
	HookSyscallAccept4
	// Cgroup hooks (cgroup.go): the packets of the sockets of the
	// processes in one cgroup, whatever interface they use.
	HookCgroupIngress
	HookCgroupEgress
	// System calls on files and programs (syscall.go).
	HookSyscallOpenat
	HookSyscallExecve
	HookSyscallExecveat
	NumHooks
)

var hookNames = [...]string{"tc ingress", "tc egress", "xdp", "syscall connect", "syscall bind", "syscall sendto",
	"syscall listen", "syscall accept", "syscall accept4", "cgroup ingress", "cgroup egress",
	"syscall openat", "syscall execve", "syscall execveat"}

func (h Hook) String() string { return hookNames[h] }

// Hooks lists every interface hook (the packet hooks of an interface) in
// a fixed order.
var Hooks = []Hook{HookTCIngress, HookTCEgress, HookXDP}

// CgroupHooks lists the packet hooks of a cgroup.
var CgroupHooks = []Hook{HookCgroupIngress, HookCgroupEgress}

// AllHooks lists every hook: the interface hooks, the cgroup hooks, then
// the system-call hooks.
var AllHooks = append(append(append([]Hook(nil), Hooks...), CgroupHooks...), SyscallHooks...)

// ParseHook parses a hook as written in a rule file; runs of white space count
// as one space.
func ParseHook(s string) (Hook, bool) {
	norm := strings.Join(strings.Fields(strings.ToLower(s)), " ")
	for i, n := range hookNames {
		if n == norm {
			return Hook(i), true
		}
	}
	return 0, false
}

// RuleSet is a checked set of rules: every name resolved, every literal typed.
// It is the single source of meaning for the compiler and the reference
// evaluator.
type RuleSet struct {
	Rules []*Rule
	// SecretQuery are the hashes (QueryHashes) of the query parameters
	// whose values are masked, the defaults and the redact statements'
	// (redact.go): the rules' logged URL fields carry them too, and the
	// request target an HTTP transaction keeps for its response
	// (http.response_for.uri) is masked with them.
	SecretQuery []uint32
}

// ForHook returns the rules of one hook, in rule-set order.
func (rs *RuleSet) ForHook(h Hook) []*Rule {
	var out []*Rule
	for _, r := range rs.Rules {
		if r.Hook == h {
			out = append(out, r)
		}
	}
	return out
}

// Rule is one checked rule.
type Rule struct {
	Index int // position in the RuleSet; events carry it
	Name  string
	Hook  Hook
	Match Pred // nil: every packet
	Log   []LogField
	Span  Span
	// Ports are the extra ports on which the rule sees L7 protocols
	// (`ports http 8081`), besides DefaultPorts.
	Ports []L7Ports
	// Cgroup is the cgroup a cgroup hook's rule names ("": the one
	// given on the command line).
	Cgroup string
	// Count makes the rule count its matches per key (the fields of Log)
	// instead of logging them; Sample and Limit thin out what a logging
	// rule logs (volume.go). Nil when not given.
	Count  *Aggregate
	Sample *Sampling
	Limit  *RateLimit
}

// Thinned reports whether some of the rule's matches may not be logged by
// choice (sampled out, or over its limit).
func (r *Rule) Thinned() bool { return r.Sample != nil || r.Limit != nil }

// FieldRef is one occurrence of a field: Layer is 1-based (1 is the outer
// VLAN tag; single-occurrence fields always have layer 1).
type FieldRef struct {
	Field *Field
	Layer int
}

func (r FieldRef) String() string {
	if r.Field.MaxLayers() > 1 {
		return fmt.Sprintf("%s#%d", r.Field.Name, r.Layer)
	}
	return r.Field.Name
}

// LogField is one field a rule logs; Name is the output member name, as written.
type LogField struct {
	Name string
	Ref  FieldRef
	Span Span
	// String fields: MaxLen is the most bytes an event carries (longer
	// values are truncated, and say so); Redact logs "[redacted]" and the
	// length instead of the value.
	MaxLen int
	Redact bool
	// MaskURL masks the value's userinfo and the values of the query
	// parameters whose name hashes are SecretQuery (redact.go) in events.
	MaskURL     bool
	SecretQuery []uint32
}

// Pred is a typed predicate over one packet. Every comparison refers to one
// occurrence of one field and is false when that occurrence is absent;
// either-direction fields and fields with several occurrences have been
// expanded into And/Or of single occurrences by the checker.
type Pred interface{ isPred() }

// PredAnd holds when all its terms hold.
type PredAnd struct{ Terms []Pred }

// PredOr holds when any of its terms holds.
type PredOr struct{ Terms []Pred }

// PredNot is logical negation.
type PredNot struct{ X Pred }

// PredConst is a constant truth value.
type PredConst struct{ Value bool }

// PredExists holds when the field occurrence (or protocol header) is present.
type PredExists struct{ Ref FieldRef }

// PredCompare holds when the field is present and (value & Mask) Op Value.
// Mask is 0 when the expression has none. Addresses with a prefix shorter
// than the full length compare under that prefix (Op is == or !=).
type PredCompare struct {
	Ref   FieldRef
	Mask  uint64
	Op    CmpOp
	Value Value
}

// PredInSet holds when the field is present and its (masked) value is one of
// the items.
type PredInSet struct {
	Ref   FieldRef
	Mask  uint64
	Items []SetItem
	// Set names the named set the items come from ("" for a set written
	// inline): rules using one named set share its map, and a reload that
	// changes only its elements updates the map in place.
	Set string
}

// PredBitTest holds when the field is present and value & Mask != 0.
type PredBitTest struct {
	Ref  FieldRef
	Mask uint64
}

// PredFieldCompare holds when both field occurrences are present and
// Left Op Right (Wireshark's field-to-field comparison, ip.src == ip.dst).
// Both have the same type; addresses and MACs order byte by byte, as
// unsigned big-endian numbers.
type PredFieldCompare struct {
	Left, Right FieldRef
	Op          CmpOp
}

func (*PredFieldCompare) isPred() {}

// PredSlice holds when the field occurrence is present and its bytes
// [Start, Start+Len) (within the field: the checker resolves slices of
// fixed-size fields) satisfy the test: == or != Lit, contains Lit, or, as
// a big-endian integer V (Len <= 4): V & Mask != 0 (BitTest), or
// (V & Mask) Op U (Mask 0: no mask).
//
// On a byte field of variable length (Var: tcp.payload, udp.payload,
// frame), Start and Len are as written: a negative Start counts from the
// end, Len may be SliceToEnd, and the whole field is [0:]. The slice has a
// value when it lies within the field, else it is empty, as in tshark 4.0:
// then == and contains are false and != is true. Only the field's first
// PayloadWindow bytes are read: a test that needs a byte past them is
// false (a documented miss, never a false match), but for contains,
// which searches the part of the slice within them. Exists is a bare
// slice: true when it lies within the field. Fold compares ASCII letters
// in either case (matches).
type PredSlice struct {
	Ref        FieldRef
	Start, Len int
	Op         CmpOp // ==, !=, contains on Lit; any comparison on the integer
	Lit        []byte
	Int        bool // the slice is read as an integer (Mask, BitTest, U)
	BitTest    bool
	Mask       uint64
	U          uint64
	Var        bool
	Exists     bool
	Fold       bool
}

func (*PredSlice) isPred() {}

// PredLen holds when the field occurrence is present and its length in
// bytes (Wireshark's len()) Op N.
type PredLen struct {
	Ref FieldRef
	Op  CmpOp
	N   uint64
}

func (*PredLen) isPred() {}

func (*PredAnd) isPred()     {}
func (*PredOr) isPred()      {}
func (*PredNot) isPred()     {}
func (*PredConst) isPred()   {}
func (*PredExists) isPred()  {}
func (*PredCompare) isPred() {}
func (*PredInSet) isPred()   {}
func (*PredBitTest) isPred() {}

// SetItem is a value, a prefix or an inclusive range Lo..Hi (Hi == Lo for a
// single value).
type SetItem struct {
	Lo, Hi Value
}

// IsRange reports whether the item is a range of more than one value.
func (s SetItem) IsRange() bool { return s.Lo != s.Hi }

// Value is a typed literal. It holds no pointer and takes 32 bytes: a set
// of a million elements is a million pairs of them, which the garbage
// collector then need not scan.
type Value struct {
	// U holds integers and booleans (0/1).
	U uint64
	// addr holds an address (already masked to its prefix): an IPv4
	// address in its first 4 bytes. Addr returns it; AddrValue sets it.
	addr [16]byte
	// MAC holds a MAC address.
	MAC  [6]byte
	Type Type
	// Bits is the prefix length of an address (32 or 128: exact).
	Bits uint8
}

// AddrValue is an address value of type t (TypeIPv4 or TypeIPv6): a with
// a prefix length of bits.
func AddrValue(t Type, a netip.Addr, bits int) Value {
	v := Value{Type: t, Bits: uint8(bits)}
	if u := a.Unmap(); t == TypeIPv4 && u.Is4() {
		b := u.As4()
		copy(v.addr[:], b[:])
	} else {
		v.addr = a.As16()
	}
	return v
}

// Addr returns an address value's address (the zero Addr for other
// types).
func (v Value) Addr() netip.Addr {
	switch v.Type {
	case TypeIPv4:
		return netip.AddrFrom4([4]byte(v.addr[:4]))
	case TypeIPv6:
		return netip.AddrFrom16(v.addr)
	}
	return netip.Addr{}
}

// Bytes returns an address or MAC value in network order (nil for other
// types).
func (v Value) Bytes() []byte {
	switch v.Type {
	case TypeIPv4, TypeIPv6:
		return v.Addr().AsSlice()
	case TypeMAC:
		return v.MAC[:]
	}
	return nil
}

// IsPrefix reports whether v is an address prefix shorter than a full address.
func (v Value) IsPrefix() bool {
	return (v.Type == TypeIPv4 || v.Type == TypeIPv6) && int(v.Bits) < v.Addr().BitLen()
}

// Prefix returns the address as a netip.Prefix.
func (v Value) Prefix() netip.Prefix { return netip.PrefixFrom(v.Addr(), int(v.Bits)) }

func (v Value) String() string {
	switch v.Type {
	case TypeBool:
		if v.U != 0 {
			return "1"
		}
		return "0"
	case TypeIPv4, TypeIPv6:
		if v.IsPrefix() {
			return v.Prefix().String()
		}
		return v.Addr().String()
	case TypeMAC:
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", v.MAC[0], v.MAC[1], v.MAC[2], v.MAC[3], v.MAC[4], v.MAC[5])
	default:
		return fmt.Sprint(v.U)
	}
}

// String renders a predicate in the expression language (fully parenthesised),
// for listings and test failures.
func PredString(p Pred) string { return predString(p, 0) }

// PredSummary is PredString with sets cut to their first max elements and
// a count of the others: a listing's comment on a rule with a set of a
// million addresses.
func PredSummary(p Pred, max int) string { return predString(p, max) }

func predString(p Pred, max int) string {
	switch p := p.(type) {
	case nil:
		return "true"
	case *PredAnd:
		return joinPreds(p.Terms, " && ", max)
	case *PredOr:
		return joinPreds(p.Terms, " || ", max)
	case *PredNot:
		return "!" + predString(p.X, max)
	case *PredConst:
		return fmt.Sprint(p.Value)
	case *PredExists:
		return p.Ref.String()
	case *PredCompare:
		return fmt.Sprintf("%s %s %s", maskedString(p.Ref, p.Mask), p.Op, p.Value)
	case *PredInSet:
		if p.Set != "" {
			return fmt.Sprintf("%s in $%s", maskedString(p.Ref, p.Mask), p.Set)
		}
		var items []string
		for i, it := range p.Items {
			if max > 0 && i == max {
				items = append(items, fmt.Sprintf("… %d more", len(p.Items)-max))
				break
			}
			if it.IsRange() {
				items = append(items, it.Lo.String()+".."+it.Hi.String())
			} else {
				items = append(items, it.Lo.String())
			}
		}
		return fmt.Sprintf("%s in {%s}", maskedString(p.Ref, p.Mask), strings.Join(items, ", "))
	case *PredBitTest:
		return fmt.Sprintf("%s & %#x", p.Ref, p.Mask)
	case *PredFieldCompare:
		return fmt.Sprintf("%s %s %s", p.Left, p.Op, p.Right)
	case *PredSlice:
		return p.String()
	case *PredLen:
		return fmt.Sprintf("len(%s) %s %d", p.Ref, p.Op, p.N)
	case *PredText:
		return p.String()
	case *PredTextSet:
		return p.summary(max)
	}
	return fmt.Sprintf("%T", p)
}

func maskedString(r FieldRef, mask uint64) string {
	if mask == 0 {
		return r.String()
	}
	return fmt.Sprintf("(%s & %#x)", r, mask)
}

func joinPreds(ps []Pred, sep string, max int) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, predString(p, max))
	}
	return "(" + strings.Join(parts, sep) + ")"
}
