package rules

import (
	"fmt"
	"regexp"
	"sort"
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
	Elems    []SetElem
	// File is the element file as written ("" for an inline set) and
	// FileSpan where; Path is the file the front end read. Elems stays nil
	// when the file could not be read (the front end reports why).
	File     string
	FileSpan Span
	Path     string
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
	n := 0
	for _, el := range ns.decl.Elems {
		if !skipOtherFamily(f, el.Lo) {
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
	for _, el := range ns.decl.Elems {
		if skipOtherFamily(f, el.Lo) {
			continue
		}
		before := len(c.diags)
		t.items = c.setElem(t.items, el, f)
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
	unread := ns.decl.File != "" && ns.decl.Elems == nil // the front end said why
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
func skipOtherFamily(f *Field, lit *Literal) bool {
	switch f.Type {
	case TypeIPv4:
		return lit.Kind == LitColon
	case TypeIPv6:
		return lit.Kind == LitDotted
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
