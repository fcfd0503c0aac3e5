package rules

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Byte-level tests, after Wireshark: slices of address fields
// (eth.src[0:3] == 00:aa:00, ipv6.dst[14:2] == 99:99, eth.dst[0] & 1),
// byte-string literals (16:03:01:00, aa.bb.ff, a single byte 153 or 99:),
// and len().

// byteSize is the size in bytes of the fields a slice applies to (0: none).
func byteSize(f *Field) int {
	switch f.Type {
	case TypeMAC:
		return 6
	case TypeIPv4:
		return 4
	case TypeIPv6:
		return 16
	}
	return 0
}

// resolveSlice turns a slice of a fixed-size field into absolute bounds;
// ok is false (after an error) when the field takes no slice. in is false
// when the slice lies past the field's end: Wireshark then has no value,
// and every test is false.
func (c *checker) resolveSlice(fn FieldName, f *Field) (start, n int, in, ok bool) {
	size := byteSize(f)
	if size == 0 {
		c.errorf(fn.Slice.Span, "slices apply to MAC and IP addresses (eth.src[0:3], ipv6.dst[14:2])", "%s is %s and takes no slice", f.Name, aType(f.Type))
		return 0, 0, false, false
	}
	s := fn.Slice
	start, n = s.Start, s.Len
	if start < 0 {
		start += size
	}
	if n == SliceToEnd {
		n = size - start
	}
	if start < 0 || n <= 0 || start+n > size {
		c.warnf(fn.Slice.Span, fmt.Sprintf("%s has %d bytes", f.Name, size), "%s%s lies past the end of the field: this test is always false", fn.Name, s)
		return 0, 0, false, true
	}
	return start, n, true, true
}

// compareSlice types a comparison of a slice: a byte string (==, !=,
// contains), or with a mask an integer.
func (c *checker) compareSlice(e *CompareExpr, f *Field, layer int, all bool) Pred {
	start, n, in, ok := c.resolveSlice(e.Field, f)
	if !ok {
		return &PredConst{}
	}
	p := &PredSlice{Start: start, Len: n, Op: e.Op}
	if e.Mask != nil {
		if !c.sliceInt(e.Field, n, e.Mask.Span) {
			return &PredConst{}
		}
		m, ok := c.byteInt(e.Mask, n, "mask")
		if !ok {
			return &PredConst{}
		}
		v, ok := c.byteInt(e.Value, n, "value")
		if !ok {
			return &PredConst{}
		}
		if e.Op == CmpContains || e.Op == CmpMatches {
			c.errorf(e.OpSpan, "compare the masked bytes with == or an ordering", "%s does not apply to a masked slice", e.Op)
			return &PredConst{}
		}
		p.Int, p.Mask, p.U = true, m, v
	} else {
		switch e.Op {
		case CmpEq, CmpNe, CmpContains:
		case CmpMatches:
			c.errorf(e.OpSpan, "compare the bytes with ==, != or contains", "matches applies to strings; %s%s is a byte string", e.Field.Name, e.Field.Slice)
			return &PredConst{}
		default:
			c.errorf(e.OpSpan, "compare the bytes with ==, != or contains, or mask them: eth.dst[0] & 0x01 == 1", "ordering of byte strings is not supported")
			return &PredConst{}
		}
		lit, ok := c.bytesLit(e.Value)
		if !ok {
			return &PredConst{}
		}
		p.Lit = lit
	}
	if !in {
		return &PredConst{}
	}
	if !p.Int && len(p.Lit) != n && p.Op != CmpContains || p.Op == CmpContains && len(p.Lit) > n {
		// Byte strings of different lengths differ; a longer one is not
		// contained.
		c.warnf(e.Span, fmt.Sprintf("%s%s has %d bytes, %s has %d", e.Field.Name, e.Field.Slice, n, quoteLit(e.Value), len(p.Lit)),
			"this comparison is always %v when the field is present", p.Op == CmpNe)
		if p.Op != CmpNe {
			return &PredConst{}
		}
		return &PredExists{Ref: occurrences(f, layer)[0]}
	}
	mk := func(r FieldRef) Pred { q := *p; q.Ref = r; return &q }
	if all {
		return allOf(f, occurrences(f, layer), mk)
	}
	return anyOf(occurrences(f, layer), mk)
}

// testSlice is a bare slice: true when the field has those bytes (always,
// for a fixed-size field that is present), or with a mask, when a bit of
// the mask is set.
func (c *checker) testSlice(e *TestExpr, f *Field, layer int) Pred {
	start, n, in, ok := c.resolveSlice(e.Field, f)
	if !ok {
		return &PredConst{}
	}
	p := &PredSlice{Start: start, Len: n, Op: CmpNe, Int: true}
	if e.Mask != nil {
		if !c.sliceInt(e.Field, n, e.Mask.Span) {
			return &PredConst{}
		}
		m, ok := c.byteInt(e.Mask, n, "mask")
		if !ok {
			return &PredConst{}
		}
		p.BitTest, p.Mask = true, m
	}
	if !in {
		return &PredConst{}
	}
	if !p.BitTest {
		return &PredExists{Ref: occurrences(f, layer)[0]}
	}
	return anyOf(occurrences(f, layer), func(r FieldRef) Pred { q := *p; q.Ref = r; return &q })
}

func (c *checker) sliceInt(fn FieldName, n int, span Span) bool {
	if n > 4 {
		c.errorf(span, "mask at most 4 bytes, e.g. eth.dst[0] & 0x01", "%s%s is %d bytes; a mask applies to at most 4", fn.Name, fn.Slice, n)
		return false
	}
	return true
}

// byteInt reads a number that an n-byte slice, as an integer, is masked or
// compared with.
func (c *checker) byteInt(lit *Literal, n int, what string) (uint64, bool) {
	if lit.Kind != LitNumber {
		c.errorf(lit.Span, "write a number, e.g. 0x01", "a masked slice compares with a number; %s is not one", quoteLit(lit))
		return 0, false
	}
	u, err := strconv.ParseUint(lit.Text, 0, 64)
	if err != nil {
		c.errorf(lit.Span, "write a decimal or 0x-prefixed hexadecimal number", "invalid number %s", lit.Text)
		return 0, false
	}
	if max := uint64(1)<<(8*n) - 1; u > max {
		c.errorf(lit.Span, fmt.Sprintf("%d bytes hold values up to %#x", n, max), "%s %s does not fit in %d bytes", what, lit.Text, n)
		return 0, false
	}
	return u, true
}

// bytesLit reads a byte string: hex bytes separated by ':', '.' or '-'
// (16:03:01:00, aa.bb.ff, a trailing ':' for one byte: 99:), one byte
// written as a number (153, 0x99; two digits read as hex, as Wireshark's
// byte strings: 11 is 0x11), or a quoted string's bytes.
func (c *checker) bytesLit(lit *Literal) ([]byte, bool) {
	const hint = `write bytes as hex pairs, e.g. 16:03:01:00 or aa.bb.ff, one byte as 0x99 or 99:, or text in quotes: "SSH-2.0"`
	if lit.Kind == LitString {
		if len(lit.Text) == 0 || len(lit.Text) > MaxTextLiteral {
			c.errorf(lit.Span, hint, "a byte string holds 1 to %d bytes", MaxTextLiteral)
			return nil, false
		}
		return []byte(lit.Text), true
	}
	text := lit.Text
	if lit.Kind == LitNumber && !(len(text) == 2 && isHexText(text)) {
		u, err := strconv.ParseUint(text, 0, 64)
		if err != nil || u > 0xff {
			c.errorf(lit.Span, hint, "%s is not a byte (0 to 255)", text)
			return nil, false
		}
		return []byte{byte(u)}, true
	}
	text = strings.TrimSuffix(text, ":")
	parts := strings.FieldsFunc(text, func(r rune) bool { return r == ':' || r == '.' || r == '-' })
	var out []byte
	for _, part := range parts {
		if len(part) == 1 {
			part = "0" + part
		}
		b, err := hex.DecodeString(part)
		if err != nil || len(b) != 1 {
			c.errorf(lit.Span, hint, "%s is not a byte string", quoteLit(lit))
			return nil, false
		}
		out = append(out, b[0])
	}
	if len(out) == 0 || strings.Contains(text, "::") {
		c.errorf(lit.Span, hint, "%s is not a byte string", quoteLit(lit))
		return nil, false
	}
	return out, true
}

func isHexText(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// compareLen types len(field) Op N.
func (c *checker) compareLen(e *CompareExpr, f *Field, layer int, all bool) Pred {
	if !c.lenField(e.Field, f) {
		return &PredConst{}
	}
	switch {
	case e.Mask != nil:
		c.errorf(e.Mask.Span, "compare the length itself", "len() takes no mask")
		return &PredConst{}
	case e.Op == CmpContains || e.Op == CmpMatches:
		c.errorf(e.OpSpan, "compare a length with ==, !=, <, <=, > or >=", "len() is an integer; %s does not apply", e.Op)
		return &PredConst{}
	}
	lenField := &Field{Name: "len(" + f.Name + ")", Type: TypeUint, Bits: 16}
	n, ok := c.uint(e.Value, lenField, "value")
	if !ok {
		return &PredConst{}
	}
	if size := byteSize(f); size > 0 {
		// An address has its type's length.
		if !cmpOrder(uint64(size), e.Op, n) {
			return &PredConst{}
		}
		return &PredExists{Ref: occurrences(f, layer)[0]}
	}
	mk := func(r FieldRef) Pred { return &PredLen{Ref: r, Op: e.Op, N: n} }
	if all {
		return allOf(f, occurrences(f, layer), mk)
	}
	return anyOf(occurrences(f, layer), mk)
}

// lenField reports whether len() applies to f: strings and byte-like
// fields.
func (c *checker) lenField(fn FieldName, f *Field) bool {
	if fn.Slice != nil {
		c.errorf(fn.Slice.Span, "take the length of the field: len(eth.src)", "len() of a slice is its length; it is not supported")
		return false
	}
	if f.Type != TypeString && byteSize(f) == 0 && !IsBytes(f) {
		c.errorf(fn.FuncSpan, "len() applies to strings, payloads, frame and MAC and IP addresses", "%s is %s; len() does not apply", f.Name, aType(f.Type))
		return false
	}
	return true
}

func (p *PredSlice) String() string {
	if p.Var {
		return p.varSliceString()
	}
	s := fmt.Sprintf("%s[%d:%d]", p.Ref, p.Start, p.Len)
	switch {
	case p.BitTest:
		return fmt.Sprintf("%s & %#x", s, p.Mask)
	case p.Int && p.Mask != 0:
		return fmt.Sprintf("(%s & %#x) %s %#x", s, p.Mask, p.Op, p.U)
	case p.Int:
		return fmt.Sprintf("%s %s %#x", s, p.Op, p.U)
	}
	return fmt.Sprintf("%s %s %s", s, p.Op, BytesString(p.Lit))
}

// BytesString renders bytes as Wireshark does: hex pairs joined by ':'.
func BytesString(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// cmpOrder applies an integer comparison.
func cmpOrder(a uint64, op CmpOp, b uint64) bool {
	switch op {
	case CmpEq:
		return a == b
	case CmpNe:
		return a != b
	case CmpLt:
		return a < b
	case CmpLe:
		return a <= b
	case CmpGt:
		return a > b
	case CmpGe:
		return a >= b
	}
	return false
}
