package compiler

import (
	"reflect"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

// The l7 value's layout is computed; these are the properties the code
// generator relies on.
func TestL7Layout(t *testing.T) {
	st := reflect.TypeOf(l7Scratch{})
	for i := range st.NumField() {
		f := st.Field(i)
		if f.Offset%8 != 0 || f.Type.Size()%8 != 0 {
			t.Errorf("decoder state field %s at %d, %d bytes: not whole aligned words (8-byte loads and stores use it)", f.Name, f.Offset, f.Type.Size())
		}
	}
	if got := st.Field(st.NumField() - 1).Name; got != "Str" {
		t.Errorf("the string results are not last (%s is)", got)
	}
	// Strings lie in the window, the name buffer and the list buffer, all
	// below l7OffMax; reads of MaxMaxLen bytes and a word past any of them
	// stay inside the value.
	for name, end := range map[string]int{"window": l7Win + l7WinSize, "name": l7Name + l7NameSize, "cname": l7CName + l7NameSize, "list": l7List + l7ListSize} {
		if end > l7OffMax {
			t.Errorf("the %s buffer ends at %d, past l7OffMax %d", name, end, l7OffMax)
		}
	}
	if l7Size < l7OffMax+rules.MaxMaxLen+8 {
		t.Errorf("l7 value of %d bytes: a read of %d bytes from %d runs past it", l7Size, rules.MaxMaxLen+8, l7OffMax)
	}
	// A string set's key is built from up to maxTextKey bytes read a word
	// at a time from a string's offset (at most l7OffMax).
	if l7Size < l7OffMax+maxTextKey {
		t.Errorf("l7 value of %d bytes: a string set's read of %d bytes from %d runs past it", l7Size, maxTextKey, l7OffMax)
	}
	if l7State+int(st.Size()) > 1<<15-1 {
		t.Errorf("the decoder state ends at %d: past the reach of a 16-bit load offset", l7State+int(st.Size()))
	}
	if l7Held+16 != l7Win || l7HeldValue != 16+rules.TLSHoldBytes {
		t.Errorf("a held ClientHello (16-byte header, then %d bytes) is not the header followed by the window", rules.TLSHoldBytes)
	}
	// The DNS name is written a label at a time, eight bytes past each.
	if l7Name+l7NameSize+64 > l7CName || l7CName+l7NameSize+64 > l7List {
		t.Errorf("a DNS name's word-wise copy runs into the next buffer")
	}
}
