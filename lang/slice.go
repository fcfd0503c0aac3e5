package lang

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/rules"
)

// Wireshark's slice forms, as the text between the brackets: [i:n] n bytes
// from i, [i-j] i to j inclusive, [i] one byte, [:n] the first n, [i:] from
// i to the end; a negative i counts from the end.
var sliceForms = []struct {
	re *regexp.Regexp
	// mk returns start and length from the submatches.
	mk func(a, b int) (int, int, bool)
}{
	{regexp.MustCompile(`^(-?[0-9]+):([0-9]+)$`), func(a, b int) (int, int, bool) { return a, b, b > 0 }},
	{regexp.MustCompile(`^([0-9]+)-([0-9]+)$`), func(a, b int) (int, int, bool) { return a, b - a + 1, b >= a }},
	{regexp.MustCompile(`^(-?[0-9]+)$`), func(a, _ int) (int, int, bool) { return a, 1, true }},
	{regexp.MustCompile(`^:([0-9]+)$`), func(b, _ int) (int, int, bool) { return 0, b, b > 0 }},
	{regexp.MustCompile(`^(-?[0-9]+):$`), func(a, _ int) (int, int, bool) { return a, rules.SliceToEnd, true }},
}

// maxSliceIndex bounds the numbers of a slice (a frame is at most 64 KiB).
const maxSliceIndex = 65535

func (c *converter) slice(fn rules.FieldName, n *sliceNode) *rules.Slice {
	text := strings.Join(n.Parts, "")
	s := &rules.Slice{Text: text, Span: c.src.tokensSpan(n.Tokens)}
	for _, form := range sliceForms {
		m := form.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		var nums []int
		for _, t := range m[1:] {
			v, err := strconv.Atoi(t)
			if err != nil || v > maxSliceIndex || v < -maxSliceIndex {
				c.errorf(s.Span, "slice bounds are at most 65535", "slice [%s] is out of range", text)
				return s
			}
			nums = append(nums, v)
		}
		nums = append(nums, 0)
		start, length, ok := form.mk(nums[0], nums[1])
		if !ok {
			c.errorf(s.Span, "a slice takes at least one byte: [i:n] with n > 0, or [i-j] with j >= i", "empty slice [%s]", text)
			return s
		}
		s.Start, s.Len = start, length
		return s
	}
	hint := "write [i:n] (n bytes from i), [i-j] (i to j), [i] (one byte), [:n] or [i:]; a negative i counts from the end"
	if strings.HasPrefix(fn.Name, "http.header") {
		hint = `a header is named in quotes: http.header["X-Request-Id"]`
	}
	c.errorf(s.Span, hint, "invalid slice [%s]", text)
	return s
}

func (c *converter) errorf(span rules.Span, hint, format string, args ...any) {
	d := rules.Errorf(span, format, args...)
	d.Hint = hint
	c.diags = append(c.diags, d)
}
