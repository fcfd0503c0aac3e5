package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/bpf"
	"github.com/hdrlog/hdrlog/rules"
)

// The calls on files and programs: openat's file name and flags, execve's
// file name and first arguments, copied at sys_enter (at execve's exit the
// caller's memory is the new program's) into SyscallArgsMap's value, then
// by the exit program into the record. A string is copied with
// bpf_probe_read_user_str: its length without the NUL, a "cut short" word
// (the buffer filled up, or more arguments followed), then its bytes, zero
// after the NUL (the value was zeroed), so that a string compares whole
// with a few 8-byte loads.

// fileEnter copies, at sys_enter, the file name, the flags and the
// arguments of call d into the value at vOff; tmpOff and argvOff are 8
// bytes of stack each. R8 is free; R9 is the arguments' running length.
func fileEnter(b *bpf.Builder, d *rules.SyscallDef, vOff, tmpOff, argvOff int16) {
	b.Emit(asm.LoadMem(asm.R8, asm.R6, rtpRegs, asm.DWord))
	arg := func(i int, to int16) {
		b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(to)), asm.Mov.Imm(asm.R2, 8))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, int32(ptRegsArg[i])))
		b.Emit(asm.FnProbeReadKernel.Call())
	}
	if d.FlagsArg >= 0 {
		b.Comment("%s: flags", d.Name)
		arg(d.FlagsArg, tmpOff)
		b.Emit(asm.LoadMem(asm.R1, asm.R10, tmpOff, asm.Word), asm.StoreMem(asm.R10, vOff+argFlags, asm.R1, asm.Word))
	}
	b.Comment("%s: the file name", d.Name)
	arg(d.PathArg, tmpOff)
	noPath := b.NewLabel("nopath")
	b.Emit(asm.LoadMem(asm.R3, asm.R10, tmpOff, asm.DWord), asm.JEq.Imm(asm.R3, 0, noPath))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(vOff+argPath+8)), asm.Mov.Imm(asm.R2, rules.PathMax))
	b.Emit(asm.FnProbeReadUserStr.Call(), asm.JSLE.Imm(asm.R0, 0, noPath))
	full := b.NewLabel("path.fits")
	b.Emit(asm.JNE.Imm(asm.R0, rules.PathMax, full), asm.StoreImm(asm.R10, vOff+argPath+4, 1, asm.Word))
	b.Label(full)
	b.Emit(asm.Sub.Imm(asm.R0, 1), asm.StoreMem(asm.R10, vOff+argPath, asm.R0, asm.Word))
	b.Label(noPath)
	if d.ArgvArg < 0 {
		return
	}
	b.Comment("%s: the first %d arguments after the program's name, each followed by a NUL", d.Name, rules.ArgsMaxCount)
	arg(d.ArgvArg, argvOff)
	done, cut := b.NewLabel("argv.done"), b.NewLabel("argv.cut")
	b.Emit(asm.Mov.Imm(asm.R9, 0))
	for i := 1; i <= rules.ArgsMaxCount+1; i++ {
		b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(tmpOff)), asm.Mov.Imm(asm.R2, 8))
		b.Emit(asm.LoadMem(asm.R3, asm.R10, argvOff, asm.DWord), asm.JEq.Imm(asm.R3, 0, done), asm.Add.Imm(asm.R3, int32(8*i)))
		b.Emit(asm.FnProbeReadUser.Call(), asm.JNE.Imm(asm.R0, 0, done))
		b.Emit(asm.LoadMem(asm.R3, asm.R10, tmpOff, asm.DWord), asm.JEq.Imm(asm.R3, 0, done))
		if i > rules.ArgsMaxCount {
			b.Emit(asm.Ja.Label(cut)) // one more argument than it keeps
			break
		}
		b.Emit(asm.JGT.Imm(asm.R9, rules.ArgsMax-1, cut))
		b.Emit(asm.Mov.Imm(asm.R2, rules.ArgsMax), asm.Sub.Reg(asm.R2, asm.R9))
		b.Emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(vOff+argArgs+8)), asm.Add.Reg(asm.R1, asm.R9))
		b.Emit(asm.FnProbeReadUserStr.Call(), asm.JSLE.Imm(asm.R0, 0, done))
		b.Emit(asm.Add.Reg(asm.R9, asm.R0))
	}
	b.Label(cut)
	b.Emit(asm.StoreImm(asm.R10, vOff+argArgs+4, 1, asm.Word))
	b.Label(done)
	b.Emit(asm.StoreMem(asm.R10, vOff+argArgs, asm.R9, asm.Word))
}

// writeFileText writes a string field of the calls on files: its length,
// flags (cut short when the kernel's copy was, or when longer than the
// field's maximum), and its first bytes.
func (g *gen) writeFileText(ref rules.FieldRef, fs FieldSlot) {
	b := g.b
	s := g.rec.slots[syscallKeyOf(ref)]
	at := s.off - g.delta
	for off := 0; off < fs.Size; off += 8 {
		b.Emit(storeDW(rEvent, int16(fs.Offset+off), 0))
	}
	cut, flags := b.NewLabel("str.cut"), b.NewLabel("str.flags")
	b.Emit(asm.LoadMem(asm.R2, g.base, at, asm.Word), asm.StoreMem(rEvent, int16(fs.Offset), asm.R2, asm.Half))
	b.Emit(asm.Mov.Imm(asm.R1, TextPresent|TextTruncated), asm.JGT.Imm(asm.R2, int32(fs.MaxLen), flags))
	b.Emit(asm.LoadMem(asm.R3, g.base, at+4, asm.Word), asm.JNE.Imm(asm.R3, 0, flags))
	b.Label(cut)
	b.Emit(asm.Mov.Imm(asm.R1, TextPresent))
	b.Label(flags)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset+2), asm.R1, asm.Byte))
	// Zero after the string: copying the first bytes copies it and zeros.
	n := min(fs.MaxLen, argStrSlot-8)
	g.copyRaw(g.base, at+8, rEvent, int16(fs.Offset+8), (n+7)&^7)
}

// fileText tests a file name against a string, whole: its length, then
// its bytes, 8 at a time (zeros after the NUL on both sides).
func (g *gen) fileText(p *rules.PredText, target string, want bool) {
	b := g.b
	s := g.rec.slots[syscallKeyOf(p.Ref)]
	at := s.off - g.delta
	miss := target
	if want {
		miss = b.NewLabel("str.miss")
	}
	lit := make([]byte, (len(p.Lit)+7)&^7)
	copy(lit, p.Lit)
	b.Emit(asm.LoadMem(asm.R1, g.base, at, asm.Word), asm.JNE.Imm(asm.R1, int32(len(p.Lit)), miss))
	for k := 0; k < len(lit); k += 8 {
		b.Emit(asm.LoadMem(asm.R1, g.base, at+8+int16(k), asm.DWord))
		b.Emit(asm.LoadImm(asm.R2, int64(ByteOrder.Uint64(lit[k:k+8])), asm.DWord))
		b.Emit(asm.JNE.Reg(asm.R1, asm.R2, miss))
	}
	if want {
		b.Emit(asm.Ja.Label(target))
		b.Label(miss)
	}
}
