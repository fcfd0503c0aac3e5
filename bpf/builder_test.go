package bpf

import (
	"testing"

	"github.com/cilium/ebpf/asm"
)

// TestBuilderRemove checks that removed instructions hand their labels to
// the instruction after them, whether or not it has a label of its own, and
// that jumps to any of those labels still land there; their comments go.
func TestBuilderRemove(t *testing.T) {
	b := NewBuilder()
	b.Emit(asm.JEq.Imm(asm.R1, 0, ".gone"))  // 0
	b.Emit(asm.JEq.Imm(asm.R1, 1, ".alias")) // 1
	b.Emit(asm.JEq.Imm(asm.R1, 2, ".kept"))  // 2
	b.Emit(asm.Mov.Imm(asm.R2, 7))           // 3
	b.Label(".gone")
	b.Label(".alias")
	b.Comment("spill")
	b.Emit(asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord))  // 4: removed
	b.Emit(asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord)) // 5: removed
	b.Label(".kept")
	b.Emit(asm.Mov.Imm(asm.R0, 0)) // 6
	b.Emit(asm.Return())
	b.Remove(4, 2)
	insns, err := b.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	if len(insns) != 6 {
		t.Fatalf("%d instructions, want 6:\n%v", len(insns), insns)
	}
	if insns[4].Symbol() != ".gone" || insns[4].Source() != nil {
		t.Errorf("instruction after the removed ones: symbol %q, comment %v; want .gone, none", insns[4].Symbol(), insns[4].Source())
	}
	for i := 0; i < 3; i++ {
		if insns[i].Reference() != ".gone" {
			t.Errorf("jump %d goes to %q, want .gone", i, insns[i].Reference())
		}
	}

	// The next instruction has no label: the first removed one moves there.
	b = NewBuilder()
	b.Emit(asm.JEq.Imm(asm.R1, 0, ".b"))
	b.Label(".a")
	b.Label(".b")
	b.Emit(asm.Mov.Imm(asm.R2, 1))
	b.Emit(asm.Mov.Imm(asm.R0, 0))
	b.Emit(asm.Return())
	b.Remove(1, 1)
	insns, err = b.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	if insns[1].Symbol() != ".a" || insns[0].Reference() != ".a" || b.Resolve(".b") != ".a" {
		t.Errorf("after removal: symbol %q, jump to %q, .b resolves to %q", insns[1].Symbol(), insns[0].Reference(), b.Resolve(".b"))
	}
}
