package compiler

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/asm"
)

// The limit's token bucket needs fetch-and-add and compare-and-exchange as
// the kernel defines them; a plain atomic add in their place gives every
// match a token (found so: cilium/ebpf v0.22 marshals them with imm 0).
func TestAtomicEncoding(t *testing.T) {
	for op, imm := range map[asm.AtomicOp]byte{asm.FetchAdd: 0x01, asm.CmpXchg: 0xf1} {
		var buf bytes.Buffer
		if _, err := atomicFetch(op, asm.R1, asm.R3).Marshal(&buf, binary.LittleEndian); err != nil {
			t.Fatal(err)
		}
		if got := buf.Bytes()[4]; got != imm || buf.Bytes()[0] != 0xdb {
			t.Errorf("%v marshals as % x, want opcode 0xdb, imm %#x", op, buf.Bytes(), imm)
		}
	}
}
