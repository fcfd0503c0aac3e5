package runtime_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hdrlog/hdrlog/rules"
)

// Byte fields in the differential test: payloads that carry a marker
// around the edge of the window the kernel reads (rules.PayloadWindow),
// and tests of tcp.payload, udp.payload and frame in every form.

// genMark is the marker payloads carry, so that tests on it match often.
const genMark = "hdrlog"

// genMarkPayload returns a payload of filler with the marker somewhere:
// at its start or end, or across the window's edge.
func genMarkPayload(c *chooser) []byte {
	w := rules.PayloadWindow
	n := pick(c, 6+c.intn(60), w-40+c.intn(80), w+c.intn(1200))
	b := bytes.Repeat([]byte("GET /"), n/5+1)[:n]
	at := pick(c, 0, n-len(genMark), w-60-c.intn(8), w-len(genMark)-c.intn(3), w-len(genMark)+1+c.intn(4), c.intn(n))
	if at >= 0 && at+len(genMark) <= n {
		copy(b[at:], genMark)
	}
	return b
}

// genBytesLit returns bytes a test compares with: the marker or part of
// it, the filler, or random bytes; of n bytes when n > 0.
func genBytesLit(c *chooser, n int) []byte {
	src := pick(c, []byte(genMark), []byte(genMark), []byte(genMark), []byte("GET /GET /"), c.bytes(1+c.intn(3)), []byte{0, 0}, []byte("T /G"))
	if n <= 0 {
		return src
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = src[i%len(src)]
	}
	return out
}

func bytesLiteral(c *chooser, b []byte) *rules.Literal {
	if c.chance(1, 2) {
		return &rules.Literal{Kind: rules.LitString, Text: string(b)}
	}
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	text := strings.Join(parts, ":")
	if len(b) == 1 {
		text += ":"
	}
	return &rules.Literal{Kind: rules.LitColon, Text: text}
}

// genBytesExpr tests a byte field: its presence, len(), a slice in one of
// Wireshark's forms (bare, masked, compared, contains), the whole field
// (==, !=, contains) or matches.
func genBytesExpr(c *chooser, name rules.FieldName) rules.Expr {
	w := rules.PayloadWindow
	switch c.intn(12) {
	case 0:
		return &rules.TestExpr{Field: name}
	case 1:
		name.Func = "len"
		op, _ := genOp(c, &rules.Field{Type: rules.TypeUint})
		if op == rules.CmpAnyNe {
			op = rules.CmpNe
		}
		n := pick(c, 0, 6, 14, 60, w, w+1, c.intn(100), c.intn(3000))
		return &rules.CompareExpr{Field: name, Op: op, Value: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprint(n)}}
	case 2:
		pat := pick(c, genMark, "^GET /", "^hdrlog", "hdrlog$", "/$", "(?-i)HDRLOG", "HDRLOG", "^get /get /$", "t /g")
		return &rules.CompareExpr{Field: name, Op: rules.CmpMatches, Value: &rules.Literal{Kind: rules.LitString, Text: pat}}
	case 3, 4, 5:
		op := pick(c, rules.CmpEq, rules.CmpNe, rules.CmpContains, rules.CmpContains, rules.CmpContains)
		return &rules.CompareExpr{Field: name, Op: op, Value: bytesLiteral(c, genBytesLit(c, 0))}
	}
	start := pick(c, 0, 1, 2, 12, -1, -2, -6, -c.intn(10), w-60, w-len(genMark)-c.intn(4), w-c.intn(4), c.intn(w+100))
	n := 1 + c.intn(6)
	sl := &rules.Slice{Start: start, Len: n}
	switch c.intn(5) {
	case 0:
		sl.Text = fmt.Sprintf("%d:%d", start, n)
	case 1:
		sl.Text, n, sl.Len = fmt.Sprint(start), 1, 1
	case 2:
		start = max(start, 0)
		sl.Start, sl.Text = start, fmt.Sprintf("%d-%d", start, start+n-1)
	case 3:
		sl.Text, sl.Start = fmt.Sprintf(":%d", n), 0
	default:
		sl.Text, sl.Len, n = fmt.Sprintf("%d:", start), rules.SliceToEnd, 0
	}
	name.Slice = sl
	if n >= 1 && n <= 4 && c.chance(1, 3) {
		m := 1 + uint64(c.u32())%(uint64(1)<<(8*n)-1)
		mask := &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", m)}
		if c.chance(1, 2) {
			return &rules.TestExpr{Field: name, Mask: mask}
		}
		op, _ := genOp(c, &rules.Field{Type: rules.TypeUint})
		if op == rules.CmpAnyNe {
			op = rules.CmpNe
		}
		return &rules.CompareExpr{Field: name, Mask: mask, Op: op, Value: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", uint64(c.u32())&m)}}
	}
	if c.chance(1, 6) {
		return &rules.TestExpr{Field: name}
	}
	op := pick(c, rules.CmpEq, rules.CmpNe, rules.CmpContains)
	lit := genBytesLit(c, 0)
	if op != rules.CmpContains && n > 0 {
		lit = genBytesLit(c, n)
	}
	return &rules.CompareExpr{Field: name, Op: op, Value: bytesLiteral(c, lit)}
}
