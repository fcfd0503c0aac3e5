// Package cbpf turns a pcap-filter expression into an eBPF program: libpcap
// compiles it to classic BPF (`tcpdump -ddd`), and Translate converts that
// instruction by instruction the way the kernel converts classic BPF
// (net/core/filter.c, bpf_convert_filter): A in R0, X in R7, the context in
// R6, packet loads as LD_ABS/LD_IND, scratch memory M[] on the stack, 32-bit
// arithmetic, RET as the return code. It is the match-only libpcap baseline
// of hdrlog's benchmarks.
package cbpf

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// Insn is one classic BPF instruction (struct sock_filter).
type Insn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Classic BPF opcode fields (include/uapi/linux/filter.h, bpf_common.h).
const (
	clsLD, clsLDX, clsST, clsSTX, clsALU, clsJMP, clsRET, clsMISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07

	szW, szH, szB = 0x00, 0x08, 0x10

	mdIMM, mdABS, mdIND, mdMEM, mdLEN, mdMSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xa0

	srcK, srcX = 0x00, 0x08
	rvalA      = 0x10

	jmpJA, jmpJEQ, jmpJGT, jmpJGE, jmpJSET = 0x00, 0x10, 0x20, 0x30, 0x40

	miscTAX, miscTXA = 0x00, 0x80

	memWords = 16 // BPF_MEMWORDS
)

// Compile runs `tcpdump -ddd -y EN10MB expr` and parses its output.
func Compile(expr string) ([]Insn, error) {
	cmd := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tcpdump -ddd %q: %v: %s", expr, err, strings.TrimSpace(stderr.String()))
	}
	return Parse(out)
}

// Parse reads the decimal form printed by `tcpdump -ddd`: the instruction
// count, then one "code jt jf k" line per instruction.
func Parse(text []byte) ([]Insn, error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	var nums [][]uint64
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var row []uint64
		for _, s := range f {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("cbpf: bad number %q in %q", s, sc.Text())
			}
			row = append(row, v)
		}
		nums = append(nums, row)
	}
	if len(nums) == 0 || len(nums[0]) != 1 {
		return nil, fmt.Errorf("cbpf: no instruction count")
	}
	n := int(nums[0][0])
	if len(nums)-1 != n {
		return nil, fmt.Errorf("cbpf: %d instructions announced, %d given", n, len(nums)-1)
	}
	out := make([]Insn, n)
	for i, row := range nums[1:] {
		if len(row) != 4 {
			return nil, fmt.Errorf("cbpf: instruction %d has %d fields", i, len(row))
		}
		out[i] = Insn{Code: uint16(row[0]), Jt: uint8(row[1]), Jf: uint8(row[2]), K: uint32(row[3])}
	}
	return out, nil
}

// Mode says how packet loads are translated.
type Mode int

const (
	// LdAbs translates loads to eBPF LD_ABS/LD_IND, as the kernel's
	// conversion does (the verifier later turns each into a call of
	// bpf_skb_load_helper_*).
	LdAbs Mode = iota
	// Direct translates loads to direct packet access with a bounds check
	// against data_end, the best a classic-BPF program could get as eBPF.
	Direct
)

// Registers (the kernel's BPF_REG_A, BPF_REG_X, BPF_REG_CTX).
const (
	regA    = asm.R0
	regX    = asm.R7
	regCtx  = asm.R6
	regTmp  = asm.R8 // callee-saved: LD_ABS clobbers R1-R5
	regData = asm.R8 // Direct mode only (no helper calls there)
	regEnd  = asm.R9
)

// __sk_buff offsets.
const (
	skbLen     = 0
	skbData    = 76
	skbDataEnd = 80
)

// Translate converts a classic BPF program to eBPF for a SchedCLS (or socket
// filter) program.
func Translate(prog []Insn, mode Mode) (asm.Instructions, error) {
	var out asm.Instructions
	label := func(i int) string { return fmt.Sprintf(".c%d", i) }
	const ret0 = ".ret0"
	emit := func(ins ...asm.Instruction) { out = append(out, ins...) }

	emit(asm.Mov.Reg(regCtx, asm.R1))
	emit(asm.Mov.Imm32(regA, 0), asm.Mov.Imm32(regX, 0))
	if mode == Direct {
		emit(asm.LoadMem(regData, regCtx, skbData, asm.Word), asm.LoadMem(regEnd, regCtx, skbDataEnd, asm.Word))
	}
	tmp := regTmp
	if mode == Direct {
		tmp = asm.R2
	}
	sizeOf := func(code uint16) (asm.Size, int32, error) {
		switch code & 0x18 {
		case szW:
			return asm.Word, 4, nil
		case szH:
			return asm.Half, 2, nil
		case szB:
			return asm.Byte, 1, nil
		}
		return 0, 0, fmt.Errorf("bad size in %#x", code)
	}
	// load emits A = P[base + k : size] (base is X for LD_IND).
	load := func(code uint16, ind bool, k uint32) error {
		sz, n, err := sizeOf(code)
		if err != nil {
			return err
		}
		if mode == LdAbs {
			if ind {
				emit(asm.LoadInd(regA, regX, int32(k), sz))
			} else {
				emit(asm.LoadAbs(int32(k), sz))
			}
			return nil
		}
		if int64(k)+int64(n) > 0x7fff {
			return fmt.Errorf("load offset %d too large", k)
		}
		emit(asm.Mov.Reg(asm.R1, regData))
		if ind {
			emit(asm.Mov.Reg32(asm.R3, regX), asm.Add.Reg(asm.R1, asm.R3))
		}
		emit(asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Imm(asm.R3, int32(k)+n))
		emit(asm.JGT.Reg(asm.R3, regEnd, ret0))
		emit(asm.LoadMem(regA, asm.R1, int16(k), sz))
		if sz != asm.Byte {
			emit(asm.HostTo(asm.BE, regA, sz))
		}
		return nil
	}
	mem := func(k uint32) (int16, error) {
		if k >= memWords {
			return 0, fmt.Errorf("scratch memory index %d", k)
		}
		return int16(-(memWords - int(k)) * 4), nil
	}

	for i, in := range prog {
		start := len(out)
		k := in.K
		var err error
		switch in.Code & 0x07 {
		case clsLD:
			switch in.Code & 0xe0 {
			case mdIMM:
				emit(asm.Mov.Imm32(regA, int32(k)))
			case mdABS:
				err = load(in.Code, false, k)
			case mdIND:
				err = load(in.Code, true, k)
			case mdMEM:
				var off int16
				if off, err = mem(k); err == nil {
					emit(asm.LoadMem(regA, asm.R10, off, asm.Word))
				}
			case mdLEN:
				emit(asm.LoadMem(regA, regCtx, skbLen, asm.Word))
			default:
				err = fmt.Errorf("unsupported load mode")
			}
		case clsLDX:
			switch in.Code & 0xe0 {
			case mdIMM:
				emit(asm.Mov.Imm32(regX, int32(k)))
			case mdMEM:
				var off int16
				if off, err = mem(k); err == nil {
					emit(asm.LoadMem(regX, asm.R10, off, asm.Word))
				}
			case mdLEN:
				emit(asm.LoadMem(regX, regCtx, skbLen, asm.Word))
			case mdMSH:
				// X = 4 * (P[k:1] & 0xf), keeping A.
				emit(asm.Mov.Reg(tmp, regA))
				if err = load(szB, false, k); err == nil {
					emit(asm.And.Imm32(regA, 0xf), asm.LSh.Imm32(regA, 2))
					emit(asm.Mov.Reg(regX, regA), asm.Mov.Reg(regA, tmp))
				}
			default:
				err = fmt.Errorf("unsupported ldx mode")
			}
		case clsST, clsSTX:
			src := regA
			if in.Code&0x07 == clsSTX {
				src = regX
			}
			var off int16
			if off, err = mem(k); err == nil {
				emit(asm.StoreMem(asm.R10, off, src, asm.Word))
			}
		case clsALU:
			err = alu(in, emit, ret0)
		case clsJMP:
			err = jump(in, i, emit, label)
		case clsRET:
			switch in.Code & 0x18 {
			case srcK:
				emit(asm.Mov.Imm32(regA, int32(k)), asm.Return())
			case rvalA:
				emit(asm.Return())
			case srcX:
				emit(asm.Mov.Reg32(regA, regX), asm.Return())
			}
		case clsMISC:
			if in.Code&0xf8 == miscTXA {
				emit(asm.Mov.Reg32(regA, regX))
			} else {
				emit(asm.Mov.Reg32(regX, regA))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cbpf: instruction %d (code %#x k %d): %w", i, in.Code, k, err)
		}
		if len(out) > start {
			out[start] = out[start].WithSymbol(label(i))
		}
	}
	for _, ins := range out {
		if ins.Reference() == ret0 {
			emit(asm.Mov.Imm32(regA, 0).WithSymbol(ret0), asm.Return())
			break
		}
	}
	return out, nil
}

func alu(in Insn, emit func(...asm.Instruction), ret0 string) error {
	ops := map[uint16]asm.ALUOp{
		0x00: asm.Add, 0x10: asm.Sub, 0x20: asm.Mul, 0x30: asm.Div, 0x40: asm.Or,
		0x50: asm.And, 0x60: asm.LSh, 0x70: asm.RSh, 0x90: asm.Mod, 0xa0: asm.Xor,
	}
	op := in.Code & 0xf0
	if op == 0x80 { // NEG
		emit(asm.Neg.Imm32(regA, 0))
		return nil
	}
	o, ok := ops[op]
	if !ok {
		return fmt.Errorf("unsupported ALU op")
	}
	if in.Code&srcX != 0 {
		if o == asm.Div || o == asm.Mod {
			// Classic BPF returns 0 on division by zero.
			emit(asm.JEq.Imm32(regX, 0, ret0))
		}
		emit(o.Reg32(regA, regX))
		return nil
	}
	emit(o.Imm32(regA, int32(in.K)))
	return nil
}

func jump(in Insn, i int, emit func(...asm.Instruction), label func(int) string) error {
	if in.Code&0xf0 == jmpJA {
		emit(asm.Ja.Label(label(i + 1 + int(in.K))))
		return nil
	}
	ops := map[uint16]asm.JumpOp{jmpJEQ: asm.JEq, jmpJGT: asm.JGT, jmpJGE: asm.JGE, jmpJSET: asm.JSet}
	neg := map[uint16]asm.JumpOp{jmpJEQ: asm.JNE, jmpJGT: asm.JLE, jmpJGE: asm.JLT}
	o, ok := ops[in.Code&0xf0]
	if !ok {
		return fmt.Errorf("unsupported jump")
	}
	cond := func(op asm.JumpOp, target string) asm.Instruction {
		if in.Code&srcX != 0 {
			return op.Reg32(regA, regX, target)
		}
		return op.Imm32(regA, int32(in.K), target)
	}
	jt, jf := i+1+int(in.Jt), i+1+int(in.Jf)
	switch {
	case in.Jt == in.Jf:
		emit(asm.Ja.Label(label(jt)))
	case in.Jf == 0:
		emit(cond(o, label(jt)))
	case in.Jt == 0:
		if n, ok := neg[in.Code&0xf0]; ok {
			emit(cond(n, label(jf)))
		} else {
			emit(cond(o, label(jt)), asm.Ja.Label(label(jf)))
		}
	default:
		emit(cond(o, label(jt)), asm.Ja.Label(label(jf)))
	}
	return nil
}
