package rules

import "fmt"

// Byte fields of variable length, after Wireshark: tcp.payload and
// udp.payload (FT_BYTES) and the frame's own bytes (the protocol frame,
// whose bytes Wireshark's filters read too). They take slices in every
// form (tcp.payload[0:4], [i-j], [i], [:n], [i:], negative starts),
// contains, == and != with a byte string or text, matches with the
// patterns hdrlog runs in the kernel, and len().

const (
	// PayloadWindow is how many bytes of a byte field the kernel reads:
	// a slice, ==, != or a mask that needs a byte past them is false (a
	// miss, never a false match), and contains searches them only. len()
	// and a bare slice are exact. The reference evaluator applies the
	// same bound.
	PayloadWindow = 2048
	// PayloadLogLen is how many bytes of a byte field an event carries
	// by default (maxlen changes it, up to MaxPayloadLog).
	PayloadLogLen = 64
	// MaxPayloadLog bounds maxlen on a byte field.
	MaxPayloadLog = MaxMaxLen
)

// IsBytes reports whether f is a byte field of variable length.
func IsBytes(f *Field) bool {
	return f.Type == TypeBytes || f.Header == HdrFrame && f.Type == TypeProto
}

// compareBytes types a comparison on a byte field or a slice of it.
func (c *checker) compareBytes(e *CompareExpr, f *Field) Pred {
	ref := FieldRef{Field: f, Layer: 1}
	fn := e.Field
	if !c.frameBytesHere(fn, f) {
		return &PredConst{}
	}
	switch {
	case fn.Func == "len":
		return c.compareLen(e, f, 0, false)
	case fn.Func != "":
		c.errorf(fn.FuncSpan, "lower() and upper() apply to string fields; matches ignores case by itself", "%s is %s; %s() does not apply", f.Name, aType(f.Type), fn.Func)
		return &PredConst{}
	}
	if _, ok := c.fieldOperand(e.Value); ok {
		c.errorf(e.Value.Span, "compare the field with a byte string, e.g. tcp.payload[0:4] == 16:03:01:00", "byte fields do not compare with other fields")
		return &PredConst{}
	}
	p := &PredSlice{Ref: ref, Start: 0, Len: SliceToEnd, Op: e.Op, Var: true}
	if fn.Slice != nil {
		p.Start, p.Len = fn.Slice.Start, fn.Slice.Len
	}
	if e.Mask != nil {
		return c.maskedBytes(e, p)
	}
	switch e.Op {
	case CmpEq, CmpNe, CmpContains:
	case CmpMatches:
		return c.matchBytes(e, p)
	default:
		c.errorf(e.OpSpan, "compare the bytes with ==, != or contains, or mask a slice: tcp.payload[0] & 0x80 == 0x80", "ordering of byte strings is not supported")
		return &PredConst{}
	}
	lit, ok := c.bytesLit(e.Value)
	if !ok {
		return &PredConst{}
	}
	if len(lit) > MaxTextLiteral {
		c.errorf(e.Value.Span, "compare a shorter part of it", "byte string of %d bytes; hdrlog compares at most %d in the kernel", len(lit), MaxTextLiteral)
		return &PredConst{}
	}
	p.Lit = lit
	if n := p.Len; n != SliceToEnd && (e.Op != CmpContains && len(lit) != n || e.Op == CmpContains && len(lit) > n) {
		// Byte strings of different lengths differ; a longer one is not
		// contained.
		c.warnf(e.Span, fmt.Sprintf("%s%s has %d bytes, %s has %d", fn.Name, fn.Slice, n, quoteLit(e.Value), len(lit)),
			"this comparison is always %v when the field is present", e.Op == CmpNe)
		if e.Op != CmpNe {
			return &PredConst{}
		}
		return &PredExists{Ref: ref}
	}
	return p
}

// maskedBytes types a masked slice of a byte field: an integer of at most
// 4 bytes.
func (c *checker) maskedBytes(e *CompareExpr, p *PredSlice) Pred {
	n, ok := c.varSliceInt(e.Field, e.Mask.Span)
	if !ok {
		return &PredConst{}
	}
	m, ok := c.byteInt(e.Mask, n, "mask")
	if !ok {
		return &PredConst{}
	}
	if e.Op == CmpContains || e.Op == CmpMatches {
		c.errorf(e.OpSpan, "compare the masked bytes with == or an ordering", "%s does not apply to a masked slice", e.Op)
		return &PredConst{}
	}
	v, ok := c.byteInt(e.Value, n, "value")
	if !ok {
		return &PredConst{}
	}
	p.Int, p.Mask, p.U = true, m, v
	return p
}

// varSliceInt checks that a masked slice of a byte field has a length of
// at most 4 bytes, known from the slice itself.
func (c *checker) varSliceInt(fn FieldName, span Span) (int, bool) {
	if fn.Slice == nil || fn.Slice.Len == SliceToEnd {
		c.errorf(span, "mask a slice of at most 4 bytes, e.g. tcp.payload[0] & 0x80", "a mask applies to a slice of %s of known length", fn.Name)
		return 0, false
	}
	return fn.Slice.Len, c.sliceInt(fn, fn.Slice.Len, span)
}

// matchBytes types matches on a byte field: the patterns hdrlog runs in
// the kernel (literal text, anchored or not), ignoring case by default, as
// Wireshark's.
func (c *checker) matchBytes(e *CompareExpr, p *PredSlice) Pred {
	if e.Field.Slice != nil {
		c.errorf(e.Field.Slice.Span, "match the whole field: tcp.payload matches \"^GET \"", "matches on a slice is not supported")
		return &PredConst{}
	}
	if e.Value.Kind != LitString {
		c.errorf(e.Value.Span, fmt.Sprintf("write the pattern in double quotes: %q", e.Value.Text), "matches takes a regular expression in quotes")
		return &PredConst{}
	}
	op, lit, fold, err := textPattern(e.Value.Text)
	if err != nil {
		c.errorf(e.Value.Span, `matches takes literal text, optionally anchored: "^GET " (starts with), "\r\n$" (ends with), "SSH-2.0" (anywhere); it ignores case, and (?-i) makes it match case exactly`,
			"unsupported regular expression %s: %v", quoteLit(e.Value), err)
		return &PredConst{}
	}
	if len(lit) > MaxTextLiteral {
		c.errorf(e.Value.Span, "match a shorter part of it", "pattern of %d bytes; hdrlog compares at most %d in the kernel", len(lit), MaxTextLiteral)
		return &PredConst{}
	}
	if lit == "" {
		// Every present value matches an empty pattern, but "^$": a
		// byte field is never empty.
		if op == TextEq {
			return &PredConst{}
		}
		return &PredExists{Ref: p.Ref}
	}
	p.Lit, p.Fold, p.Op = []byte(lit), fold, CmpEq
	switch op {
	case TextPrefix:
		p.Len = len(lit)
	case TextSuffix:
		p.Start, p.Len = -len(lit), len(lit)
	case TextContains:
		p.Op = CmpContains
	}
	return p
}

// testBytesSlice is a bare slice of a byte field, or a slice and a mask:
// true when the slice lies within the field, or when a bit of the mask is
// set in it.
func (c *checker) testBytesSlice(e *TestExpr, f *Field) Pred {
	if !c.frameBytesHere(e.Field, f) {
		return &PredConst{}
	}
	p := &PredSlice{Ref: FieldRef{Field: f, Layer: 1}, Start: e.Field.Slice.Start, Len: e.Field.Slice.Len, Var: true}
	if e.Mask == nil {
		p.Exists = true
		return p
	}
	n, ok := c.varSliceInt(e.Field, e.Mask.Span)
	if !ok {
		return &PredConst{}
	}
	m, ok := c.byteInt(e.Mask, n, "mask")
	if !ok {
		return &PredConst{}
	}
	p.Int, p.BitTest, p.Mask, p.Op = true, true, m, CmpNe
	return p
}

// varSliceString renders a slice of a byte field as written.
func (p *PredSlice) varSliceString() string {
	s := fmt.Sprintf("%s[%d:", p.Ref, p.Start)
	if p.Len != SliceToEnd {
		s += fmt.Sprint(p.Len)
	}
	s += "]"
	if p.Start == 0 && p.Len == SliceToEnd {
		s = p.Ref.String()
	}
	switch {
	case p.Exists:
		return s
	case p.BitTest:
		return fmt.Sprintf("%s & %#x", s, p.Mask)
	case p.Int && p.Mask != 0:
		return fmt.Sprintf("(%s & %#x) %s %#x", s, p.Mask, p.Op, p.U)
	case p.Fold:
		return fmt.Sprintf("%s %s %s (ignoring case)", s, p.Op, BytesString(p.Lit))
	}
	return fmt.Sprintf("%s %s %s", s, p.Op, BytesString(p.Lit))
}

// frameBytesHere refuses the frame's bytes at cgroup hooks, whose packets
// start at the IP header.
func (c *checker) frameBytesHere(fn FieldName, f *Field) bool {
	if f.Header == HdrFrame && c.hook.IsCgroup() {
		c.errorf(fn.Span, "test a payload (tcp.payload, udp.payload), or hook the rule at tc ingress or tc egress",
			"cgroup hooks see packets from the IP header on: the frame's bytes are not there")
		return false
	}
	return true
}
