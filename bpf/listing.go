package bpf

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/cilium/ebpf/asm"
)

// A listing prints a program the way bpftool and llvm-objdump do, in the
// C-like syntax of the kernel's BPF documentation:
//
//	.ipv4:
//	    ; ipv4: version 4, header length >= 20, 20 bytes present
//	  41: r1 = r3
//	  42: r1 += 20
//	  43: if r1 > r9 goto .parse.done
//
// Each instruction is preceded by its label, if it has one, and by the source
// comment the compiler attached to it, which names the rule and predicate it
// serves. The number is the raw instruction offset, the one the verifier's
// log uses; a 64-bit constant load takes two.

// WriteListing writes insns as an annotated listing.
func WriteListing(w io.Writer, insns asm.Instructions) error {
	bw := bufio.NewWriter(w)
	total := 0
	for _, ins := range insns {
		total += int(ins.Size() / asm.InstructionSize)
	}
	width := len(strconv.Itoa(total))
	off := 0
	for _, ins := range insns {
		if s := ins.Symbol(); s != "" {
			fmt.Fprintf(bw, "%s:\n", s)
		}
		if src := ins.Source(); src != nil {
			for _, l := range strings.Split(src.String(), "\n") {
				fmt.Fprintf(bw, "%*s  ; %s\n", width, "", l)
			}
		}
		fmt.Fprintf(bw, "%*d: %s\n", width, off, FormatInstruction(ins))
		off += int(ins.Size() / asm.InstructionSize)
	}
	return bw.Flush()
}

// Listing returns the listing of insns as a string.
func Listing(insns asm.Instructions) string {
	var b strings.Builder
	_ = WriteListing(&b, insns)
	return b.String()
}

var aluOps = map[asm.ALUOp]string{
	asm.Add: "+=", asm.Sub: "-=", asm.Mul: "*=", asm.Div: "/=", asm.SDiv: "s/=",
	asm.Or: "|=", asm.And: "&=", asm.LSh: "<<=", asm.RSh: ">>=", asm.Mod: "%=",
	asm.SMod: "s%=", asm.Xor: "^=", asm.Mov: "=", asm.ArSh: "s>>=",
}

var jumpOps = map[asm.JumpOp]string{
	asm.JEq: "==", asm.JNE: "!=", asm.JGT: ">", asm.JGE: ">=", asm.JLT: "<",
	asm.JLE: "<=", asm.JSGT: "s>", asm.JSGE: "s>=", asm.JSLT: "s<",
	asm.JSLE: "s<=", asm.JSet: "&",
}

var atomicOps = map[asm.AtomicOp]string{
	asm.AddAtomic: "+=", asm.AndAtomic: "&=", asm.OrAtomic: "|=", asm.XorAtomic: "^=",
}

var fetchOps = map[asm.AtomicOp]string{
	asm.FetchAdd: "add", asm.FetchAnd: "and", asm.FetchOr: "or", asm.FetchXor: "xor",
}

// FormatInstruction formats one instruction in C-like syntax:
// `r1 = *(u16 *)(r10 -54)`, `if r1 != 0x40 goto .parse.done`,
// `call ringbuf_reserve`, `r1 = map[events]`.
func FormatInstruction(ins asm.Instruction) string {
	op := ins.OpCode
	switch cls := op.Class(); cls {
	case asm.LdClass:
		return formatLoadImm(ins)
	case asm.LdXClass:
		sign := "u"
		if op.Mode() == asm.MemSXMode {
			sign = "s"
		}
		return fmt.Sprintf("%s = *(%s%d *)(%s %+d)", reg(ins.Dst, true), sign, 8*op.Size().Sizeof(), reg(ins.Src, true), ins.Offset)
	case asm.StClass:
		return fmt.Sprintf("*(u%d *)(%s %+d) = %s", 8*op.Size().Sizeof(), reg(ins.Dst, true), ins.Offset, imm(ins.Constant, false))
	case asm.StXClass:
		mem := fmt.Sprintf("*(u%d *)(%s %+d)", 8*op.Size().Sizeof(), reg(ins.Dst, true), ins.Offset)
		switch op.Mode() {
		case asm.MemMode:
			return fmt.Sprintf("%s = %s", mem, reg(ins.Src, true))
		case asm.AtomicMode:
			return formatAtomic(ins, mem)
		}
	case asm.ALUClass, asm.ALU64Class:
		return formatALU(ins)
	case asm.JumpClass, asm.Jump32Class:
		return formatJump(ins)
	}
	return fmt.Sprintf("%v", ins)
}

func formatLoadImm(ins asm.Instruction) string {
	op := ins.OpCode
	switch {
	case ins.IsLoadFromMap():
		name := ins.Reference()
		if name == "" {
			if m := ins.Map(); m != nil {
				name = fmt.Sprint(m)
			} else {
				name = "fd:" + strconv.Itoa(int(int32(ins.Constant)))
			}
		}
		if ins.Src == asm.PseudoMapValue {
			return fmt.Sprintf("%s = map_value[%s] + %d", reg(ins.Dst, true), name, uint64(ins.Constant)>>32)
		}
		return fmt.Sprintf("%s = map[%s]", reg(ins.Dst, true), name)
	case ins.IsLoadOfFunctionPointer():
		return fmt.Sprintf("%s = func[%s]", reg(ins.Dst, true), target(ins))
	case op.IsDWordLoad():
		return fmt.Sprintf("%s = %s ll", reg(ins.Dst, true), imm(ins.Constant, true))
	case op.Mode() == asm.AbsMode:
		return fmt.Sprintf("r0 = *(u%d *)skb[%d]", 8*op.Size().Sizeof(), ins.Constant)
	case op.Mode() == asm.IndMode:
		return fmt.Sprintf("r0 = *(u%d *)skb[%s + %d]", 8*op.Size().Sizeof(), reg(ins.Src, true), ins.Constant)
	}
	return fmt.Sprintf("%v", ins)
}

func formatAtomic(ins asm.Instruction, mem string) string {
	aop := ins.OpCode.AtomicOp()
	if s, ok := atomicOps[aop]; ok {
		return fmt.Sprintf("lock %s %s %s", mem, s, reg(ins.Src, true))
	}
	if s, ok := fetchOps[aop]; ok {
		return fmt.Sprintf("%s = atomic_fetch_%s((u%d *)(%s %+d), %s)", reg(ins.Src, true), s, 8*ins.OpCode.Size().Sizeof(), reg(ins.Dst, true), ins.Offset, reg(ins.Src, true))
	}
	switch aop {
	case asm.Xchg:
		return fmt.Sprintf("%s = xchg(%s, %s)", reg(ins.Src, true), mem, reg(ins.Src, true))
	case asm.CmpXchg:
		return fmt.Sprintf("r0 = cmpxchg(%s, r0, %s)", mem, reg(ins.Src, true))
	}
	return fmt.Sprintf("%v", ins)
}

// reg names a register as wide as the operation: r for 64 bits, w for 32.
func reg(r asm.Register, wide bool) string {
	if wide || r == asm.R10 {
		return "r" + strconv.Itoa(int(r))
	}
	return "w" + strconv.Itoa(int(r))
}

func formatALU(ins asm.Instruction) string {
	op := ins.OpCode
	wide := op.Class() == asm.ALU64Class
	dst := reg(ins.Dst, wide)
	aop := op.ALUOp()
	switch aop {
	case asm.Swap:
		if !wide {
			e := "le"
			if op.Endianness() == asm.BE {
				e = "be"
			}
			return fmt.Sprintf("%s = %s%d %s", reg(ins.Dst, true), e, ins.Constant, reg(ins.Dst, true))
		}
		return fmt.Sprintf("%s = bswap%d %s", reg(ins.Dst, true), ins.Constant, reg(ins.Dst, true))
	case asm.Neg:
		return fmt.Sprintf("%s = -%s", dst, dst)
	case asm.MovSX8, asm.MovSX16, asm.MovSX32:
		bits := map[asm.ALUOp]int{asm.MovSX8: 8, asm.MovSX16: 16, asm.MovSX32: 32}[aop]
		return fmt.Sprintf("%s = (s%d)%s", dst, bits, reg(ins.Src, wide))
	}
	sym, ok := aluOps[aop]
	if !ok {
		return fmt.Sprintf("%v", ins)
	}
	src := reg(ins.Src, wide)
	if op.Source() == asm.ImmSource {
		// Masks read best in hex, amounts and offsets in decimal.
		src = imm(ins.Constant, aop == asm.And || aop == asm.Or || aop == asm.Xor)
	}
	return fmt.Sprintf("%s %s %s", dst, sym, src)
}

func formatJump(ins asm.Instruction) string {
	op := ins.OpCode
	wide := op.Class() == asm.JumpClass
	switch jop := op.JumpOp(); jop {
	case asm.Exit:
		return "exit"
	case asm.Call:
		switch {
		case ins.IsFunctionCall():
			return "call " + target(ins)
		case ins.IsKfuncCall():
			if ref := ins.Reference(); ref != "" {
				return "call " + ref
			}
			return fmt.Sprintf("call kfunc#%d", ins.Constant)
		}
		return "call " + helperName(asm.BuiltinFunc(ins.Constant))
	case asm.Ja:
		if !wide {
			if ref := ins.Reference(); ref != "" {
				return "gotol " + ref
			}
			return fmt.Sprintf("gotol %+d", ins.Constant)
		}
		return "goto " + target(ins)
	case asm.JCOND:
		return "may_goto " + target(ins)
	default:
		sym, ok := jumpOps[jop]
		if !ok {
			break
		}
		src := reg(ins.Src, wide)
		if op.Source() == asm.ImmSource {
			src = imm(ins.Constant, true)
		}
		return fmt.Sprintf("if %s %s %s goto %s", reg(ins.Dst, wide), sym, src, target(ins))
	}
	return fmt.Sprintf("%v", ins)
}

// target is a jump's label, or its relative offset when it has none.
func target(ins asm.Instruction) string {
	if ref := ins.Reference(); ref != "" {
		return ref
	}
	if ins.IsFunctionReference() {
		return fmt.Sprintf("pc%+d", ins.Constant)
	}
	return fmt.Sprintf("%+d", ins.Offset)
}

// imm formats an immediate: in hex when asked and the value is 10 or more,
// otherwise in decimal.
func imm(v int64, hex bool) string {
	if hex && v >= 10 {
		return "0x" + strconv.FormatInt(v, 16)
	}
	return strconv.FormatInt(v, 10)
}

// helperName turns FnRingbufReserve into ringbuf_reserve, the helper's name
// without its bpf_ prefix, as bpftool prints it.
func helperName(fn asm.BuiltinFunc) string {
	s := fn.String()
	if !strings.HasPrefix(s, "Fn") {
		return fmt.Sprintf("helper#%d", int32(fn))
	}
	var b strings.Builder
	rs := []rune(strings.TrimPrefix(s, "Fn"))
	for i, r := range rs {
		if unicode.IsUpper(r) {
			// A new word starts at an upper-case letter that follows a
			// lower-case one or a digit, or that starts a word after an
			// acronym ("SkbLoadBytes", "GetCurrentPidTgid").
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
