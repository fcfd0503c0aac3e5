package rules

import (
	"fmt"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The checker's part for L7 fields: the header accessor, comparisons on
// strings (==, !=, in, contains, matches with a bounded subset of regular
// expressions, lower() and upper()), and the statements ports, maxlen and
// unredact.

// resolveKeyed resolves http.header["Name"] and http.header.Name; handled
// is false for every other name.
func (c *checker) resolveKeyed(fn FieldName) (f *Field, ok, handled bool) {
	name, at, isKeyed, err := splitKeyed(fn.Name)
	if !isKeyed {
		return nil, false, false
	}
	if err == nil {
		err = checkHeaderName(name)
	}
	if err != nil {
		span := fn.Span
		if at > 0 && span.Start.IsValid() {
			span.Start.Offset += at
			span.Start.Column += at
		}
		c.errorf(span, `name a header like this: http.header["X-Request-Id"] (case does not matter)`, "%v", err)
		return nil, false, true
	}
	return HeaderField(name), true, true
}

// logName is the output member of a logged field: the name as written, but
// Wireshark's http.header.<Name> for the header accessor.
func logName(fn FieldName, f *Field) string {
	if f.L7 != nil && f.L7.Keyed {
		if name, _, ok, err := splitKeyed(fn.Name); ok && err == nil {
			return "http.header." + name
		}
	}
	return fn.Name
}

// noFunc reports lower()/upper() where only a comparison can take them.
func (c *checker) noFunc(fn FieldName, where string) bool {
	if fn.Func == "" {
		return true
	}
	c.errorf(fn.FuncSpan, fmt.Sprintf("compare it: `%s(%s) contains \"x\"`; %s", fn.Func, fn.Name, where), "%s() applies to a string in a comparison", fn.Func)
	return false
}

// textField checks the field of a string comparison and returns whether the
// comparison folds case.
func (c *checker) textField(fn FieldName, f *Field, op string) (fold, ok bool) {
	if f.Type != TypeString {
		if fn.Func != "" {
			c.errorf(fn.FuncSpan, "lower() and upper() apply to string fields (HTTP, DNS and TLS names and headers)", "%s is %s; %s() does not apply", f.Name, aType(f.Type), fn.Func)
		}
		return false, false
	}
	return f.L7.HostName || fn.Func != "", true
}

// textLiteral checks a literal compared with a string field.
func (c *checker) textLiteral(lit *Literal, f *Field) (string, bool) {
	if lit.Kind != LitString {
		c.errorf(lit.Span, fmt.Sprintf("write strings in double quotes: %q", lit.Text), "%s is a string; %s is not a string literal", f.Name, lit.Text)
		return "", false
	}
	if len(lit.Text) > MaxTextLiteral {
		c.errorf(lit.Span, "compare a shorter part of it, with contains or matches \"^…\"", "string of %d bytes; hdrlog compares at most %d in the kernel", len(lit.Text), MaxTextLiteral)
		return "", false
	}
	return lit.Text, true
}

// funcFold applies lower()/upper() to a literal: the comparison folds case,
// so the literal is lowered; a literal that the function's output can never
// equal (lower(x) == "Abc") makes the test false, with a warning.
func (c *checker) funcFold(fn FieldName, lit *Literal, s string) (string, bool) {
	bad := func(b byte) bool { return 'A' <= b && b <= 'Z' }
	if fn.Func == "upper" {
		bad = func(b byte) bool { return 'a' <= b && b <= 'z' }
	}
	for i := range len(s) {
		if fn.Func != "" && bad(s[i]) {
			c.warnf(lit.Span, fmt.Sprintf("write the literal in %s case", fn.Func),
				"%s(%s) never equals or contains %s: this test is always false", fn.Func, fn.Name, quoteLit(lit))
			return "", false
		}
	}
	return LowerASCII(s), true
}

// isList reports whether f is an L7 list field (its elements repeat, as a
// Wireshark field's occurrences).
func isList(f *Field) bool { return f.L7 != nil && f.L7.List }

// compareList is a comparison on a list field, with Wireshark's meaning on
// a repeated field: == (contains, matches) holds when it holds for some
// element, for every element with all; != when no element is equal; ~=
// when some element differs.
func (c *checker) compareList(e *CompareExpr, f *Field, layer int, all bool) Pred {
	setAll := func(p Pred) Pred {
		if t, ok := p.(*PredText); ok {
			t.All = true
		}
		return p
	}
	ref := FieldRef{Field: f, Layer: 1}
	switch {
	case e.Op == CmpAnyNe || e.Op == CmpNe && !all: // ~=, any F != v
		eq := *e
		eq.Op = CmpEq
		return &PredAnd{Terms: []Pred{&PredExists{Ref: ref}, &PredNot{X: setAll(c.compareText(&eq, f, layer))}}}
	case all && e.Op != CmpNe:
		return setAll(c.compareText(e, f, layer))
	}
	return c.compareText(e, f, layer)
}

func (c *checker) compareText(e *CompareExpr, f *Field, layer int) Pred {
	fold, ok := c.textField(e.Field, f, e.Op.String())
	if !ok {
		return &PredConst{}
	}
	ref := FieldRef{Field: f, Layer: 1}
	if e.Mask != nil {
		c.mask(f, e.Mask)
		return &PredConst{}
	}
	var op TextOp
	switch e.Op {
	case CmpEq, CmpNe:
		op = TextEq
	case CmpContains:
		op = TextContains
	case CmpMatches:
	default:
		c.errorf(e.OpSpan, "strings compare with ==, !=, in {…}, contains and matches", "%s is a string; %s does not apply", f.Name, e.Op)
		return &PredConst{}
	}
	lit, ok := c.textLiteral(e.Value, f)
	if !ok {
		return &PredConst{}
	}
	if e.Op == CmpMatches {
		var refold bool
		var err error
		op, lit, refold, err = textPattern(lit)
		if err != nil {
			c.errorf(e.Value.Span, `matches takes literal text, optionally anchored: "^/api" (starts with), "\\.example\\.com$" (ends with), "^/health$" (the whole value), "admin" (anywhere); as in Wireshark it ignores case, and (?-i) makes it match case exactly; hdrlog runs it in the kernel, where only such patterns have a bounded cost`,
				"unsupported regular expression %s: %v", quoteLit(e.Value), err)
			return &PredConst{}
		}
		if refold {
			// A case-insensitive pattern (the default) already folds and
			// its literal is lowered: lower() and upper() add nothing.
			if lit == "" && op != TextEq {
				return &PredExists{Ref: ref} // as below
			}
			return &PredText{Ref: ref, Op: op, Lit: lit, Fold: true}
		}
	}
	holds := Pred(&PredConst{Value: false})
	if lit == "" && op != TextEq {
		// Every present value contains, starts and ends with the empty
		// text: the test is the field's presence (and the kernel has no
		// bytes to compare).
		holds = &PredExists{Ref: ref}
	} else if fold {
		if lit, ok = c.funcFold(e.Field, e.Value, lit); ok {
			holds = &PredText{Ref: ref, Op: op, Lit: lit, Fold: true}
		}
	} else {
		holds = &PredText{Ref: ref, Op: op, Lit: lit}
	}
	if e.Op == CmpNe {
		// As everywhere: != holds on a present field whose value differs.
		return &PredAnd{Terms: []Pred{&PredExists{Ref: ref}, &PredNot{X: holds}}}
	}
	return holds
}

func (c *checker) inText(e *InExpr, f *Field) Pred {
	fold, ok := c.textField(e.Field, f, "in")
	if !ok {
		return &PredConst{}
	}
	if e.Mask != nil {
		c.mask(f, e.Mask)
		return &PredConst{}
	}
	ref := FieldRef{Field: f, Layer: 1}
	if e.SetRef != "" {
		t, ok := c.namedTexts(e, f, fold)
		if !ok {
			return &PredConst{}
		}
		p := *t // the literals and their index, shared by every use
		p.Ref = ref
		if !textSetField(f) {
			return p.Or()
		}
		return &p
	}
	if len(e.Elems) == 0 {
		c.errorf(e.Span, "list at least one value", "empty set")
		return &PredConst{}
	}
	lits := make([]string, 0, len(e.Elems))
	for _, el := range e.Elems {
		if lit, ok := c.textElem(e, el, f, fold, false); ok {
			lits = append(lits, lit)
		}
	}
	switch len(lits) {
	case 0:
		return &PredConst{}
	case 1:
		return &PredText{Ref: ref, Op: TextEq, Lit: lits[0], Fold: fold}
	}
	if !textSetField(f) {
		// A list (ALPN), a container id or a file name: tested value by
		// value (the kernel has no map lookup for them), no index.
		return (&PredTextSet{Ref: ref, Lits: lits, Fold: fold}).Or()
	}
	return NewPredTextSet(ref, lits, fold, "")
}

// textSetField reports whether `in` on a string field can be a map lookup
// (PredTextSet): the L7 fields that hold one value, and the command names
// (proc.name, proc.pname).
func textSetField(f *Field) bool {
	return f.Header.IsL7() && f.L7 != nil && !f.L7.List || IsCommName(f)
}

// IsCommName reports whether f is a command name: the kernel's
// zero-padded buffer of CommLen bytes.
func IsCommName(f *Field) bool { return f.Name == "proc.name" || f.Name == "proc.pname" }

// textElem checks one element of a string set; raw is true for an
// element of a named set, whose text is the value whatever its kind (a
// set file's line, an HCL string: no quotes needed).
func (c *checker) textElem(e *InExpr, el SetElem, f *Field, fold, raw bool) (string, bool) {
	if el.Hi != nil {
		c.errorf(Span{Start: el.Lo.Span.Start, End: el.Hi.Span.End}, "list the strings one by one", "ranges apply to integers and IPv4 addresses, not to strings")
		return "", false
	}
	lit := el.Lo
	if raw && lit.Kind != LitString {
		l := *lit
		l.Kind = LitString
		lit = &l
	}
	s, ok := c.textLiteral(lit, f)
	if ok && fold {
		s, ok = c.funcFold(e.Field, lit, s)
	}
	return s, ok
}

// namedTexts takes the elements of the named set of e as strings for the
// string field f: an element is the string as written, quoted or not
// (a line of a set file is example.com; HCL's elements are strings).
func (c *checker) namedTexts(e *InExpr, f *Field, fold bool) (*PredTextSet, bool) {
	ns, found := c.sets[e.SetRef]
	if !found {
		_, _, ok := c.namedItems(e, f, 0) // reports the unknown set
		return nil, ok
	}
	ns.used = true
	// Typed once for each way of reading it: a watch list of a million
	// names used on three fields is one slice and one index.
	key := fmt.Sprintf("text|%v|%s|%v", fold, e.Field.Func, IsCommName(f))
	if t, done := ns.typed[key]; done {
		return t.texts, t.ok
	}
	t := &typedSet{}
	ns.typed[key] = t
	d := ns.decl
	saved := c.rule_
	c.rule_ = ""
	defer func() { c.rule_ = saved }()
	nerr, shown := c.nerrors, 0
	lits := make([]string, 0, d.Len())
	var lo, hi Literal
	for i := range d.Len() {
		before := len(c.diags)
		if s, ok := c.textElem(e, d.Elem(i, &lo, &hi), f, fold, true); ok {
			lits = append(lits, s)
		}
		if len(c.diags) > before {
			if shown++; shown > maxSetErrors {
				c.diags = c.diags[:before]
			}
		}
	}
	if shown > maxSetErrors {
		c.errorf(d.NameSpan, "fix the elements above", "set $%s: %d more elements are invalid for %s", d.Name, shown-maxSetErrors, f.Name)
	}
	c.rule_ = saved
	switch {
	case d.File != "" && d.FileElems == nil:
		c.errorf(e.SetRefSpan, "see the error on its file", "set $%s has no elements: its file %s could not be read", d.Name, d.File)
	case c.nerrors == nerr && len(lits) == 0:
		c.errorf(e.SetRefSpan, "add strings to set $"+d.Name, "set $%s has no element for %s", d.Name, f.Name)
	}
	t.texts, t.ok = NewPredTextSet(FieldRef{}, lits, fold, d.Name), c.nerrors == nerr
	return t.texts, t.ok
}

// textPattern accepts the regular expressions that are a literal, anchored
// at the start, the end, both or neither. As in Wireshark, whose matches is
// a case-insensitive Perl-compatible regular expression, the pattern ignores
// case unless it opts out with (?-i); (?i) is accepted and changes nothing.
func textPattern(re string) (TextOp, string, bool, error) {
	r, err := syntax.Parse(re, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return 0, "", false, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	r = r.Simplify()
	subs := []*syntax.Regexp{r}
	if r.Op == syntax.OpConcat {
		subs = r.Sub
	}
	begin, end := false, false
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		end, subs = true, subs[:len(subs)-1]
	}
	lit, fold := "", false
	switch {
	case len(subs) == 0:
	case len(subs) == 1 && subs[0].Op == syntax.OpEmptyMatch:
	case len(subs) == 1 && subs[0].Op == syntax.OpLiteral:
		lit = string(subs[0].Rune)
		fold = subs[0].Flags&syntax.FoldCase != 0
	default:
		return 0, "", false, fmt.Errorf("it is more than a literal text")
	}
	if fold {
		for _, r := range lit {
			if r >= utf8.RuneSelf && unicode.SimpleFold(r) != r {
				return 0, "", false, fmt.Errorf("case-insensitive matching folds ASCII letters only, and the text has %q (start the pattern with (?-i) to match it exactly)", r)
			}
		}
		lit = LowerASCII(lit)
	}
	switch {
	case begin && end:
		return TextEq, lit, fold, nil
	case begin:
		return TextPrefix, lit, fold, nil
	case end:
		return TextSuffix, lit, fold, nil
	}
	return TextContains, lit, fold, nil
}

// l7Rule checks a rule's ports, maxlen and unredact statements and sets the
// length and redaction of its logged string fields.
func (c *checker) l7Rule(r *Rule, d *RuleDecl) {
	seen := map[Header]Span{}
	for _, pd := range d.Ports {
		h, ok := l7Header(pd.Proto)
		if !ok {
			c.errorf(pd.ProtoSpan, "ports applies to http, dns and tls", "unknown protocol %q in ports", pd.Proto)
			continue
		}
		if prev, dup := seen[h]; dup {
			c.errorf(pd.Span, "list every port of a protocol in one ports statement", "ports %s given twice in rule %q (first at %s)", pd.Proto, r.Name, prev.Start)
			continue
		}
		seen[h] = pd.Span
		if len(pd.Ports) > MaxPortsPerList {
			c.errorf(pd.Span, "", "ports %s lists %d ports; at most %d are allowed", pd.Proto, len(pd.Ports), MaxPortsPerList)
			continue
		}
		set := map[uint16]bool{}
		for _, lit := range pd.Ports {
			u, err := strconv.ParseUint(lit.Text, 10, 16)
			if lit.Kind != LitNumber || err != nil || u == 0 {
				c.errorf(lit.Span, "a port is a number from 1 to 65535", "invalid port %s", quoteLit(lit))
				continue
			}
			for _, p := range DefaultPorts[h] {
				if uint16(u) == p {
					c.warnf(lit.Span, "remove it", "%d is already one of the default %s ports", u, pd.Proto)
				}
			}
			set[uint16(u)] = true
		}
		pp := L7Ports{Proto: h}
		for p := range set {
			pp.Ports = append(pp.Ports, p)
		}
		sort.Slice(pp.Ports, func(i, j int) bool { return pp.Ports[i] < pp.Ports[j] })
		if len(pp.Ports) > 0 {
			r.Ports = append(r.Ports, pp)
		}
	}
	sort.Slice(r.Ports, func(i, j int) bool { return r.Ports[i].Proto < r.Ports[j].Proto })

	logged := func(fn FieldName, stmt string) *LogField {
		f, _, ok := c.resolve(fn)
		if !ok {
			return nil
		}
		for i := range r.Log {
			if r.Log[i].Ref.Field == f {
				if f.Type != TypeString && (f.Type != TypeBytes || stmt != "maxlen") {
					c.errorf(fn.Span, stmt+" applies to string fields", "%s is %s", fn.Name, aType(f.Type))
					return nil
				}
				return &r.Log[i]
			}
		}
		c.errorf(fn.Span, "log it, or remove it from "+stmt, "%s is not logged by rule %q", fn.Name, r.Name)
		return nil
	}
	for i := range r.Log {
		switch f := r.Log[i].Ref.Field; f.Type {
		case TypeString:
			r.Log[i].MaxLen = f.L7.MaxLen
			if f.L7 != nil && f.Header == HdrHTTP {
				r.Log[i].Redact = f.L7.Redact || f.L7.Header != "" && c.secretHeaders[f.L7.Header]
				if !r.Log[i].Redact && masksURL(f) {
					r.Log[i].MaskURL, r.Log[i].SecretQuery = true, c.queryHashes
				}
			} else if f.L7 != nil {
				r.Log[i].Redact = f.L7.Redact
			}
		case TypeBytes:
			r.Log[i].MaxLen = PayloadLogLen
		}
	}
	limited := map[*LogField]bool{}
	for _, ml := range d.MaxLen {
		lf := logged(ml.Field, "maxlen")
		if lf == nil {
			continue
		}
		if limited[lf] {
			c.errorf(ml.Field.Span, "give each field one length", "maxlen of %s given twice", ml.Field.Name)
			continue
		}
		limited[lf] = true
		n, err := strconv.ParseUint(ml.Value.Text, 10, 16)
		if ml.Value.Kind != LitNumber || err != nil || n < 1 || n > MaxMaxLen {
			c.errorf(ml.Value.Span, fmt.Sprintf("a length is a number of bytes from 1 to %d", MaxMaxLen), "invalid length %s", quoteLit(ml.Value))
			continue
		}
		lf.MaxLen = int(n)
	}
	total := 0
	for _, lf := range r.Log {
		total += lf.MaxLen
	}
	if total > MaxTextPerEvent {
		c.errorf(d.LogSpan, "log fewer strings, or lower their maxlen", "rule %q logs %d bytes of strings per event; at most %d are allowed", r.Name, total, MaxTextPerEvent)
	}
	for _, fn := range d.Unredact {
		lf := logged(fn, "unredact")
		if lf == nil {
			continue
		}
		if !lf.Redact && !lf.MaskURL {
			c.warnf(fn.Span, "remove it from unredact", "%s is not redacted", fn.Name)
		}
		lf.Redact, lf.MaskURL, lf.SecretQuery = false, false, nil
	}
}

// l7Header maps a protocol name of a ports statement to its header.
func l7Header(name string) (Header, bool) {
	for _, h := range L7Protocols {
		if h.String() == name {
			return h, true
		}
	}
	return 0, false
}
