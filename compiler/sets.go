package compiler

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Sets as maps.
//
// A set test `field in {…}` compiles to a chain of compares, one or two per
// element: a packet that matches no element pays for all of them, and a set
// of some thousands of elements makes the program longer than the kernel
// loads. From SetMapMin elements on, the set's values go into a BPF map
// instead and the test is one lookup, whatever the set's size:
//
//   - a hash map for exact values: integers (ports, protocol numbers; the
//     value as the rule reads it, masked, in host order), IPv4 and IPv6
//     addresses and MAC addresses (their bytes as in the packet);
//   - an LPM trie for IPv4 and IPv6 sets with prefixes, where an address is
//     a /32 or /128 prefix: a lookup finds whether some prefix holds the
//     address.
//
// Ranges (a..b) stay in code beside the lookup. Rules using the same set
// (the same values on fields of the same type, or the same named set)
// share one map. A named set (rules.SetDecl) is a map whatever its size,
// an LPM trie for addresses: a reload that changes only its elements then
// updates the map in place, with no new programs (UpdatableInPlace). The lookup only answers "is the value one of them":
// presence and negation are handled around it as for the chain of compares
// (pred.go), so `!(ip.src in {…})` and an absent field keep their meaning.

// SetMapMin is the number of elements (values and prefixes; ranges are not
// counted) from which a set compiles into a map. Below it the chain of
// compares is cheaper; the crossover is measured by
// `benchreport -only sets` (docs/volume.md has the figures).
var SetMapMin = 32

// SetKind is the kind of map a set compiles into.
type SetKind int

const (
	// SetHash holds exact values.
	SetHash SetKind = iota
	// SetLPM holds address prefixes (addresses as full-length prefixes).
	SetLPM
)

func (k SetKind) String() string {
	if k == SetLPM {
		return "LPM trie"
	}
	return "hash"
}

// SetMap is a set compiled into a map: what the loader creates and fills.
type SetMap struct {
	// Name is the map's name in the collection (Spec), "set_" and the
	// named set's name, or a digest of the values of an inline set.
	Name string
	// Set is the named set's name ("" for an inline set).
	Set  string
	Kind SetKind
	// Type is the type of the values (the field's type).
	Type rules.Type
	// KeySize is the bytes of one key; Keys holds the keys one after
	// another, sorted, without duplicates.
	KeySize int
	Keys    []byte
	// MaxEntries is the map's capacity: room for the set to grow on a
	// reload without new programs (see docs/volume.md).
	MaxEntries int
	// Fields lists the field occurrences that look the map up, for
	// listings.
	Fields []string
	// Fold: a string set's keys are lowered names, looked up by the value
	// with its ASCII capitals lowered (l7_textset.go).
	Fold bool
}

// Len is the number of keys.
func (s *SetMap) Len() int { return len(s.Keys) / s.KeySize }

// Key returns key i.
func (s *SetMap) Key(i int) []byte { return s.Keys[i*s.KeySize : (i+1)*s.KeySize] }

// setUse is how one set test compiles: the map, and the items that stay
// in code (ranges).
type setUse struct {
	m    *SetMap
	rest []rules.SetItem
}

// setPlanner decides which set tests become maps, across the hooks of one
// compilation, so that hooks share maps too.
type setPlanner struct {
	byPred map[*rules.PredInSet]*setUse
	byText map[*rules.PredTextSet]*SetMap
	byKey  map[string]*SetMap
	maps   []*SetMap
}

func newSetPlanner() *setPlanner {
	return &setPlanner{byPred: map[*rules.PredInSet]*setUse{}, byText: map[*rules.PredTextSet]*SetMap{}, byKey: map[string]*SetMap{}}
}

// setMapType reports whether sets of a field can compile into a map, and
// the size of its hash key.
func setMapType(ref rules.FieldRef) (int, bool) {
	f := ref.Field
	if f.Header.IsSyscall() || f.Header.IsL7() || f.Bits > 32 {
		// 64-bit ids (cgroup.id) stay compares (inSet64).
		return 0, false
	}
	switch f.Type {
	case rules.TypeUint:
		return 4, true
	case rules.TypeIPv4:
		return 4, true
	case rules.TypeIPv6:
		return 16, true
	case rules.TypeMAC:
		return 6, true
	}
	return 0, false
}

// use returns how p compiles: nil when it stays a chain of compares.
func (sp *setPlanner) use(g *gen, p *rules.PredInSet) *setUse {
	if u, ok := sp.byPred[p]; ok {
		return u
	}
	u := sp.plan(g, p)
	sp.byPred[p] = u
	return u
}

func (sp *setPlanner) plan(g *gen, p *rules.PredInSet) *setUse {
	size, ok := setMapType(p.Ref)
	if !ok {
		return nil
	}
	f := p.Ref.Field
	if s := g.rec.slots[keyOf(p.Ref)]; f.Type != rules.TypeUint && (s == nil || s.host || s.size != size) {
		return nil
	}
	if f.Type != rules.TypeUint && p.Mask != 0 {
		return nil
	}
	// Exact values and prefixes go into the map, ranges stay in code.
	inMap := func(it *rules.SetItem) bool { return !it.IsRange() || it.Lo.IsPrefix() }
	var rest []rules.SetItem
	exact, lpm := 0, false
	for i := range p.Items {
		it := &p.Items[i]
		if !inMap(it) {
			rest = append(rest, *it)
			continue
		}
		exact++
		lpm = lpm || it.Lo.IsPrefix()
	}
	if exact < SetMapMin && p.Set == "" {
		return nil
	}
	if p.Set != "" && (f.Type == rules.TypeIPv4 || f.Type == rules.TypeIPv6) {
		// A named set's elements may change on a reload, prefixes added
		// to addresses: an LPM trie takes both, so the map and the
		// programs stay.
		lpm = true
	}
	m := &SetMap{Set: p.Set, Type: f.Type, KeySize: size}
	if lpm {
		m.Kind = SetLPM
		m.KeySize = 4 + size
	}
	keys := make([]byte, 0, exact*m.KeySize)
	for i := range p.Items {
		if it := &p.Items[i]; inMap(it) {
			keys = appendSetKey(keys, m.Kind, it.Lo)
		}
	}
	m.Keys = sortKeys(keys, m.KeySize)
	m.MaxEntries = setCapacity(m.Len())
	sum := sha256.New()
	fmt.Fprintf(sum, "%s|%s|%d|", m.Kind, f.Type, m.KeySize)
	sum.Write(m.Keys)
	digest := hex.EncodeToString(sum.Sum(nil))
	key := "inline|" + digest
	m.Name = "set_" + digest[:12]
	if p.Set != "" {
		// A named set keeps its map (and the programs their code) when its
		// elements change: it is known by its name and its key layout.
		key = fmt.Sprintf("named|%s|%s|%d", p.Set, m.Kind, m.KeySize)
		m.Name = "set_" + setMapName(p.Set, m.Kind, f.Type)
	}
	return &setUse{m: sp.share(key, m, p.Ref), rest: rest}
}

// share returns the map planned under key, m when it is the first, and
// records that ref looks it up.
func (sp *setPlanner) share(key string, m *SetMap, ref rules.FieldRef) *SetMap {
	if prev, ok := sp.byKey[key]; ok {
		m = prev
	} else {
		sp.byKey[key] = m
		sp.maps = append(sp.maps, m)
	}
	if name := ref.String(); !slices.Contains(m.Fields, name) {
		m.Fields = append(m.Fields, name)
	}
	return m
}

// setMapName names a named set's map: one set used on fields of two types
// (ip.src and ipv6.src) has a map per type.
func setMapName(set string, kind SetKind, t rules.Type) string {
	suffix := map[rules.Type]string{rules.TypeUint: "u", rules.TypeIPv4: "4", rules.TypeIPv6: "6", rules.TypeMAC: "m"}[t]
	if kind == SetLPM {
		suffix += "p"
	}
	return strings.ReplaceAll(set, "-", "_") + "_" + suffix
}

// setCapacity is the capacity of a set's map: its elements and as many
// again, so that a set file can grow on a reload without new programs.
func setCapacity(n int) int { return max(2*n, 1024) }

// appendSetKey appends the key of one element: an integer in host order,
// an address or MAC as in the packet; for an LPM trie, the prefix length
// (host order) before the address.
func appendSetKey(keys []byte, kind SetKind, v rules.Value) []byte {
	if v.Type == rules.TypeUint || v.Type == rules.TypeBool {
		return ByteOrder.AppendUint32(keys, uint32(v.U))
	}
	if kind == SetLPM {
		keys = ByteOrder.AppendUint32(keys, uint32(v.Bits))
	}
	switch v.Type {
	case rules.TypeIPv4:
		a := v.Addr().As4()
		return append(keys, a[:]...)
	case rules.TypeIPv6:
		a := v.Addr().As16()
		return append(keys, a[:]...)
	}
	return append(keys, v.Bytes()...)
}

// setKeyOff is the frame slot where a lookup key is built (24 bytes: an
// IPv6 LPM key).
func (g *gen) setKeyOff() int16 {
	if g.inFunc {
		return fnSetKeyOff
	}
	return g.rec.lo - 64
}

// fnSetKeyOff is the set key's slot in a group's subprogram.
const fnSetKeyOff = -48

// setLookup jumps to hit when the value of p's field is in m, falls
// through otherwise. It clobbers R0-R5.
func (g *gen) setLookup(p *rules.PredInSet, m *SetMap, hit string) {
	b := g.b
	f := p.Ref.Field
	b.Comment("look %s up in map %s (%s, %d keys)", p.Ref, m.Name, m.Kind, m.Len())
	key := g.setKeyOff()
	switch {
	case f.Type == rules.TypeUint:
		g.loadValue(p.Ref, asm.R1)
		if p.Mask != 0 {
			b.Emit(asm.And.Imm32(asm.R1, int32(uint32(p.Mask))))
		}
		b.Emit(asm.StoreMem(asm.R10, key, asm.R1, asm.Word))
		b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
	case m.Kind == SetHash:
		// The key is the field's bytes in the record.
		s := g.rec.slots[keyOf(p.Ref)]
		b.Emit(asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(s.off-g.delta)))
	default:
		s := g.rec.slots[keyOf(p.Ref)]
		b.Emit(asm.StoreImm(asm.R10, key, int64(s.size*8), asm.Word))
		for off := int16(0); off < int16(s.size); off += 4 {
			b.Emit(asm.LoadMem(asm.R1, g.base, s.off-g.delta+off, asm.Word), asm.StoreMem(asm.R10, key+4+off, asm.R1, asm.Word))
		}
		b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
	}
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.Name), asm.FnMapLookupElem.Call())
	b.Emit(asm.JNE.Imm(asm.R0, 0, hit))
}

// inSetMap emits a set test compiled into a map: the lookup, then the
// items that stay in code.
func (g *gen) inSetMap(p *rules.PredInSet, u *setUse, target string, want bool) {
	b := g.b
	hit := target
	if !want {
		hit = b.NewLabel("in")
	}
	g.setLookup(p, u.m, hit)
	if len(u.rest) > 0 {
		rest := *p
		rest.Items = u.rest
		g.inSet(&rest, hit, true)
	}
	if !want {
		b.Emit(asm.Ja.Label(target))
		b.Label(hit)
	}
}

// setComment is the listing's line for a set test: the whole set for a
// chain of compares, its map for a lookup.
func setComment(p *rules.PredInSet, u *setUse) string {
	if u == nil {
		return rules.PredString(p)
	}
	what := fmt.Sprintf("{…%d elements}", len(p.Items))
	if p.Set != "" {
		what = "$" + p.Set
	}
	s := fmt.Sprintf("%s in %s: map %s (%s of %d keys)", p.Ref, what, u.m.Name, u.m.Kind, u.m.Len())
	if len(u.rest) > 0 {
		s += fmt.Sprintf(" and %d ranges", len(u.rest))
	}
	return s
}

// setMapSpecs adds the sets' maps to a collection. They are created empty:
// the loader fills them (FillSet), in batches.
func (o *Output) setMapSpecs(spec *ebpf.CollectionSpec) {
	for _, m := range o.Sets {
		typ := ebpf.Hash
		if m.Kind == SetLPM {
			typ = ebpf.LPMTrie
		}
		spec.Maps[m.Name] = &ebpf.MapSpec{
			Name: m.Name, Type: typ, KeySize: uint32(m.KeySize), ValueSize: 1,
			MaxEntries: uint32(m.MaxEntries),
			// Memory follows the elements, not the capacity; an LPM trie
			// requires it.
			Flags: bpfNoPrealloc,
		}
	}
}

// bpfNoPrealloc is BPF_F_NO_PREALLOC.
const bpfNoPrealloc = 1

// sortKeys sorts fixed-size keys and drops duplicates: the map's content,
// and its digest, do not depend on the order the elements were written in.
// It sorts in place (keys is the caller's, returned shortened). Each key is
// packed into big-endian words, which compare as the bytes do: sorting a
// million keys through bytes.Compare took a third of a second.
func sortKeys(keys []byte, size int) []byte {
	n := len(keys) / size
	if size <= 8 {
		packed := make([]uint64, n)
		for i := range packed {
			var w [8]byte
			copy(w[:], keys[i*size:(i+1)*size])
			packed[i] = binary.BigEndian.Uint64(w[:])
		}
		slices.Sort(packed)
		packed = slices.Compact(packed)
		for i, p := range packed {
			var w [8]byte
			binary.BigEndian.PutUint64(w[:], p)
			copy(keys[i*size:(i+1)*size], w[:size])
		}
		return keys[:len(packed)*size]
	}
	if size > 24 {
		return sortWideKeys(keys, size)
	}
	type words [3]uint64
	packed := make([]words, n)
	for i := range packed {
		var w [24]byte
		copy(w[:], keys[i*size:(i+1)*size])
		packed[i] = words{binary.BigEndian.Uint64(w[0:]), binary.BigEndian.Uint64(w[8:]), binary.BigEndian.Uint64(w[16:])}
	}
	slices.SortFunc(packed, func(a, b words) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		if c := cmp.Compare(a[1], b[1]); c != 0 {
			return c
		}
		return cmp.Compare(a[2], b[2])
	})
	packed = slices.Compact(packed)
	for i, p := range packed {
		var w [24]byte
		binary.BigEndian.PutUint64(w[0:], p[0])
		binary.BigEndian.PutUint64(w[8:], p[1])
		binary.BigEndian.PutUint64(w[16:], p[2])
		copy(keys[i*size:(i+1)*size], w[:size])
	}
	return keys[:len(packed)*size]
}

// mapSized reports whether a set has enough exact elements to be a map
// lookup where its field allows one (a named set is always one).
func mapSized(p *rules.PredInSet) bool {
	if p.Set != "" {
		return true
	}
	n := 0
	for _, it := range p.Items {
		if !it.IsRange() || it.Lo.IsPrefix() {
			n++
		}
	}
	return n >= SetMapMin
}

// Describe is one line on a set map for listings:
// "map set_1a2b3c4d5e6f: hash of 40 unsigned integer keys (4 bytes), up to 1024, looked up by tcp.dstport".
func (s *SetMap) Describe() string {
	what := "inline set"
	if s.Set != "" {
		what = "set $" + s.Set
	}
	return fmt.Sprintf("map %s (%s): %s of %d %s keys (%d bytes), up to %d, looked up by %s",
		s.Name, what, s.Kind, s.Len(), s.Type, s.KeySize, s.MaxEntries, strings.Join(s.Fields, ", "))
}

// UpdatableInPlace reports whether next differs from cur only in the
// elements of its named sets, within their maps' capacity: then the maps of
// cur can take next's elements and cur's programs stay. Both must have been
// compiled with the same Options (the generation included).
func UpdatableInPlace(cur, next *Output) bool {
	if cur.Options != next.Options || len(cur.Programs) != len(next.Programs) || len(cur.Sets) != len(next.Sets) {
		return false
	}
	if !reflect.DeepEqual(cur.Schema, next.Schema) {
		return false
	}
	for i, p := range cur.Programs {
		q := next.Programs[i]
		if p.Hook != q.Hook || !sameInsns(p.Insns, q.Insns) || !sameGroupMaps(p.GroupMaps, q.GroupMaps) {
			return false
		}
	}
	for i, m := range cur.Sets {
		n := next.Sets[i]
		if m.Name != n.Name || m.Kind != n.Kind || m.KeySize != n.KeySize || m.Type != n.Type || n.Len() > m.MaxEntries {
			return false
		}
		if m.Set == "" && !bytes.Equal(m.Keys, n.Keys) {
			return false // an inline set is part of its rule
		}
	}
	return true
}

// sameGroupMaps compares the contents of two programs' group maps (the
// programs' code names the maps, not what they hold).
func sameGroupMaps(a, b []*GroupMap) bool {
	return slices.EqualFunc(a, b, func(x, y *GroupMap) bool {
		return x.Name == y.Name && x.KeySize == y.KeySize && x.ValueSize == y.ValueSize &&
			bytes.Equal(x.Keys, y.Keys) && bytes.Equal(x.Values, y.Values)
	})
}

// sameInsns compares two programs instruction by instruction, map
// references and labels included.
func sameInsns(a, b asm.Instructions) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.OpCode != y.OpCode || x.Dst != y.Dst || x.Src != y.Src || x.Offset != y.Offset || x.Constant != y.Constant ||
			x.Reference() != y.Reference() || x.Symbol() != y.Symbol() {
			return false
		}
	}
	return true
}
