package rules

import (
	"strings"
	"testing"
)

// TestFieldsInsideHeaders: every field read from a header lies within the
// bytes the parser checks before it reads the header (the catalogue refuses
// to build otherwise, so this runs at every start-up too), and a field past
// them is caught with its name and the header's length.
func TestFieldsInsideHeaders(t *testing.T) {
	if err := checkHeaderFields(catalogue); err != nil {
		t.Fatal(err)
	}
	past := &Field{Name: "udp.past_end", Type: TypeUint, Bits: 16, Header: HdrUDP, Offset: 7, Size: 2}
	err := checkHeaderFields(append(Fields(), past))
	if err == nil || !strings.Contains(err.Error(), "udp.past_end: bytes 7..9 lie outside the 8 bytes that make a UDP header present") {
		t.Fatalf("a field past the UDP header: got %v", err)
	}
	noSize := &Field{Name: "ip.nothing", Type: TypeUint, Bits: 8, Header: HdrIPv4, Offset: 3}
	if err := checkHeaderFields([]*Field{noSize}); err == nil {
		t.Fatal("a raw field without a size passed")
	}
}

// TestHeaderTable checks the table's shape: parents come before their
// children (the compiler closes the parser's needs in one pass on it), every
// header a value leads to is reached by exactly one value per parent, and
// facts do not overlap.
func TestHeaderTable(t *testing.T) {
	seen := map[Header]bool{}
	facts := map[int]Header{}
	for _, d := range HeaderDefs() {
		for _, l := range d.Under {
			if !seen[l.Parent] && l.Parent != d.Header {
				t.Errorf("%s follows %s, which comes later in the table", d.Header, l.Parent)
			}
			if d.Len == LenL7 {
				continue
			}
			if h, ok := ChildFor(l.Parent, l.Value); !ok || h != d.Header {
				t.Errorf("%s value %#x leads to %v, want %s", l.Parent, l.Value, h, d.Header)
			}
		}
		seen[d.Header] = true
		for i := 0; i < max(d.Layers, 1); i++ {
			if other, dup := facts[d.Fact+i]; dup {
				t.Errorf("%s and %s share fact %d", d.Header, other, d.Fact+i)
			}
			facts[d.Fact+i] = d.Header
		}
		for name, f := range d.FieldFacts {
			fd, ok := LookupField(name)
			if !ok || fd.Header != d.Header {
				t.Errorf("%s: field fact for %s, not a field of the header", d.Header, name)
			}
			if other, dup := facts[f]; dup {
				t.Errorf("%s and %s share fact %d", name, other, f)
			}
			facts[f] = d.Header
		}
	}
	if len(seen) != int(NumHeaders) {
		t.Errorf("the table has %d headers, want %d", len(seen), NumHeaders)
	}
}
