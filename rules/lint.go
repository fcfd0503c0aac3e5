package rules

import (
	"fmt"
	"sort"
	"strings"
)

// The linter warns about rules that are legal but almost certainly not what
// their author meant:
//   - a match that no packet can satisfy (tcp && udp, icmp && ipv6,
//     tcp.dstport == 22 && tcp.dstport == 80);
//   - a logged field that the match proves absent (it is always null);
//   - a rule identical to an earlier one (same hook, match and logged
//     fields): every packet it matches is logged twice.
//
// It reasons from the headers each field implies: a packet has at most one
// of the transports (TCP, UDP, ICMP, ICMPv6, SCTP, GRE) and at most one of IPv4 and IPv6 (tunnels are
// not decoded), ICMP runs over IPv4, ICMPv6 over IPv6, TCP and UDP over
// either, an inner VLAN tag needs an outer one; and from the values each
// comparison allows on one field occurrence. A search over the predicate's
// alternatives decides, within a step budget; past the budget it assumes a
// match can hold, so that it never warns wrongly.

// lintBudget bounds the search steps per question; real rules need a few
// dozen.
const lintBudget = 20000

// lint returns the warnings for a checked rule set; decls[i] is the
// declaration of rules[i].
func lint(rs []*Rule, decls []*RuleDecl) Diagnostics {
	var out Diagnostics
	warn := func(r *Rule, span Span, hint, format string, args ...any) {
		d := Errorf(span, format, args...)
		d.Severity, d.Hint, d.Rule = Warning, hint, r.Name
		out = append(out, d)
	}
	first := map[string]int{}
	for i, r := range rs {
		d := decls[i]
		if r.Match != nil {
			match := nnf(r.Match, false)
			if reason, never := unsatisfiable(match); never {
				warn(r, d.MatchSpan, "the rule can never log anything; check for a mistyped protocol, field or value",
					"this match never holds: %s", reason)
			} else {
				for _, lf := range r.Log {
					with := &andNode{terms: []node{match, &hdrLit{key: hdrKeyOf(lf.Ref), present: true, by: lf.Name}}}
					if reason, never := unsatisfiable(with); never {
						warn(r, lf.Span, "it is always null; log a field the matched packets carry, or remove it",
							"%s is absent from every packet this match accepts: %s", lf.Name, reason)
					}
				}
			}
		}
		key := ruleKey(r)
		if j, dup := first[key]; dup {
			warn(r, d.NameSpan, "remove one of them, or make them differ",
				"rule %q is identical to rule %q (%s): same hook, match and logged fields, so every packet it matches is logged twice",
				r.Name, rs[j].Name, rs[j].Span.Start)
			continue
		}
		first[key] = i
	}
	return out
}

// ruleKey identifies what a rule does: its hook, its match and the set of
// fields it logs (their order only orders the output).
func ruleKey(r *Rule) string {
	var logs []string
	for _, lf := range r.Log {
		logs = append(logs, lf.Name)
	}
	sort.Strings(logs)
	match := "*"
	if r.Match != nil {
		match = PredString(r.Match)
	}
	// Counting, sampling and limits change what a rule writes: rules that
	// differ in them are not duplicates.
	volume := ""
	if r.Count != nil {
		volume = fmt.Sprintf("%+v", *r.Count)
	}
	if r.Sample != nil {
		volume += fmt.Sprintf("%+v", *r.Sample)
	}
	if r.Limit != nil {
		volume += fmt.Sprintf("%+v", *r.Limit)
	}
	return r.Hook.String() + "\x00" + match + "\x00" + strings.Join(logs, ",") + "\x00" + volume
}

// The predicate in negation normal form: and, or, and literals that state a
// header present or absent, or a field occurrence's value in a set.

type node interface{}

type andNode struct{ terms []node }

// orNode is a disjunction; written is set for one the rule spells out (an
// || or a negated &&), not for the absent-or-different of a negation.
type orNode struct {
	terms   []node
	written bool
}

type constLit struct{ value bool }

// hdrKey is one header occurrence (Layer counts only for VLAN tags).
type hdrKey struct {
	h     Header
	layer int
}

func hdrKeyOf(r FieldRef) hdrKey {
	if len(r.Field.Also) > 0 {
		// Carried by more than one header: its presence implies none of
		// them alone (every frame has a frame).
		return hdrKey{HdrFrame, 1}
	}
	if r.Field.MaxLayers() > 1 {
		return hdrKey{r.Field.Header, r.Layer}
	}
	return hdrKey{r.Field.Header, 1}
}

type hdrLit struct {
	key     hdrKey
	present bool
	by      string // the test that states it, as written
	why     string // for an implied fact, why it follows
}

// valKey is one field occurrence, under a mask.
type valKey struct {
	ref  FieldRef
	mask uint64
}

type valLit struct {
	key valKey
	set valueSet
	by  string
}

// absenceIsHeader reports whether a field is absent exactly when its header
// is: not so for the computed fields with a condition of their own
// (eth.type, tcp.len).
func absenceIsHeader(f *Field) bool {
	if _, known := hdrArticles[f.Header]; !known && f.Header != HdrFrame {
		return false // a header the linter does not model (L7)
	}
	return !f.Computed || f.Header == HdrFrame || f.Header == HdrVLAN
}

// modelled reports whether the linter reasons about a field's values: the
// types that map to numbers (not strings).
func modelled(f *Field) bool {
	switch f.Type {
	case TypeUint, TypeBool, TypeIPv4, TypeIPv6, TypeMAC:
		return true
	}
	return false
}

func nnf(p Pred, neg bool) node {
	switch p := p.(type) {
	case *PredConst:
		return &constLit{p.Value != neg}
	case *PredNot:
		return nnf(p.X, !neg)
	case *PredAnd:
		return junction(p.Terms, neg, false)
	case *PredOr:
		return junction(p.Terms, neg, true)
	case *PredExists:
		k := hdrKeyOf(p.Ref)
		if !neg {
			return &hdrLit{key: k, present: true, by: p.Ref.String()}
		}
		if absenceIsHeader(p.Ref.Field) {
			return &hdrLit{key: k, present: false, by: "!" + p.Ref.String()}
		}
	case *PredCompare:
		max := universe(p.Ref.Field, p.Mask)
		var set valueSet
		ok := modelled(p.Ref.Field) && (p.Mask == 0 || p.Value.U&^p.Mask == 0) // else the checker warns already
		if ok {
			set, ok = compareSet(p.Op, p.Value, max)
		}
		return valueNode(p, p.Ref, p.Mask, set, ok, neg)
	case *PredInSet:
		if len(p.Items) > lintMaxItems {
			// A blocklist of a million addresses: its values are not
			// modelled (the lint stays sound, only less precise).
			return valueNode(p, p.Ref, p.Mask, nil, false, neg)
		}
		max := universe(p.Ref.Field, p.Mask)
		return valueNode(p, p.Ref, p.Mask, itemsSet(p.Items, max), modelled(p.Ref.Field), neg)
	case *PredBitTest:
		if !neg {
			return &hdrLit{key: hdrKeyOf(p.Ref), present: true, by: PredString(p)}
		}
	}
	return &constLit{true} // nothing known
}

func junction(terms []Pred, neg, or bool) node {
	var ns []node
	for _, t := range terms {
		ns = append(ns, nnf(t, neg))
	}
	if or != neg {
		return &orNode{terms: ns, written: true}
	}
	return &andNode{ns}
}

// valueNode: a comparison holds when the field is present and its value is
// in set; its negation when the field is absent or the value is not in set.
// lintMaxItems is the largest set whose values the lint models.
const lintMaxItems = 4096

func valueNode(p Pred, ref FieldRef, mask uint64, set valueSet, modelled, neg bool) node {
	key := valKey{ref, mask}
	text := PredSummary(p, lintMaxItems)
	switch {
	case !modelled && !neg:
		return &hdrLit{key: hdrKeyOf(ref), present: true, by: text}
	case !modelled:
		return &constLit{true}
	case !neg:
		return &valLit{key: key, set: set, by: text}
	}
	not := &valLit{key: key, set: complement(set, universe(ref.Field, mask)), by: "!(" + text + ")"}
	if !absenceIsHeader(ref.Field) {
		return &constLit{true}
	}
	// The value alternative first: when both fail, its reason is the clearer.
	return &orNode{terms: []node{not, &hdrLit{key: hdrKeyOf(ref), present: false, by: "!(" + text + ")"}}}
}

// unsatisfiable reports whether no packet satisfies n, with the reason
// found on the first alternative explored.
func unsatisfiable(n node) (string, bool) {
	s := &solver{}
	w := newWorld()
	if s.sat(w, []node{n}) || s.gaveUp {
		return "", false
	}
	if s.branched {
		return "no alternative holds; the first fails because " + s.reason, true
	}
	return s.reason, true
}

type solver struct {
	steps    int
	gaveUp   bool
	branched bool // a written alternative was explored
	reason   string
}

// sat reports whether the conjunction of todo can hold in a world extending w.
func (s *solver) sat(w *world, todo []node) bool {
	for len(todo) > 0 {
		if s.steps++; s.steps > lintBudget {
			s.gaveUp = true
			return true
		}
		n := todo[0]
		todo = todo[1:]
		switch n := n.(type) {
		case *andNode:
			todo = append(append([]node(nil), n.terms...), todo...)
		case *orNode:
			if n.written && len(n.terms) > 1 {
				s.branched = true
			}
			for _, t := range n.terms {
				if s.sat(w.clone(), append([]node{t}, todo...)) {
					return true
				}
			}
			return false
		case *constLit:
			if !n.value {
				s.fail("it contains a test that is always false")
				return false
			}
		case *hdrLit:
			if reason, ok := w.setHeader(*n); !ok {
				s.fail(reason)
				return false
			}
		case *valLit:
			if reason, ok := w.setValue(n); !ok {
				s.fail(reason)
				return false
			}
		}
	}
	return true
}

func (s *solver) fail(reason string) {
	if s.reason == "" {
		s.reason = reason
	}
}

// world is what one alternative states about a packet so far.
type world struct {
	hdr map[hdrKey]hdrLit
	val map[valKey]*valFact
}

type valFact struct {
	set valueSet
	by  []string
}

func newWorld() *world {
	return &world{hdr: map[hdrKey]hdrLit{}, val: map[valKey]*valFact{}}
}

func (w *world) clone() *world {
	c := newWorld()
	for k, v := range w.hdr {
		c.hdr[k] = v
	}
	for k, v := range w.val {
		f := *v
		f.by = append([]string(nil), v.by...)
		c.val[k] = &f
	}
	return c
}

// impliedWhy says why a header implies its only parent, where the table's
// plain "follows" needs a word more.
var impliedWhy = map[Header]string{
	HdrICMP:   "ICMP runs over IPv4; over IPv6 it is icmpv6",
	HdrICMPv6: "ICMPv6 runs over IPv6; over IPv4 it is icmp",
}

// onlyParent returns the one header h can follow, when the header table
// gives it one (not the link layer: every frame the linter reasons about
// has it).
func onlyParent(h Header) (Header, bool) {
	d := h.Def()
	if len(d.Under) == 0 || d.Len == LenL7 {
		return 0, false
	}
	p := d.Under[0].Parent
	for _, l := range d.Under[1:] {
		if l.Parent != p {
			return 0, false
		}
	}
	return p, p != HdrEth
}

// From the header table: the transports, the ip.proto value each implies
// over IPv4, and how prose names the headers the linter models (not L7).
var (
	l4Headers   []Header
	l4Proto     = map[Header]uint64{}
	hdrArticles = map[Header]string{}
)

func init() {
	for _, d := range headerTable {
		if d.Header == HdrFrame || d.Len == LenL7 {
			continue
		}
		hdrArticles[d.Header] = d.Article
		if d.IsTransport() {
			l4Headers = append(l4Headers, d.Header)
		}
		if v, ok := d.Value(HdrIPv4); ok {
			l4Proto[d.Header] = uint64(v)
		}
	}
}

func (k hdrKey) String() string {
	s, known := hdrArticles[k.h]
	if !known {
		s = "a " + k.h.String()
	}
	s += " header"
	if k.h == HdrVLAN {
		if k.layer == 1 {
			return "an outer VLAN tag"
		}
		return "an inner VLAN tag"
	}
	return s
}

// setHeader records a header fact and what it implies, and checks the world.
func (w *world) setHeader(l hdrLit) (string, bool) {
	if old, ok := w.hdr[l.key]; ok {
		if old.present == l.present {
			return "", true
		}
		p, a := old, l
		if !p.present {
			p, a = a, p
		}
		if l.key.h == HdrFrame {
			return fmt.Sprintf("%s is false for every packet", a.by), false
		}
		return fmt.Sprintf("%s needs %s%s, which %s rules out", p.by, p.key, why(p), a.by), false
	}
	if l.key.h == HdrFrame && !l.present {
		return fmt.Sprintf("%s is false for every packet", l.by), false
	}
	w.hdr[l.key] = l
	if !l.present {
		return w.consistent()
	}
	// What a present header implies.
	var implied []hdrLit
	if l.key.h == HdrVLAN {
		if l.key.layer > 1 {
			implied = append(implied, hdrLit{key: hdrKey{HdrVLAN, 1}, present: true, by: l.by, why: "an inner tag follows an outer one"})
		}
	} else if parent, ok := onlyParent(l.key.h); ok {
		why := impliedWhy[l.key.h]
		if why == "" {
			why = fmt.Sprintf("%s follows %s only", l.key.h, parent)
		}
		implied = append(implied, hdrLit{key: hdrKey{parent, 1}, present: true, by: l.by, why: why})
	}
	for _, i := range implied {
		if reason, ok := w.setHeader(i); !ok {
			return reason, false
		}
	}
	return w.consistent()
}

func why(l hdrLit) string {
	if l.why == "" {
		return ""
	}
	return " (" + l.why + ")"
}

// setValue narrows a field occurrence's values (the field is then present).
func (w *world) setValue(l *valLit) (string, bool) {
	if reason, ok := w.setHeader(hdrLit{key: hdrKeyOf(l.key.ref), present: true, by: l.by}); !ok {
		return reason, false
	}
	f, ok := w.val[l.key]
	if !ok {
		f = &valFact{set: valueSet{{u128{}, universe(l.key.ref.Field, l.key.mask)}}}
		w.val[l.key] = f
	}
	f.set = intersect(f.set, l.set)
	f.by = append(f.by, l.by)
	if f.set.empty() {
		switch len(f.by) {
		case 1:
			return fmt.Sprintf("no value of %s satisfies %s", l.key.ref, f.by[0]), false
		case 2:
			return fmt.Sprintf("%s and %s cannot both hold", f.by[0], f.by[1]), false
		}
		return fmt.Sprintf("%s cannot all hold together", strings.Join(f.by, ", ")), false
	}
	return w.consistent()
}

// consistent checks the rules that tie headers together.
func (w *world) consistent() (string, bool) {
	present := func(h Header) (hdrLit, bool) {
		l, ok := w.hdr[hdrKey{h, 1}]
		return l, ok && l.present
	}
	absent := func(h Header) bool {
		l, ok := w.hdr[hdrKey{h, 1}]
		return ok && !l.present
	}
	var l4 []hdrLit
	for _, h := range l4Headers {
		if l, ok := present(h); ok {
			l4 = append(l4, l)
		}
	}
	if len(l4) > 1 {
		return fmt.Sprintf("%s needs %s and %s %s, but a packet has at most one of %s",
			l4[0].by, l4[0].key, l4[1].by, l4[1].key, l4Names()), false
	}
	v4, has4 := present(HdrIPv4)
	v6, has6 := present(HdrIPv6)
	if has4 && has6 {
		return fmt.Sprintf("%s needs %s%s and %s %s%s, but a packet has one network header at most (tunnels are not decoded)",
			v4.by, v4.key, why(v4), v6.by, v6.key, why(v6)), false
	}
	for _, t := range l4 {
		if (t.key.h == HdrTCP || t.key.h == HdrUDP) && absent(HdrIPv4) && absent(HdrIPv6) {
			return fmt.Sprintf("%s needs %s, carried by IPv4 or IPv6, but %s and %s rule both out",
				t.by, t.key, w.hdr[hdrKey{HdrIPv4, 1}].by, w.hdr[hdrKey{HdrIPv6, 1}].by), false
		}
		if proto, ok := l4Proto[t.key.h]; ok && has4 {
			ref := FieldRef{Field: byName["ip.proto"], Layer: 1}
			if f, ok := w.val[valKey{ref: ref}]; ok && !f.set.contains(u128{0, proto}) {
				return fmt.Sprintf("%s needs %s, which over IPv4 has ip.proto %d, but %s", t.by, t.key, proto, strings.Join(f.by, " and ")), false
			}
		}
	}
	return "", true
}

// l4Names lists the transports in prose: "TCP, UDP, ICMP and ICMPv6".
func l4Names() string {
	var names []string
	for _, h := range l4Headers {
		names = append(names, strings.Replace(strings.ToUpper(h.String()), "V6", "v6", 1))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
