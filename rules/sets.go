package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Named sets: a set of values declared once, by name, and used by many
// rules (`ip.src in $blocklist`), its elements written inline or read from
// a file (the front ends read the file; SetDecl holds its elements with
// their positions in it). A named set has no type of its own: each use
// types its elements by the field it is compared with. A set may mix IPv4
// and IPv6 addresses and prefixes: a use on an IPv4 field takes its IPv4
// elements, one on an IPv6 field its IPv6 elements.

// SetDecl is a named set as written.
type SetDecl struct {
	Name     string
	NameSpan Span
	Span     Span
	// Elems are the elements written inline.
	Elems []SetElem
	// File is the element file as written ("" for an inline set) and
	// FileSpan where; Path is the file the front end read. FileElems are
	// its elements, nil when the file could not be read (the front end
	// reports why).
	File      string
	FileSpan  Span
	Path      string
	FileElems *SetFileElems
}

// Len is the number of elements of the set, inline or from its file.
func (d *SetDecl) Len() int {
	if d.FileElems != nil {
		return len(d.FileElems.Elems)
	}
	return len(d.Elems)
}

// Elem returns element i. The literals of a file's element are written
// into lo and hi (which the caller may reuse for the next element): a set
// of a million elements keeps no literal per element.
func (d *SetDecl) Elem(i int, lo, hi *Literal) SetElem {
	if d.FileElems == nil {
		return d.Elems[i]
	}
	return d.FileElems.elem(i, lo, hi)
}

// elemKind is the kind of element i's low bound.
func (d *SetDecl) elemKind(i int) LitKind {
	if d.FileElems == nil {
		return d.Elems[i].Lo.Kind
	}
	return LitKind(d.FileElems.Elems[i].Kind)
}

// SetFileElems holds the elements of a set file compactly. A blocklist may
// have millions of lines; a Literal per element (its text and two
// positions) made parsing and checking one of a million elements cost 250
// MB, most of the time from rule text to a loaded program. Literals are
// made one at a time when the checker types an element (SetDecl.Elem).
type SetFileElems struct {
	// Path names the file in positions; Src is its text.
	Path  string
	Src   string
	Elems []SetFileElem
}

// SetFileElem is one element of a set file: the byte offsets in Src of its
// low bound and of its high bound (Hi == HiEnd == 0 for a single value or
// prefix), the line it is on and the offset where that line starts, and
// the kind of its low bound's literal (a LitKind).
type SetFileElem struct {
	Lo, LoEnd, Hi, HiEnd uint32
	Line, LineStart      uint32
	Kind                 uint8
}

// MaxSetFileBytes bounds a set file, compressed or not: some ten million
// elements. Past it a file is a mistake (a link to a device, a gzip bomb).
const MaxSetFileBytes = 256 << 20

func (s *SetFileElems) elem(i int, lo, hi *Literal) SetElem {
	e := s.Elems[i]
	*lo = s.literal(e, e.Lo, e.LoEnd)
	if e.HiEnd == 0 {
		return SetElem{Lo: lo}
	}
	*hi = s.literal(e, e.Hi, e.HiEnd)
	return SetElem{Lo: lo, Hi: hi}
}

func (s *SetFileElems) literal(e SetFileElem, from, to uint32) Literal {
	pos := func(off uint32) Pos {
		return Pos{File: s.Path, Offset: int(off), Line: int(e.Line), Column: int(off-e.LineStart) + 1}
	}
	t := s.Src[from:to]
	kind := SetLitKind(t)
	if from == e.Lo {
		kind = LitKind(e.Kind) // as the front end classified it
	}
	if kind == LitString {
		// A quoted line: the front end checked it unquotes.
		t, _ = strconv.Unquote(t)
	}
	return Literal{Kind: kind, Text: t, Span: Span{Start: pos(from), End: pos(to)}}
}

// SetLitKind classifies an element of a set file as the DSL's lexer would
// classify the same text.
func SetLitKind(t string) LitKind {
	switch {
	case t == "":
		return LitWord
	case strings.IndexByte(t, ':') >= 0:
		return LitColon
	case t[0] >= '0' && t[0] <= '9' && strings.IndexByte(t, '.') >= 0:
		return LitDotted
	case t[0] >= '0' && t[0] <= '9':
		return LitNumber
	}
	return LitWord
}

var setNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// namedSet is a declared set and the typed items of its uses, by field type
// (and mask), computed once.
type namedSet struct {
	decl  *SetDecl
	typed map[string]*typedSet
	used  bool
}

type typedSet struct {
	items []SetItem
	// texts are the elements as strings (with their index), for a use on
	// a string field.
	texts *PredTextSet
	ok    bool
}

// declareSets records the named sets of all files; names are unique across
// them.
func (c *checker) declareSets(files []*File) {
	c.sets = map[string]*namedSet{}
	for _, f := range files {
		for _, d := range f.Sets {
			c.rule_ = ""
			if !setNameRE.MatchString(d.Name) {
				c.errorf(d.NameSpan, "a set name is a letter or _ followed by letters, digits or _", "invalid set name %q", d.Name)
				continue
			}
			if prev, dup := c.sets[d.Name]; dup {
				c.errorf(d.NameSpan, "set names must be unique across all files of a run; rename one", "set %q is already defined at %s", d.Name, prev.decl.NameSpan.Start)
				continue
			}
			c.sets[d.Name] = &namedSet{decl: d, typed: map[string]*typedSet{}}
		}
	}
}

// namedItems types the elements of the named set of e by field f.
func (c *checker) namedItems(e *InExpr, f *Field, mask uint64) (items []SetItem, name string, ok bool) {
	ns, found := c.sets[e.SetRef]
	if !found {
		var names []string
		for n := range c.sets {
			names = append(names, n)
		}
		sort.Strings(names)
		hint := "declare it with set " + e.SetRef + " { … } or set " + e.SetRef + ` file "…"`
		if s := closest(e.SetRef, names); s != "" {
			hint = fmt.Sprintf("did you mean $%s?", s)
		}
		c.errorf(e.SetRefSpan, hint, "unknown set $%s", e.SetRef)
		return nil, "", false
	}
	ns.used = true
	key := fmt.Sprintf("%s/%d/%#x", f.Type, f.MaxValue(), mask)
	if t, done := ns.typed[key]; done {
		return t.items, ns.decl.Name, t.ok
	}
	// A set of a million elements: room for this field's family only (a
	// mixed set's IPv4 elements are not ipv6.addr's), allocated once.
	d := ns.decl
	n := 0
	for i := range d.Len() {
		if !skipOtherFamily(f, d.elemKind(i)) {
			n++
		}
	}
	t := &typedSet{items: make([]SetItem, 0, n)}
	ns.typed[key] = t
	// Errors in the elements are the set's, reported once for each type
	// it is used with.
	saved := c.rule_
	c.rule_ = ""
	defer func() { c.rule_ = saved }()
	nerr := c.nerrors
	shown := 0
	var lo, hi Literal
	for i := range d.Len() {
		if skipOtherFamily(f, d.elemKind(i)) {
			continue
		}
		before := len(c.diags)
		t.items = c.setElem(t.items, d.Elem(i, &lo, &hi), f)
		if len(c.diags) > before {
			shown++
			if shown > maxSetErrors {
				// A file of a million lines in the wrong format: the first
				// errors say what is wrong.
				c.diags = c.diags[:before]
			}
		}
	}
	if shown > maxSetErrors {
		c.errorf(ns.decl.NameSpan, "fix the elements above", "set $%s: %d more elements are invalid for %s", ns.decl.Name, shown-maxSetErrors, f.Name)
	}
	unread := d.File != "" && d.FileElems == nil // the front end said why
	if c.nerrors == nerr && len(t.items) == 0 && !unread {
		c.rule_ = saved
		c.errorf(e.SetRefSpan, fmt.Sprintf("add %s values to set $%s", f.Type, ns.decl.Name), "set $%s has no element for %s (%s)", ns.decl.Name, f.Name, f.Type)
	}
	if unread {
		c.rule_ = saved
		c.errorf(e.SetRefSpan, "see the error on its file", "set $%s has no elements: its file %s could not be read", ns.decl.Name, ns.decl.File)
	}
	t.ok = c.nerrors == nerr
	return t.items, ns.decl.Name, t.ok
}

// maxSetErrors bounds the errors reported on the elements of one set.
const maxSetErrors = 10

// skipOtherFamily reports whether an element is an address of the other
// family than f's (in a set mixing IPv4 and IPv6).
func skipOtherFamily(f *Field, kind LitKind) bool {
	switch f.Type {
	case TypeIPv4:
		return kind == LitColon
	case TypeIPv6:
		return kind == LitDotted
	}
	return false
}

// unusedSets warns about declared sets no rule uses.
func (c *checker) unusedSets() {
	var names []string
	for n, ns := range c.sets {
		if !ns.used {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c.rule_ = ""
		c.warnf(c.sets[n].decl.NameSpan, "use it as FIELD in $"+n+", or remove it", "set $%s is not used by any rule", n)
	}
}

// closest returns the name nearest to name, or "" when none is near.
func closest(name string, names []string) string {
	best, bd := "", len(name)/2+2
	for _, n := range names {
		if d := EditDistance(name, n); d < bd {
			best, bd = n, d
		}
	}
	return best
}
