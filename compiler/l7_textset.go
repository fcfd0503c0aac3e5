package compiler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/rules"
)

// String sets as maps.
//
// `http.host in {…}` with many names, or `dns.qry.name in $domains`, is
// one lookup in a hash map whose key is the value itself: its length (a
// host-order u64) and then its bytes, zero to a fixed width W (the longest
// element, rounded up to 8 bytes; 32 for a named set, so that a reload may
// bring longer names without new programs). The kernel builds the key in
// the l7 value (l7Scratch.SetKey): a value longer than W is in no set; the
// value is copied a word at a time from the payload window, the word that
// holds its end masked, the words after it zero; a case-insensitive test
// (host names, lower()) folds each word's ASCII capitals with a few
// word-wide operations, as the literals were lowered by the checker. A
// small inline set stays a chain of compares (PredTextSet.Or), cheaper
// below TextSetMapMin names and the same code as a list of ==.

// TextSetMapMin is the number of distinct names from which an inline
// string set compiles into a map. The crossover is measured by
// `benchreport -only sets` (docs/volume.md has the figures).
var TextSetMapMin = 32

// maxTextKey bounds a string set's key width W: the longest literal a rule
// may compare with (rules.MaxTextLiteral).
const maxTextKey = rules.MaxTextLiteral

// textUse returns the map a string set test compiles into, nil when it
// stays a chain of compares.
func (sp *setPlanner) textUse(p *rules.PredTextSet) *SetMap {
	if m, ok := sp.byText[p]; ok {
		return m
	}
	var m *SetMap
	if n := distinct(p.Lits); p.Set != "" || n >= TextSetMapMin {
		m = sp.planText(p)
	}
	sp.byText[p] = m
	return m
}

func distinct(lits []string) int {
	if len(lits) > 1024 {
		return len(lits) // large enough whatever repeats
	}
	seen := make(map[string]struct{}, len(lits))
	for _, l := range lits {
		seen[l] = struct{}{}
	}
	return len(seen)
}

func (sp *setPlanner) planText(p *rules.PredTextSet) *SetMap {
	comm := rules.IsCommName(p.Ref.Field)
	size, w := rules.CommLen, 0 // a command name is its zero-padded buffer, the key as it is
	if !comm {
		longest := 0
		for _, l := range p.Lits {
			longest = max(longest, len(l))
		}
		w = roundUp(max(longest, 1), 8)
		if p.Set != "" {
			w = roundUp(max(longest, 1), 32)
		}
		w = min(w, maxTextKey)
		size = 8 + w
	}
	suffix := "s"
	switch {
	case comm:
		suffix = "c"
	case p.Fold:
		suffix = "si" // lowered names: not the same keys as the exact ones
	}
	named := fmt.Sprintf("named|%s|%s|%d", p.Set, suffix, size)
	if m, ok := sp.byKey[named]; ok && p.Set != "" {
		return sp.share(named, m, p.Ref) // another use of the set: its keys are made
	}
	m := &SetMap{Set: p.Set, Kind: SetHash, Type: rules.TypeString, KeySize: size, Fold: p.Fold}
	keys := make([]byte, 0, len(p.Lits)*m.KeySize)
	for _, l := range p.Lits {
		if comm {
			keys = append(keys, l...)
			keys = append(keys, make([]byte, rules.CommLen-len(l))...)
			continue
		}
		keys = appendTextKey(keys, l, w)
	}
	m.Keys = sortKeys(keys, m.KeySize)
	m.MaxEntries = setCapacity(m.Len())
	if p.Set != "" {
		// Known by its name and key layout, as a named set of values.
		m.Name = "set_" + strings.ReplaceAll(p.Set, "-", "_") + "_" + suffix
		return sp.share(named, m, p.Ref)
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s|%s|%d|%v|", m.Kind, m.Type, m.KeySize, m.Fold)
	sum.Write(m.Keys)
	digest := hex.EncodeToString(sum.Sum(nil))
	m.Name = "set_" + digest[:12]
	return sp.share("inline|"+digest, m, p.Ref)
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// appendTextKey appends the key of one string: its length, then its bytes
// zero to w.
func appendTextKey(keys []byte, s string, w int) []byte {
	keys = ByteOrder.AppendUint64(keys, uint64(len(s)))
	keys = append(keys, s...)
	return append(keys, make([]byte, w-len(s))...)
}

// textKeyWidth is the value bytes of a string set's key.
func (s *SetMap) textKeyWidth() int { return s.KeySize - 8 }

// textSetTest jumps to target when the presence of p's value in m is want.
// It clobbers R0-R5.
func (g *gen) textSetTest(p *rules.PredTextSet, m *SetMap, target string, want bool) {
	b := g.b
	skip := b.NewLabel("textset")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	w := m.textKeyWidth()
	s := g.rec.slots[keyOf(p.Ref)]
	at := s.off - g.delta
	b.Comment("look %s up in map %s (hash of %d strings of up to %d bytes)", p.Ref, m.Name, m.Len(), w)
	g.jumpIfAbsent(FactOf(p.Ref), no)
	b.Emit(asm.LoadMem(asm.R1, g.base, at+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, no))
	b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.JGT.Imm(asm.R2, int32(w), no))
	g.l7Lookup(asm.R4, no)
	b.Emit(asm.LoadMem(asm.R3, g.base, at, asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, no))
	b.Emit(asm.Mov.Reg(asm.R5, asm.R4), asm.Add.Reg(asm.R5, asm.R3))
	// R4: the l7 value, R5: the value's bytes in it.
	key := stF(sSetKey)
	b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half), asm.StoreMem(asm.R4, key, asm.R2, asm.DWord))
	words := w / 8
	zero := make([]string, words+1)
	for i := range zero {
		zero[i] = b.NewLabel(fmt.Sprintf("textset.zero%d", i))
	}
	lookup := zero[words]
	for i := range words {
		lo, hi := int32(8*i), int32(8*i+8)
		// The next word's first test sends a value ending in this one to
		// the zeroing of the words after it.
		whole := b.NewLabel("textset.whole")
		// R2 holds the length: after a fold it is read again from the slot.
		b.Emit(asm.JLE.Imm(asm.R2, lo, zero[i]))
		b.Emit(asm.LoadMem(asm.R1, asm.R5, int16(lo), asm.DWord))
		b.Emit(asm.JGE.Imm(asm.R2, hi, whole))
		// The word holding the value's end: keep its first len-lo bytes.
		b.Emit(asm.Mov.Reg(asm.R0, asm.R2), asm.Sub.Imm(asm.R0, lo), asm.LSh.Imm(asm.R0, 3))
		b.Emit(asm.Mov.Imm(asm.R3, 1), asm.LSh.Reg(asm.R3, asm.R0), asm.Sub.Imm(asm.R3, 1), asm.And.Reg(asm.R1, asm.R3))
		b.Label(whole)
		if p.Fold {
			foldWord(b)
			b.Emit(asm.LoadMem(asm.R2, g.base, at+2, asm.Half))
		}
		b.Emit(asm.StoreMem(asm.R4, key+8+int16(lo), asm.R1, asm.DWord))
	}
	b.Emit(asm.Ja.Label(lookup))
	for i := range words {
		b.Label(zero[i])
		b.Emit(storeDW(asm.R4, key+8+int16(8*i), 0))
	}
	b.Label(lookup)
	b.Emit(asm.Mov.Reg(asm.R2, asm.R4), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.Name), asm.FnMapLookupElem.Call())
	b.Emit(asm.JNE.Imm(asm.R0, 0, yes), asm.Ja.Label(no))
	b.Label(skip)
}

// commSetTest jumps to target when the presence of the command name
// (proc.name, proc.pname: CommLen zero-padded bytes in the record) in m is
// want. It clobbers R0-R5.
func (g *gen) commSetTest(p *rules.PredTextSet, m *SetMap, target string, want bool) {
	b := g.b
	skip := b.NewLabel("commset")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	if !g.hook.IsSyscall() {
		// A packet's process fields are there when its socket's are.
		g.jumpIfAbsent(rules.FactProc, no)
	}
	s := g.rec.slots[syscallKeyOf(p.Ref)]
	b.Emit(asm.Mov.Reg(asm.R2, g.base), asm.Add.Imm(asm.R2, int32(s.off-g.delta)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.Name), asm.FnMapLookupElem.Call())
	b.Emit(asm.JNE.Imm(asm.R0, 0, yes), asm.Ja.Label(no))
	b.Label(skip)
}

// foldWord lowers the ASCII capitals of the eight bytes in R1, with R0, R2
// and R3 as scratch: a byte is a capital when its low seven bits reach 'A'
// (adding 0x3f carries into bit 7) but not '['(adding 0x25 does not), and
// its bit 7 is clear; 0x20 is ORed into those bytes. No byte carries into
// the next: every sum of seven bits and the constants stays below 0x100.
func foldWord(b *bpf.Builder) {
	b.Emit(asm.LoadImm(asm.R3, 0x7f7f7f7f7f7f7f7f, asm.DWord), asm.Mov.Reg(asm.R0, asm.R1), asm.And.Reg(asm.R0, asm.R3))
	b.Emit(asm.LoadImm(asm.R3, 0x3f3f3f3f3f3f3f3f, asm.DWord), asm.Add.Reg(asm.R3, asm.R0))
	b.Emit(asm.LoadImm(asm.R2, 0x2525252525252525, asm.DWord), asm.Add.Reg(asm.R0, asm.R2))
	b.Emit(asm.Xor.Imm(asm.R0, -1), asm.And.Reg(asm.R3, asm.R0))
	b.Emit(asm.Mov.Reg(asm.R0, asm.R1), asm.Xor.Imm(asm.R0, -1), asm.And.Reg(asm.R3, asm.R0))
	b.Emit(asm.LoadImm(asm.R2, -0x7f7f7f7f7f7f7f80, asm.DWord), asm.And.Reg(asm.R3, asm.R2))
	b.Emit(asm.RSh.Imm(asm.R3, 2), asm.Or.Reg(asm.R1, asm.R3))
}

// textSetComment is the listing's line for a string set test.
func textSetComment(p *rules.PredTextSet, m *SetMap) string {
	what := fmt.Sprintf("{…%d strings}", len(p.Lits))
	if p.Set != "" {
		what = "$" + p.Set
	}
	return fmt.Sprintf("%s in %s: map %s (%s of %d keys)", p.Ref, what, m.Name, m.Kind, m.Len())
}

// sortWideKeys sorts and deduplicates keys of more than 24 bytes (strings).
func sortWideKeys(keys []byte, size int) []byte {
	n := len(keys) / size
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	key := func(i int32) []byte { return keys[int(i)*size : int(i+1)*size] }
	slices.SortFunc(idx, func(a, b int32) int { return bytes.Compare(key(a), key(b)) })
	out := make([]byte, 0, len(keys))
	for j, i := range idx {
		if j > 0 && bytes.Equal(key(i), key(idx[j-1])) {
			continue
		}
		out = append(out, key(i)...)
	}
	return out
}
