package bpf

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf/asm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bpf -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("listing differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// A small program in the compiler's style: labels, comments, packet bounds
// check, ring-buffer reserve and submit, a per-CPU counter.
func TestListingGolden(t *testing.T) {
	b := NewBuilder()
	b.Comment("header parser")
	b.Emit(asm.Mov.Reg(asm.R6, asm.R1), asm.Mov.Imm(asm.R7, 1))
	b.Emit(asm.LoadMem(asm.R8, asm.R6, 76, asm.Word), asm.LoadMem(asm.R9, asm.R6, 80, asm.Word))
	b.Comment("eth: 14 bytes")
	b.Emit(asm.Mov.Reg(asm.R1, asm.R8), asm.Add.Imm(asm.R1, 14), asm.JGT.Reg(asm.R1, asm.R9, ".parse.done"))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, 12, asm.Half), asm.HostTo(asm.BE, asm.R2, asm.Half))
	b.Emit(asm.StoreMem(asm.R10, -54, asm.R2, asm.Half), asm.LoadMem(asm.R1, asm.R10, -54, asm.Half))
	b.Emit(asm.Or.Imm(asm.R7, 0x20), asm.And.Imm(asm.R1, 0xf0), asm.RSh.Imm(asm.R1, 4))
	b.Label(".parse.done")
	b.Comment("rule ssh: tcp.dstport == 22")
	b.Emit(asm.JNE.Imm(asm.R1, 0x40, ".rule.ssh.next"), asm.JSet.Imm(asm.R7, 1<<7, ".emit"))
	b.Emit(asm.JSLT.Imm(asm.R5, -1, ".rule.ssh.next"), asm.Ja.Label(".rule.ssh.next"))
	b.Label(".emit")
	b.Comment("rule ssh: reserve a 40-byte event")
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference("events"), asm.Mov.Imm(asm.R2, 40), asm.Mov.Imm(asm.R3, 0))
	b.Emit(asm.FnRingbufReserve.Call(), asm.JEq.Imm(asm.R0, 0, ".lost"), asm.Mov.Reg(asm.R9, asm.R0))
	b.Emit(asm.FnKtimeGetBootNs.Call(), asm.StoreMem(asm.R9, 0, asm.R0, asm.DWord))
	b.Emit(asm.StoreImm(asm.R9, 16, 3, asm.Word), asm.LoadImm(asm.R2, 0x1122334455, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R9), asm.Mov.Imm(asm.R2, 1), asm.FnRingbufSubmit.Call())
	b.Emit(asm.Ja.Label(".rule.ssh.next"))
	b.Label(".lost")
	b.Comment("rule ssh: ring buffer full, count the lost event")
	b.Emit(asm.StoreImm(asm.R10, -8, 0, asm.Word), asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, -8))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference("lost"), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, ".rule.ssh.next"), asm.Mov.Imm(asm.R1, 1), asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	b.Label(".rule.ssh.next")
	b.Comment("logging never changes traffic")
	b.Emit(asm.Add.Imm32(asm.R1, 3), asm.Mov.Imm(asm.R0, -1), asm.Return())
	insns, err := b.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	insns[0] = insns[0].WithSymbol("hdrlog_tc_in")
	golden(t, "listing.golden", Listing(insns))
}

func TestFormatInstruction(t *testing.T) {
	for _, tc := range []struct {
		ins  asm.Instruction
		want string
	}{
		{asm.LoadMem(asm.R1, asm.R10, -54, asm.Half), "r1 = *(u16 *)(r10 -54)"},
		{asm.LoadMemSX(asm.R1, asm.R2, 4, asm.Byte), "r1 = *(s8 *)(r2 +4)"},
		{asm.StoreImm(asm.R9, 28, 0, asm.Word), "*(u32 *)(r9 +28) = 0"},
		{asm.JNE.Imm(asm.R1, 0x40, ".parse.done"), "if r1 != 0x40 goto .parse.done"},
		{asm.JEq.Imm32(asm.R1, 3, "x"), "if w1 == 3 goto x"},
		{asm.JGT.Reg(asm.R1, asm.R9, "x"), "if r1 > r9 goto x"},
		{asm.FnRingbufReserve.Call(), "call ringbuf_reserve"},
		{asm.FnXdpGetBuffLen.Call(), "call xdp_get_buff_len"},
		{asm.FnSkbLoadBytes.Call(), "call skb_load_bytes"},
		{asm.LoadMapPtr(asm.R1, 0).WithReference("events"), "r1 = map[events]"},
		{asm.HostTo(asm.BE, asm.R1, asm.Half), "r1 = be16 r1"},
		{asm.BSwap(asm.R1, asm.Word), "r1 = bswap32 r1"},
		{asm.Mov.Imm32(asm.R2, 7), "w2 = 7"},
		{asm.And.Imm(asm.R1, 0x1fff), "r1 &= 0x1fff"},
		{asm.Add.Imm(asm.R3, 14), "r3 += 14"},
		{asm.Neg.Imm(asm.R3, 0), "r3 = -r3"},
		{asm.StoreXAdd(asm.R0, asm.R1, asm.DWord), "lock *(u64 *)(r0 +0) += r1"},
		{asm.LoadImm(asm.R2, 1<<40, asm.DWord), "r2 = 0x10000000000 ll"},
		{asm.Return(), "exit"},
		{asm.Call.Label("hdrlog_group0"), "call hdrlog_group0"},
		{asm.LongJump(".far"), "gotol .far"},
		{asm.Instruction{OpCode: asm.Ja.Op(asm.ImmSource), Offset: -3}, "goto -3"},
	} {
		if got := FormatInstruction(tc.ins); got != tc.want {
			t.Errorf("FormatInstruction(%v) = %q, want %q", tc.ins, got, tc.want)
		}
	}
}
