package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Masking URLs (rules/redact.go): a logged URL field (FieldSlot.MaskURL)
// is not copied into the event from the window but from a masked copy of
// its first min(length, MaxLen) bytes at l7MaskBuf, in which the userinfo
// of an absolute URL and the values of secret query parameters are
// rules.MaskByte. Two loops make it, each a byte per callback: the first
// finds the userinfo over the whole value (its '@' may lie past MaxLen),
// the second copies and masks, hashing each parameter's name (FNV-1a, 32
// bits, rules.QueryHashStep) and comparing the hash with the rule set's
// (rules.QueryHashes), compiled in. Matching still reads the window: rules
// test the real value. The state lives at l7Mask; the masked copy holds no
// secret, so it is not cleared.

const (
	fnMaskUser = "hdrlog_l7_mask_userinfo"
	fnMaskURL  = "hdrlog_l7_mask_url"
)

// hashBasis is FNV-1a's basis as a 32-bit immediate.
var hashBasis = func() int32 { b := uint32(rules.QueryHashBasis); return int32(b) }()

// Words of the masking state at l7Mask.
const (
	mSrc = int16(l7Mask) + 8*iota // the value's offset in the l7 value
	mLen                          // its length
	mN                            // bytes to copy: min(length, MaxLen)
	mSt                           // userinfo scan: state (0 scheme's first letter, 1 scheme, 2 ':', 3 ':/', 4 authority)
	mA                            // userinfo: [mA, mU) is masked
	mU                            //
	mQ                            // query state: 0 path, 1 name, 2 value, 3 secret value, 4 fragment
	mH                            // the hash of the name so far
)

// maskURL masks the value of string slot at (a record offset) for text
// slot fs into l7MaskBuf, then sets R1 to l7MaskBuf's address and R2 to
// the bytes to copy; it jumps to done when the value cannot be read.
func (g *gen) maskURL(at int16, fs FieldSlot, done string) {
	g.maskURLFrom(g.base, at, fs, done)
}

// maskURLFrom is maskURL with the string slot at base+at (base a register
// that no call clobbers: the record's, or R9 for the decoder state's).
func (g *gen) maskURLFrom(base asm.Register, at int16, fs FieldSlot, done string) {
	b := g.b
	ctx := g.l7CtxOff()
	if g.inFunc {
		ctx = fnL7CtxOff
	}
	b.Comment("mask the URL's userinfo and secret query values into the mask buffer")
	g.l7Lookup(asm.R4, done)
	b.Emit(asm.StoreMem(asm.R10, ctx, asm.R4, asm.DWord))
	b.Emit(asm.LoadMem(asm.R3, base, at, asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, done))
	b.Emit(asm.StoreMem(asm.R4, mSrc, asm.R3, asm.DWord))
	b.Emit(asm.LoadMem(asm.R2, base, at+2, asm.Half), asm.StoreMem(asm.R4, mLen, asm.R2, asm.DWord))
	fits := b.NewLabel("mask.n")
	b.Emit(asm.JLE.Imm(asm.R2, int32(fs.MaxLen), fits), asm.Mov.Imm(asm.R2, int32(fs.MaxLen)))
	b.Label(fits)
	b.Emit(asm.StoreMem(asm.R4, mN, asm.R2, asm.DWord))
	b.Emit(storeDW(asm.R4, mSt, 0), storeDW(asm.R4, mA, 0), storeDW(asm.R4, mU, 0), storeDW(asm.R4, mQ, 0))
	b.Emit(asm.Mov.Imm32(asm.R1, hashBasis), asm.StoreMem(asm.R4, mH, asm.R1, asm.DWord))
	g.l7Loop(l7WinSize, ctx, fnMaskUser, g.emitMaskUser)
	// The hashes are the rule set's: every masked field of the program
	// has the same (the first one emits the callback).
	hashes := fs.MaskQuery
	g.l7Loop(int32(fs.MaxLen), ctx, fnMaskURL, func() { g.emitMaskURL(hashes) })
	b.Emit(asm.LoadMem(asm.R1, asm.R10, ctx, asm.DWord), asm.LoadMem(asm.R2, asm.R1, mN, asm.DWord))
	b.Emit(asm.JGT.Imm(asm.R2, int32(fs.MaxLen), done), asm.Add.Imm(asm.R1, int32(l7MaskBuf)))
}

// maskByteAt loads into R3 the byte at index R1 of the value, or returns 1
// (stop) when it is past the value's length (R5 clobbered).
func (g *gen) maskByteAt(lenWord int16) {
	b := g.b
	stop := b.NewLabel("mask.stop")
	b.Emit(asm.LoadMem(asm.R5, asm.R9, lenWord, asm.DWord), asm.JGE.Reg(asm.R1, asm.R5, stop))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, mSrc, asm.DWord), asm.Add.Reg(asm.R3, asm.R1), asm.JGE.Imm(asm.R3, l7OffMax, stop))
	b.Emit(asm.Add.Reg(asm.R3, asm.R9), asm.LoadMem(asm.R3, asm.R3, 0, asm.Byte))
	ok := b.NewLabel("mask.byte")
	b.Emit(asm.Ja.Label(ok))
	b.Label(stop)
	g.ret(1)
	b.Label(ok)
}

// emitMaskUser: byte R1 of the value in the userinfo scan (rules.URLUserinfo).
func (g *gen) emitMaskUser() {
	b := g.b
	g.maskByteAt(mLen)
	stop, next := b.NewLabel("user.stop"), b.NewLabel("user.next")
	st1, st2, st3, st4 := b.NewLabel("user.scheme"), b.NewLabel("user.colon"), b.NewLabel("user.slash"), b.NewLabel("user.auth")
	b.Emit(asm.LoadMem(asm.R2, asm.R9, mSt, asm.DWord))
	b.Emit(asm.JEq.Imm(asm.R2, 1, st1), asm.JEq.Imm(asm.R2, 2, st2), asm.JEq.Imm(asm.R2, 3, st3), asm.JEq.Imm(asm.R2, 4, st4))
	// 0: the scheme's first letter.
	b.Emit(asm.Mov.Reg(asm.R4, asm.R3), asm.Or.Imm(asm.R4, 0x20), asm.Sub.Imm(asm.R4, 'a'), asm.JGT.Imm(asm.R4, 25, stop))
	b.Emit(storeDW(asm.R9, mSt, 1), asm.Ja.Label(next))
	// 1: the scheme's letters, digits, + - . up to ':'.
	b.Label(st1)
	b.Emit(asm.Mov.Reg(asm.R4, asm.R3), asm.Or.Imm(asm.R4, 0x20), asm.Sub.Imm(asm.R4, 'a'), asm.JLE.Imm(asm.R4, 25, next))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R3), asm.Sub.Imm(asm.R4, '0'), asm.JLE.Imm(asm.R4, 9, next))
	b.Emit(asm.JEq.Imm(asm.R3, '+', next), asm.JEq.Imm(asm.R3, '-', next), asm.JEq.Imm(asm.R3, '.', next))
	b.Emit(asm.JNE.Imm(asm.R3, ':', stop), storeDW(asm.R9, mSt, 2), asm.Ja.Label(next))
	// 2, 3: the two slashes; the authority starts after them.
	b.Label(st2)
	b.Emit(asm.JNE.Imm(asm.R3, '/', stop), storeDW(asm.R9, mSt, 3), asm.Ja.Label(next))
	b.Label(st3)
	b.Emit(asm.JNE.Imm(asm.R3, '/', stop), storeDW(asm.R9, mSt, 4))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, 1), asm.StoreMem(asm.R9, mA, asm.R4, asm.DWord), asm.StoreMem(asm.R9, mU, asm.R4, asm.DWord))
	b.Emit(asm.Ja.Label(next))
	// 4: the authority, up to '/', '?' or '#'; its last '@' ends the userinfo.
	b.Label(st4)
	b.Emit(asm.JEq.Imm(asm.R3, '/', stop), asm.JEq.Imm(asm.R3, '?', stop), asm.JEq.Imm(asm.R3, '#', stop))
	b.Emit(asm.JNE.Imm(asm.R3, '@', next), asm.StoreMem(asm.R9, mU, asm.R1, asm.DWord))
	b.Label(next)
	g.ret(0)
	b.Label(stop)
	g.ret(1)
}

// emitMaskURL: byte R1 of the value, copied to the mask buffer, masked in
// the userinfo and in a secret parameter's value (rules.MaskURL).
func (g *gen) emitMaskURL(hashes []uint32) {
	b := g.b
	g.maskByteAt(mN)
	stop := b.NewLabel("mask.stop")
	b.Emit(asm.JGT.Imm(asm.R1, rules.MaxMaxLen-1, stop))
	// R3 the byte, R4 what is written, R2 the query state, R5 the hash.
	b.Emit(asm.Mov.Reg(asm.R4, asm.R3))
	notUser := b.NewLabel("mask.notuser")
	b.Emit(asm.LoadMem(asm.R5, asm.R9, mA, asm.DWord), asm.JLT.Reg(asm.R1, asm.R5, notUser))
	b.Emit(asm.LoadMem(asm.R5, asm.R9, mU, asm.DWord), asm.JGE.Reg(asm.R1, asm.R5, notUser))
	b.Emit(asm.Mov.Imm(asm.R4, rules.MaskByte))
	b.Label(notUser)
	b.Emit(asm.LoadMem(asm.R2, asm.R9, mQ, asm.DWord), asm.LoadMem(asm.R5, asm.R9, mH, asm.DWord))
	write, frag, newName := b.NewLabel("mask.write"), b.NewLabel("mask.frag"), b.NewLabel("mask.newname")
	qName, qPlain, qSecret := b.NewLabel("mask.name"), b.NewLabel("mask.plain"), b.NewLabel("mask.secret")
	b.Emit(asm.JEq.Imm(asm.R2, 1, qName), asm.JEq.Imm(asm.R2, 2, qPlain), asm.JEq.Imm(asm.R2, 3, qSecret), asm.JEq.Imm(asm.R2, 4, write))
	// 0: the path, up to '?'.
	b.Emit(asm.JEq.Imm(asm.R3, '#', frag), asm.JEq.Imm(asm.R3, '?', newName), asm.Ja.Label(write))
	// 1: a parameter's name, hashed, up to '='.
	b.Label(qName)
	eq, reset := b.NewLabel("mask.eq"), b.NewLabel("mask.reset")
	b.Emit(asm.JEq.Imm(asm.R3, '=', eq), asm.JEq.Imm(asm.R3, '&', reset), asm.JEq.Imm(asm.R3, ';', reset), asm.JEq.Imm(asm.R3, '#', frag))
	b.Emit(asm.Mov.Reg(asm.R0, asm.R3))
	lower, dash := b.NewLabel("mask.lower"), b.NewLabel("mask.dash")
	b.Emit(asm.Mov.Reg(asm.R2, asm.R0), asm.Sub.Imm(asm.R2, 'A'), asm.JGT.Imm(asm.R2, 25, lower), asm.Or.Imm(asm.R0, 0x20))
	b.Label(lower)
	b.Emit(asm.JNE.Imm(asm.R0, '-', dash), asm.Mov.Imm(asm.R0, '_'))
	b.Label(dash)
	b.Emit(asm.Xor.Reg32(asm.R5, asm.R0), asm.Mul.Imm32(asm.R5, rules.QueryHashPrime))
	b.Emit(asm.StoreMem(asm.R9, mH, asm.R5, asm.DWord), asm.Ja.Label(write))
	b.Label(eq)
	secret := b.NewLabel("mask.issecret")
	for _, h := range hashes {
		b.Emit(asm.JEq.Imm32(asm.R5, int32(h), secret))
	}
	b.Emit(storeDW(asm.R9, mQ, 2), asm.Ja.Label(write))
	b.Label(secret)
	b.Emit(storeDW(asm.R9, mQ, 3), asm.Ja.Label(write))
	// 2: a value, up to '&' or ';'.
	b.Label(qPlain)
	b.Emit(asm.JEq.Imm(asm.R3, '&', newName), asm.JEq.Imm(asm.R3, ';', newName), asm.JEq.Imm(asm.R3, '#', frag), asm.Ja.Label(write))
	// 3: a secret value, masked up to '&'.
	b.Label(qSecret)
	b.Emit(asm.JEq.Imm(asm.R3, '&', newName), asm.JEq.Imm(asm.R3, '#', frag), asm.Mov.Imm(asm.R4, rules.MaskByte), asm.Ja.Label(write))
	b.Label(newName)
	b.Emit(storeDW(asm.R9, mQ, 1))
	b.Label(reset)
	b.Emit(asm.Mov.Imm32(asm.R5, hashBasis), asm.StoreMem(asm.R9, mH, asm.R5, asm.DWord), asm.Ja.Label(write))
	b.Label(frag)
	b.Emit(storeDW(asm.R9, mQ, 4))
	b.Label(write)
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R2, int16(l7MaskBuf), asm.R4, asm.Byte))
	g.ret(0)
	b.Label(stop)
	g.ret(1)
}
