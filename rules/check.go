package rules

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// MaxLogFields bounds the fields one rule may log: above the number of
// header fields in the catalogue, so that one rule can log them all.
const MaxLogFields = 128

var ruleNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check resolves and types the rules of one or more files into a RuleSet.
// Rule names must be unique across all files. It returns every problem found
// (not only the first); the RuleSet is nil when any diagnostic is an error.
// The rules without errors are linted too: their warnings (lint.go) follow
// the checker's.
func Check(files ...*File) (*RuleSet, Diagnostics) {
	c := &checker{seen: map[string]Span{}}
	rs := &RuleSet{}
	c.declareSets(files)
	c.declareRedact(files)
	rs.SecretQuery = c.queryHashes
	var decls []*RuleDecl
	for _, f := range files {
		for _, d := range f.Rules {
			if r := c.rule(d); r != nil {
				r.Index = len(rs.Rules)
				rs.Rules = append(rs.Rules, r)
				decls = append(decls, d)
			}
		}
	}
	c.unusedSets()
	c.diags = append(c.diags, lint(rs.Rules, decls)...)
	if c.diags.HasErrors() {
		return nil, c.diags
	}
	return rs, c.diags
}

type checker struct {
	diags   Diagnostics
	nerrors int
	seen    map[string]Span
	rule_   string
	hook    Hook // the hook of the rule being checked
	sets    map[string]*namedSet
	// The run's redaction (redact.go): headers redacted, query parameters
	// masked and their hashes.
	secretHeaders map[string]bool
	secretQuery   []string
	queryHashes   []uint32
}

func (c *checker) errorf(span Span, hint string, format string, args ...any) {
	d := Errorf(span, format, args...)
	d.Hint = hint
	d.Rule = c.rule_
	c.diags = append(c.diags, d)
	c.nerrors++
}

func (c *checker) warnf(span Span, hint string, format string, args ...any) {
	d := Errorf(span, format, args...)
	d.Severity = Warning
	d.Hint = hint
	d.Rule = c.rule_
	c.diags = append(c.diags, d)
}

func (c *checker) rule(d *RuleDecl) *Rule {
	c.rule_ = d.Name
	nerr := c.nerrors
	r := &Rule{Name: d.Name, Span: d.Span}

	switch {
	case !ruleNameRE.MatchString(d.Name):
		c.errorf(d.NameSpan, "a rule name is a letter or _ followed by letters, digits or _", "invalid rule name %q", d.Name)
	default:
		if prev, dup := c.seen[d.Name]; dup {
			c.errorf(d.NameSpan, "rule names must be unique across all files of a run; rename one", "rule %q is already defined at %s", d.Name, prev.Start)
		} else {
			c.seen[d.Name] = d.NameSpan
		}
	}
	for _, dup := range d.Dups {
		c.errorf(dup.Span, "a rule has at most one "+dup.Keyword, "%s given twice in rule %q", dup.Keyword, d.Name)
	}

	r.Hook = HookTCIngress
	if d.Hook != nil {
		text, cgroup := d.Hook.Text, d.Hook.Cgroup
		if w := strings.Fields(text); len(w) > 2 && w[0] == "cgroup" {
			text, cgroup = strings.Join(w[:2], " "), strings.Join(w[2:], " ")
		}
		h, ok := ParseHook(text)
		switch {
		case ok && cgroup != "" && !h.IsCgroup():
			c.errorf(d.Hook.Span, "only `hook cgroup ingress` and `hook cgroup egress` take a cgroup path", "hook %s takes no cgroup path", h)
		case ok && cgroup != "" && cgroup[0] != '/':
			c.errorf(d.Hook.Span, "give the cgroup's directory as an absolute path, e.g. \"/sys/fs/cgroup/system.slice/nginx.service\"", "cgroup path %q is not absolute", cgroup)
		}
		r.Cgroup = cgroup
		if !ok {
			c.errorf(d.Hook.Span, "hooks are: xdp, tc ingress, tc egress, cgroup ingress, cgroup egress, syscall connect|bind|sendto|listen|accept|accept4", "unknown hook %q", d.Hook.Text)
		}
		r.Hook = h
	}
	c.hook = r.Hook

	if d.Match != nil {
		r.Match = c.expr(d.Match)
		c.syscallMatch(r.Match, d.MatchSpan)
	}

	switch {
	case d.Count != nil && d.HasLog:
		c.errorf(d.Count.Span, "a rule either logs each packet or counts them: split it into two rules", "rule %q has both log and count", d.Name)
	case d.Count != nil:
	case !d.HasLog:
		c.errorf(d.NameSpan, "add a log statement naming the fields to log, e.g. `log ip.src, ip.dst` (or count them: `count by ip.src every 10s`)", "rule %q has no log statement", d.Name)
	case len(d.Log) == 0:
		c.errorf(d.LogSpan, "name at least one field, e.g. `log ip.src, ip.dst`", "log statement of rule %q names no field", d.Name)
	}
	if len(d.Log) > MaxLogFields {
		c.errorf(d.LogSpan, "split the rule in two", "rule %q logs %d fields; at most %d are allowed", d.Name, len(d.Log), MaxLogFields)
	}
	r.Log = c.logFields(d.Log, "logged")
	c.volume(r, d)
	c.l7Rule(r, d)
	if c.nerrors > nerr {
		return nil
	}
	return r
}

// logFields resolves the fields of a log statement (or a count's key, what
// says which in errors).
func (c *checker) logFields(names []FieldName, what string) []LogField {
	var out []LogField
	logged := map[string]Span{}
	for _, fn := range names {
		f, layer, ok := c.resolve(fn)
		if !ok || !c.noFunc(fn, "log the field itself") {
			continue
		}
		if fn.Slice != nil {
			c.errorf(fn.Slice.Span, "log the field itself", "a slice cannot be logged")
			continue
		}
		switch {
		case IsBytes(f) && f.Type == TypeProto:
			c.errorf(fn.Span, "log frame.len, or tcp.payload or udp.payload", "the frame's bytes cannot be logged (\"frame\" is the frame number in hdrlog test's events)")
			continue
		case f.Type == TypeProto:
			c.errorf(fn.Span, "log one of its fields instead, e.g. "+exampleField(f.Header), "%s is a protocol, not a field: it cannot be logged", f.Name)
			continue
		case f.IsEither():
			c.errorf(fn.Span, fmt.Sprintf("log %s and %s", f.Either[0], f.Either[1]), "%s stands for either of two fields and cannot be logged", f.Name)
			continue
		}
		if layer == 0 {
			layer = 1
		}
		ref := FieldRef{Field: f, Layer: layer}
		key := ref.String()
		if prev, dup := logged[key]; dup {
			c.errorf(fn.Span, "remove one of them", "%s is %s twice (first at %s)", fn.Name, what, prev.Start)
			continue
		}
		logged[key] = fn.Span
		out = append(out, LogField{Name: logName(fn, f), Ref: ref, Span: fn.Span})
	}
	return out
}

func exampleField(h Header) string {
	for _, f := range catalogue {
		if f.Header == h && f.Type != TypeProto && !f.IsEither() {
			return f.Name
		}
	}
	return "frame.len"
}

// resolve looks a field name up, splitting a layer suffix (#n). Layer 0 means
// "any occurrence".
func (c *checker) resolve(fn FieldName) (*Field, int, bool) {
	if !c.checkFunc(fn) {
		return nil, 0, false
	}
	if f, ok, handled := c.resolveKeyed(fn); handled {
		return f, 0, ok
	}
	name, layer := fn.Name, 0
	if i := strings.IndexByte(name, '#'); i >= 0 {
		n, err := strconv.Atoi(name[i+1:])
		if err != nil || n < 1 {
			c.errorf(fn.Span, "a layer is a positive number, e.g. vlan.id#2 for the inner tag", "invalid layer in %q", fn.Name)
			return nil, 0, false
		}
		name, layer = name[:i], n
	}
	f, ok := LookupField(name)
	if !ok {
		if hint, falco := falcoNotOffered[name]; falco {
			c.errorf(fn.Span, hint, "Falco field %s is not offered by hdrlog", name)
		} else if hint, known := unsupportedHint(name); known {
			if hint == "" {
				hint = suggest(name)
			}
			c.errorf(fn.Span, hint, "Wireshark field %s is not supported by hdrlog", name)
		} else {
			c.errorf(fn.Span, suggest(name), "unknown field %s", name)
		}
		return nil, 0, false
	}
	if !c.hookField(fn, f) {
		return nil, 0, false
	}
	if layer > f.MaxLayers() {
		if f.MaxLayers() == 1 {
			c.errorf(fn.Span, "hdrlog decodes one "+f.Header.String()+" header per packet (tunnels are not decoded): drop the #"+strconv.Itoa(layer), "%s has no layer %d", name, layer)
		} else {
			c.errorf(fn.Span, fmt.Sprintf("%s has at most %d layers (#1 is the outer tag)", name, f.MaxLayers()), "%s has no layer %d", name, layer)
		}
		return nil, 0, false
	}
	if layer > 0 && f.IsEither() {
		c.errorf(fn.Span, "drop the layer suffix", "%s stands for two fields and takes no layer", name)
		return nil, 0, false
	}
	return f, layer, true
}

func suggest(name string) string {
	near := nearestFields(name, 3)
	if len(near) == 0 {
		return "see the field reference in README.md (hdrlog compile lists nothing for unknown names)"
	}
	return "did you mean " + strings.Join(near, ", ") + "?"
}

// occurrences lists the single occurrences a (field, layer) reference stands for.
func occurrences(f *Field, layer int) []FieldRef {
	if f.IsEither() {
		var refs []FieldRef
		for _, n := range f.Either {
			refs = append(refs, FieldRef{Field: byName[n], Layer: 1})
		}
		return refs
	}
	if layer > 0 {
		return []FieldRef{{Field: f, Layer: layer}}
	}
	var refs []FieldRef
	for l := 1; l <= f.MaxLayers(); l++ {
		refs = append(refs, FieldRef{Field: f, Layer: l})
	}
	return refs
}

// anyOf builds the predicate "some occurrence satisfies mk"; allOf builds
// Wireshark's != ("every present occurrence differs, and there is one").
func anyOf(refs []FieldRef, mk func(FieldRef) Pred) Pred {
	if len(refs) == 1 {
		return mk(refs[0])
	}
	or := &PredOr{}
	for _, r := range refs {
		or.Terms = append(or.Terms, mk(r))
	}
	return or
}

func allOf(f *Field, refs []FieldRef, mk func(FieldRef) Pred) Pred {
	if len(refs) == 1 {
		return mk(refs[0])
	}
	and := &PredAnd{}
	for i, r := range refs {
		if f.IsEither() || i == 0 {
			// Both directions are present together; the first layer must be present.
			and.Terms = append(and.Terms, mk(r))
			continue
		}
		// Inner layers count only when present.
		and.Terms = append(and.Terms, &PredOr{Terms: []Pred{&PredNot{X: &PredExists{Ref: r}}, mk(r)}})
	}
	return and
}

func (c *checker) expr(e Expr) Pred {
	switch e := e.(type) {
	case *LogicalExpr:
		// Gather the operands of a run of the same operator without
		// recursion on the run itself: a && b && c … parses as a deep left
		// tree, and long generated rules must not cost quadratic time.
		var operands []Expr
		stack := []Expr{e}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if le, ok := x.(*LogicalExpr); ok && le.Op == e.Op {
				stack = append(stack, le.Right, le.Left)
				continue
			}
			operands = append(operands, x)
		}
		terms := make([]Pred, 0, len(operands))
		for _, x := range operands {
			t := c.expr(x)
			if e.Op == OpAnd {
				if a, ok := t.(*PredAnd); ok {
					terms = append(terms, a.Terms...)
					continue
				}
			} else if o, ok := t.(*PredOr); ok {
				terms = append(terms, o.Terms...)
				continue
			}
			terms = append(terms, t)
		}
		if e.Op == OpAnd {
			return &PredAnd{Terms: terms}
		}
		return &PredOr{Terms: terms}
	case *NotExpr:
		return &PredNot{X: c.expr(e.X)}
	case *TestExpr:
		return c.test(e)
	case *CompareExpr:
		return c.compare(e)
	case *InExpr:
		return c.in(e)
	}
	c.errorf(e.ExprSpan(), "", "internal error: unexpected expression %T", e)
	return &PredConst{}
}

func (c *checker) test(e *TestExpr) Pred {
	f, layer, ok := c.resolve(e.Field)
	if !ok {
		return &PredConst{}
	}
	switch {
	case e.Field.Func == "len" && e.Mask == nil:
		// Bare, as in Wireshark: true when the field is there.
		if !c.lenField(e.Field, f) {
			return &PredConst{}
		}
		return &PredExists{Ref: occurrences(f, layer)[0]}
	case e.Field.Slice != nil && e.Field.Func == "" && IsBytes(f):
		return c.testBytesSlice(e, f)
	case e.Field.Slice != nil && e.Field.Func == "":
		return c.testSlice(e, f, layer)
	}
	if !c.noFunc(e.Field, "a bare field tests its presence") {
		return &PredConst{}
	}
	if e.Mask == nil {
		if f.Type == TypeBool && (f.L7 == nil || !f.L7.Exists) {
			c.warnf(e.Span, fmt.Sprintf("to test the flag write `%s == 1`", e.Field.Name),
				"%s is true for every packet that has the field, whatever the flag's value (it tests presence, as in Wireshark)", e.Field.Name)
		}
		return &PredExists{Ref: occurrences(f, layer)[0]}
	}
	mask, ok := c.mask(f, e.Mask)
	if !ok {
		return &PredConst{}
	}
	return anyOf(occurrences(f, layer), func(r FieldRef) Pred { return &PredBitTest{Ref: r, Mask: mask} })
}

func (c *checker) mask(f *Field, lit *Literal) (uint64, bool) {
	if f.Type == TypeBool {
		// As in Wireshark ("FT_BOOLEAN cannot &"): a boolean is true or false.
		c.errorf(lit.Span, fmt.Sprintf("compare it: `%s == 1`", f.Name), "bitwise & does not apply to booleans; %s is a boolean", f.Name)
		return 0, false
	}
	if f.Type != TypeUint {
		c.errorf(lit.Span, "", "bitwise & applies to integer fields; %s is %s", f.Name, aType(f.Type))
		return 0, false
	}
	v, ok := c.uint(lit, f, "mask")
	if ok && v == 0 {
		c.errorf(lit.Span, "a zero mask makes the test always false", "mask is zero")
		return 0, false
	}
	return v, ok
}

func (c *checker) fieldForValue(fn FieldName) (*Field, int, bool) {
	f, layer, ok := c.resolve(fn)
	if !ok {
		return nil, 0, false
	}
	if IsBytes(f) {
		return f, layer, true
	}
	if f.Type == TypeProto && fn.Slice != nil {
		c.errorf(fn.Slice.Span, "slice the frame, a payload or an address instead, e.g. frame[14:1] == 45 (an untagged frame's IPv4 header), tcp.payload[0:4] or eth.src[0:3]", "slices of protocols (%s%s) are not supported, but frame's", f.Name, fn.Slice)
		return nil, 0, false
	}
	if f.Type == TypeProto {
		c.errorf(fn.Span, fmt.Sprintf("test the protocol bare (`%s`) or compare one of its fields, e.g. %s", f.Name, exampleField(f.Header)), "%s is a protocol and has no value to compare", f.Name)
		return nil, 0, false
	}
	return f, layer, true
}

func (c *checker) compare(e *CompareExpr) Pred {
	f, layer, ok := c.fieldForValue(e.Field)
	if !ok {
		return &PredConst{}
	}
	all, ok := c.quantified(e)
	if !ok {
		return &PredConst{}
	}
	if isList(f) && e.Field.Func != "len" && e.Field.Slice == nil {
		return c.compareList(e, f, layer, all)
	}
	if e.Op == CmpAnyNe {
		// The quantifier says "some occurrence"; each occurrence tests !=.
		ne := *e
		ne.Op = CmpNe
		e = &ne
	}
	if IsBytes(f) {
		return c.compareBytes(e, f)
	}
	switch {
	case e.Field.Func == "len" && isList(f):
		c.errorf(e.Field.Span, "compare the elements themselves (== any element, all ... == every one)", "len() of %s, a list, is not supported", f.Name)
		return &PredConst{}
	case e.Field.Func == "len":
		return c.compareLen(e, f, layer, all)
	case e.Field.Slice != nil:
		return c.compareSlice(e, f, layer, all)
	case e.Op == CmpContains && byteSize(f) > 0 && e.Field.Func == "":
		// An address is a byte string to contains: the whole field.
		whole := *e
		whole.Field.Slice = &Slice{Start: 0, Len: SliceToEnd, Span: e.Field.Span}
		return c.compareSlice(&whole, f, layer, all)
	}
	if other, ok := c.fieldOperand(e.Value); ok {
		return c.compareFields(e, f, layer, other, all)
	}
	if f.Type == TypeString || e.Field.Func != "" {
		return c.compareText(e, f, layer)
	}
	var mask uint64
	if e.Mask != nil {
		if mask, ok = c.mask(f, e.Mask); !ok {
			return &PredConst{}
		}
	}
	switch e.Op {
	case CmpContains, CmpMatches:
		c.errorf(e.OpSpan, "contains and matches apply to string fields", "%s is %s; %s does not apply", f.Name, aType(f.Type), e.Op)
		return &PredConst{}
	case CmpLt, CmpLe, CmpGt, CmpGe:
		switch f.Type {
		case TypeBool:
			c.errorf(e.OpSpan, "compare booleans with == or !=", "%s is a boolean; %s does not apply", f.Name, e.Op)
			return &PredConst{}
		}
	}
	v, ok := c.value(e.Value, f)
	if !ok {
		return &PredConst{}
	}
	if v.IsPrefix() && e.Op != CmpEq && e.Op != CmpNe {
		c.errorf(e.Value.Span, "compare a prefix with == or !=", "%s is a prefix; %s does not apply", e.Value.Text, e.Op)
		return &PredConst{}
	}
	if mask != 0 && v.U&^mask != 0 && (e.Op == CmpEq || e.Op == CmpNe) {
		c.warnf(e.Span, fmt.Sprintf("%#x has bits outside the mask %#x", v.U, mask), "this comparison is always %v", e.Op == CmpNe)
	}
	mk := func(r FieldRef) Pred { return &PredCompare{Ref: r, Mask: mask, Op: e.Op, Value: v} }
	refs := occurrences(f, layer)
	if all {
		return allOf(f, refs, mk)
	}
	return anyOf(refs, mk)
}

// quantified reports whether a comparison must hold for every occurrence
// of its field (all) rather than for some (any), after Wireshark: any by
// default, all for != (all not equal); ~= is any not equal.
func (c *checker) quantified(e *CompareExpr) (all, ok bool) {
	switch {
	case e.Op == CmpAnyNe && e.Quant == QuantAll:
		c.errorf(e.OpSpan, "write all FIELD != VALUE for \"every occurrence differs\"", "~= means \"some occurrence differs\" and takes no all")
		return false, false
	case e.Quant == QuantAll:
		return true, true
	case e.Quant == QuantAny || e.Op == CmpAnyNe:
		return false, true
	}
	return e.Op == CmpNe, true
}

func (c *checker) in(e *InExpr) Pred {
	f, layer, ok := c.fieldForValue(e.Field)
	if !ok {
		return &PredConst{}
	}
	if e.Field.Slice != nil || e.Field.Func == "len" || IsBytes(f) {
		c.errorf(e.Field.Span, "compare with == (or an ordering, for len()) and join the tests with ||", "sets of byte strings and lengths are not supported")
		return &PredConst{}
	}
	if other, ok := c.fieldInSet(e); ok {
		c.errorf(other.Span, "a set holds values; compare two fields with ==, e.g. tcp.srcport == tcp.dstport", "%s is a field: sets hold values", other.Name)
		return &PredConst{}
	}
	if isList(f) && e.Quant == QuantAll {
		c.errorf(e.QuantSpan, "!(F in {…}) says that no element is one of them, all F == \"a\" that every element is \"a\"", "all … in {…} on %s, a list, is not supported", f.Name)
		return &PredConst{}
	}
	if e.SetRef != "" && f.Type == TypeBool {
		if ns := c.sets[e.SetRef]; ns != nil {
			ns.used = true
		}
		c.errorf(e.SetRefSpan, "write the values in braces, e.g. "+f.Name+" in {…}", "named sets hold integers, addresses, MAC addresses and strings; %s is a %s field", f.Name, f.Type)
		return &PredConst{}
	}
	if f.Type == TypeString || e.Field.Func != "" {
		return c.inText(e, f)
	}
	var mask uint64
	if e.Mask != nil {
		if mask, ok = c.mask(f, e.Mask); !ok {
			return &PredConst{}
		}
	}
	var items []SetItem
	set := ""
	if e.SetRef != "" {
		if items, set, ok = c.namedItems(e, f, mask); !ok {
			return &PredConst{}
		}
	} else {
		if len(e.Elems) == 0 {
			c.errorf(e.Span, "list at least one value", "empty set")
			return &PredConst{}
		}
		items = make([]SetItem, 0, len(e.Elems))
		for _, el := range e.Elems {
			items = c.setElem(items, el, f)
		}
	}
	mk := func(r FieldRef) Pred { return &PredInSet{Ref: r, Mask: mask, Items: items, Set: set} }
	if e.Quant == QuantAll {
		return allOf(f, occurrences(f, layer), mk)
	}
	return anyOf(occurrences(f, layer), mk)
}

// setElem types one element of a set by its field and appends it to items
// (it reports an invalid element and leaves items as they are).
func (c *checker) setElem(items []SetItem, el SetElem, f *Field) []SetItem {
	lo, ok := c.value(el.Lo, f)
	if !ok {
		return items
	}
	if el.Hi == nil {
		return append(items, SetItem{Lo: lo, Hi: lo})
	}
	hi, ok := c.value(el.Hi, f)
	if !ok {
		return items
	}
	span := Span{Start: el.Lo.Span.Start, End: el.Hi.Span.End}
	switch {
	case f.Type == TypeBool:
		c.errorf(span, "list the values one by one", "ranges apply to integers, addresses and MAC addresses, not to %s fields", f.Type)
		return items
	case lo.IsPrefix() || hi.IsPrefix():
		c.errorf(span, "a range runs between two addresses", "a range cannot have a prefix bound")
		return items
	case CompareValues(lo, hi) > 0:
		c.errorf(span, fmt.Sprintf("write %s..%s", el.Hi.Text, el.Lo.Text), "empty range: %s is greater than %s", el.Lo.Text, el.Hi.Text)
		return items
	}
	return append(items, SetItem{Lo: lo, Hi: hi})
}

// fieldInSet returns the first element of a set that names a field.
func (c *checker) fieldInSet(e *InExpr) (FieldName, bool) {
	for _, el := range e.Elems {
		for _, lit := range []*Literal{el.Lo, el.Hi} {
			if fn, ok := c.fieldOperand(lit); ok {
				return fn, true
			}
		}
	}
	return FieldName{}, false
}

// CompareValues orders two values of one type: integers by value,
// addresses and MAC addresses byte by byte as unsigned big-endian numbers
// (Wireshark's order). It returns -1, 0 or +1.
func CompareValues(a, b Value) int {
	if ab := a.Bytes(); ab != nil {
		return bytes.Compare(ab, b.Bytes())
	}
	return cmp.Compare(a.U, b.U)
}

// value types a literal by the field it is compared with.
func (c *checker) value(lit *Literal, f *Field) (Value, bool) {
	switch f.Type {
	case TypeUint:
		u, ok := c.uint(lit, f, "value")
		return Value{Type: TypeUint, U: u}, ok
	case TypeBool:
		switch strings.ToLower(lit.Text) {
		case "1", "true":
			if lit.Kind == LitNumber || lit.Kind == LitWord {
				return Value{Type: TypeBool, U: 1}, true
			}
		case "0", "false":
			if lit.Kind == LitNumber || lit.Kind == LitWord {
				return Value{Type: TypeBool, U: 0}, true
			}
		}
		c.errorf(lit.Span, "a boolean is 1, 0, true or false", "%s is a boolean; %s is not one", f.Name, quoteLit(lit))
	case TypeIPv4:
		if lit.Kind == LitDotted {
			if v, ok := parseAddr(lit.Text, false); ok {
				return v, true
			}
		}
		c.errorf(lit.Span, "write an IPv4 address or prefix, e.g. 10.0.0.1 or 10.0.0.0/8", "%s is an IPv4 address; %s is not an IPv4 address or prefix", f.Name, quoteLit(lit))
	case TypeIPv6:
		if lit.Kind == LitColon {
			if v, ok := parseAddr(lit.Text, true); ok {
				return v, true
			}
		}
		c.errorf(lit.Span, "write an IPv6 address or prefix, e.g. 2001:db8::1 or fe80::/10", "%s is an IPv6 address; %s is not an IPv6 address or prefix", f.Name, quoteLit(lit))
	case TypeMAC:
		if lit.Kind == LitColon {
			if mac, ok := parseMAC(lit.Text); ok {
				return Value{Type: TypeMAC, MAC: mac}, true
			}
		}
		c.errorf(lit.Span, "write a MAC address as six colon-separated hex bytes, e.g. 02:00:5e:10:00:01", "%s is a MAC address; %s is not one", f.Name, quoteLit(lit))
	}
	return Value{}, false
}

// aType names a type with its article: "an IPv4 address", "a boolean".
func aType(t Type) string {
	switch t {
	case TypeBool, TypeMAC, TypeProto, TypeBytes:
		return "a " + t.String()
	}
	return "an " + t.String()
}

func quoteLit(lit *Literal) string {
	if lit.Kind == LitString {
		return strconv.Quote(lit.Text)
	}
	return lit.Text
}

func (c *checker) uint(lit *Literal, f *Field, what string) (uint64, bool) {
	if f.Base == BaseSeconds {
		us, err := ParseSeconds(lit.Text)
		if err != nil || lit.Kind == LitString {
			c.errorf(lit.Span, "write seconds: 2, 0.5, 0.000250", "%s is a time in seconds; %s is not", f.Name, quoteLit(lit))
			return 0, false
		}
		if us > f.MaxValue() {
			c.errorf(lit.Span, "", "%s is at most %d.%06d seconds", f.Name, f.MaxValue()/1e6, f.MaxValue()%1e6)
			return 0, false
		}
		return us, true
	}
	if lit.Kind != LitNumber {
		hint := "write a decimal or 0x-prefixed hexadecimal number"
		if lit.Kind == LitWord {
			hint = "names of values are not supported: " + hint
		}
		c.errorf(lit.Span, hint, "%s is an integer field; %s is not an integer", f.Name, quoteLit(lit))
		return 0, false
	}
	text := lit.Text
	if len(text) > 1 && text[0] == '0' && text[1] >= '0' && text[1] <= '9' {
		c.errorf(lit.Span, "Wireshark reads a leading 0 as octal; write the number without it, or in hex (0x…)", "ambiguous number %s", text)
		return 0, false
	}
	u, err := strconv.ParseUint(text, 0, 64)
	if err != nil {
		c.errorf(lit.Span, "", "invalid number %s", text)
		return 0, false
	}
	if max := f.MaxValue(); u > max {
		c.errorf(lit.Span, fmt.Sprintf("%s holds values from 0 to %d", f.Name, max), "%s %s is out of range for %s", what, text, f.Name)
		return 0, false
	}
	return u, true
}

func parseAddr(s string, v6 bool) (Value, bool) {
	typ, full := TypeIPv4, 32
	if v6 {
		typ, full = TypeIPv6, 128
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Is6() != v6 || p.Addr().Zone() != "" {
			return Value{}, false
		}
		p = p.Masked()
		return AddrValue(typ, p.Addr(), p.Bits()), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		return Value{}, false
	}
	return AddrValue(typ, a, full), true
}

func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, false
	}
	for i, p := range parts {
		if len(p) != 2 {
			return mac, false
		}
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return mac, false
		}
		mac[i] = byte(b)
	}
	return mac, true
}
