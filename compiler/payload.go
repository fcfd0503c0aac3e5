package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Byte fields: tcp.payload, udp.payload and frame (rules/check_payload.go).
//
// The transport blocks of the parser note where the payload starts and how
// long the IP length fields say it is; at the parser's end, one block (the
// payload phase) clamps that to the frame, sets the payload's fact and
// copies the field's first rules.PayloadWindow bytes, with the load-bytes
// helper (the payload is mostly past the linear part at tc), into this
// CPU's value of the payload map. The frame's bytes are copied there too,
// with the outer VLAN tag the kernel moved to skb metadata put back where
// it was on the wire. Predicates read the map value; contains searches it
// in a bounded loop (bpf_loop). Rules that use no byte field emit none of
// this.
//
// A byte field's record slot:
//
//	tcp, udp: u32 payload offset from the frame's start (0: none), u32 length
//	frame:    u32 length

// PayloadMap is the per-CPU map holding the byte fields' windows, one value
// per hook.
const PayloadMap = "payload"

// Layout of a payload map value: the contains loop's state, then the
// transport payload's window and the frame's, each followed by slack for
// eight-byte loads past the window's end.
const (
	payPos   = 0  // u64: the next start the loop tries (value offset)
	payLim   = 8  // u64: the last start
	payRes   = 16 // u64: 1 when found
	payFill  = 24 // u32, u32: the bytes copied into the transport payload's window and the frame's, for payClear
	payTr    = 32 // the transport payload's window
	paySlack = 64
	payFr    = payTr + rules.PayloadWindow + paySlack // the frame's window
	paySize  = payFr + rules.PayloadWindow + paySlack
	payWin   = rules.PayloadWindow
	// payUnknown is the length the parser notes when the IP length fields
	// say nothing (TSO captures, jumbograms): the frame decides.
	payUnknown = 0x7fffffff
)

// Record slots of the byte fields.
var (
	payTCPKey   = slotKey{computed: "pay:tcp", size: 8, layer: 1}
	payUDPKey   = slotKey{computed: "pay:udp", size: 8, layer: 1}
	payFrameKey = slotKey{computed: "pay:frame", size: 4, layer: 1}
)

// payKeyOf is keyOf for byte fields.
func payKeyOf(f *rules.Field) slotKey {
	switch f.Header {
	case rules.HdrTCP:
		return payTCPKey
	case rules.HdrUDP:
		return payUDPKey
	}
	return payFrameKey
}

// paygen is what a hook's rules need of byte fields.
type paygen struct {
	tcp, udp, frame bool
	funcs           []payFunc
}

// payFunc is a contains callback, one per literal and case folding.
type payFunc struct {
	name string
	lit  string
	fold bool
}

// planPayload returns what the field occurrences need of byte fields; nil
// when none is used.
func planPayload(refs []rules.FieldRef) *paygen {
	var p paygen
	for _, ref := range refs {
		if !rules.IsBytes(ref.Field) {
			continue
		}
		switch ref.Field.Header {
		case rules.HdrTCP:
			p.tcp = true
		case rules.HdrUDP:
			p.udp = true
		default:
			p.frame = true
		}
	}
	if !p.tcp && !p.udp && !p.frame {
		return nil
	}
	return &p
}

// slotKeys are the record slots the byte fields take.
func (p *paygen) slotKeys() []slotKey {
	var keys []slotKey
	if p.tcp {
		keys = append(keys, payTCPKey)
	}
	if p.udp {
		keys = append(keys, payUDPKey)
	}
	if p.frame {
		keys = append(keys, payFrameKey)
	}
	return keys
}

// payUses reports whether h's payload is used, hence noted by its block.
func (g *gen) payUses(h rules.Header) bool {
	return g.pay != nil && (h == rules.HdrTCP && g.pay.tcp || h == rules.HdrUDP && g.pay.udp)
}

// payEnter notes, in the transport block of h (cursor in R3, the IP
// payload length in R5), where the payload starts and how long the length
// fields say it is. R1 and R4 are scratch.
func (g *gen) payEnter(h rules.Header) {
	if !g.payUses(h) {
		return
	}
	b := g.b
	s := g.rec.slots[payKeyOf(&rules.Field{Header: h})]
	skip, store := b.NewLabel("pay.none"), b.NewLabel("pay.len")
	if h == rules.HdrTCP {
		b.Comment("tcp.payload: offset; length by the IP length fields (the frame clamps it at the parser's end)")
		b.Emit(asm.LoadMem(asm.R4, rCursor, 12, asm.Byte), asm.RSh.Imm(asm.R4, 4), asm.LSh.Imm(asm.R4, 2))
		b.Emit(asm.JLT.Imm(asm.R4, tcpLen, skip))
		b.Comment("a reset's data is its cause, not payload (Wireshark's tcp.reset_cause)")
		b.Emit(asm.LoadMem(asm.R1, rCursor, 13, asm.Byte), asm.JSet.Imm(asm.R1, 0x04, skip))
		b.Emit(asm.Mov.Reg(asm.R1, rCursor), asm.Sub.Reg(asm.R1, rData), asm.Add.Reg(asm.R1, asm.R4))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
		b.Emit(asm.Mov.Imm(asm.R1, payUnknown), asm.JSLT.Imm(rPayload, 0, store))
		b.Emit(asm.Mov.Reg(asm.R1, rPayload), asm.Sub.Reg(asm.R1, asm.R4))
	} else {
		b.Comment("udp.payload: offset; length by udp.length within the IP length fields")
		b.Emit(asm.LoadMem(asm.R1, rCursor, 4, asm.Half), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.JLT.Imm(asm.R1, udpLen, skip), asm.Sub.Imm(asm.R1, udpLen))
		b.Emit(asm.Mov.Reg(asm.R4, rCursor), asm.Sub.Reg(asm.R4, rData), asm.Add.Imm(asm.R4, udpLen))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R4, asm.Word))
		b.Emit(asm.JSLT.Imm(rPayload, 0, store))
		b.Emit(asm.Mov.Reg(asm.R4, rPayload), asm.Sub.Imm(asm.R4, udpLen))
		b.Emit(asm.JSLE.Reg(asm.R1, asm.R4, store), asm.Mov.Reg(asm.R1, asm.R4))
	}
	b.Label(store)
	b.Emit(asm.StoreMem(asm.R10, s.off+4, asm.R1, asm.Word))
	b.Label(skip)
	// The fact is set at the parser's end, on every path from here.
	g.factsSet |= 1 << rules.FieldFact(payField(h), 1)
}

func payField(h rules.Header) *rules.Field {
	f, _ := rules.LookupField(h.String() + ".payload")
	return f
}

// payCopy is the payload phase, at the parser's end: it clamps the noted
// payload to the frame, sets its fact and copies the windows. R8 holds the
// map value, R9 the frame's length.
func (g *gen) payCopy() {
	if g.pay == nil {
		return
	}
	b, fl := g.b, g.fl
	g.markPhase(PhasePayload)
	done := b.NewLabel("pay.done")
	b.Comment("byte fields: their first %d bytes to the payload map", payWin)
	g.payLookup(asm.R8, done)
	if fl.CtxLen < 0 {
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg(asm.R9, asm.R0))
	} else {
		b.Emit(asm.LoadMem(asm.R9, rCtx, fl.CtxLen, asm.Word))
	}
	for _, h := range []rules.Header{rules.HdrTCP, rules.HdrUDP} {
		if !g.payUses(h) {
			continue
		}
		s := g.rec.slots[payKeyOf(&rules.Field{Header: h})]
		none := b.NewLabel("pay.absent")
		b.Comment("%s.payload: the length within the frame; the window", h)
		b.Emit(asm.LoadMem(asm.R2, asm.R10, s.off, asm.Word), asm.JEq.Imm(asm.R2, 0, none))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Sub.Reg(asm.R3, asm.R2), asm.JSLE.Imm(asm.R3, 0, none))
		b.Emit(asm.LoadMem(asm.R4, asm.R10, s.off+4, asm.Word), asm.LSh.Imm(asm.R4, 32), asm.ArSh.Imm(asm.R4, 32))
		fits := b.NewLabel("pay.fits")
		b.Emit(asm.JSLE.Reg(asm.R4, asm.R3, fits), asm.Mov.Reg(asm.R4, asm.R3))
		b.Label(fits)
		b.Emit(asm.JSLE.Imm(asm.R4, 0, none), asm.StoreMem(asm.R10, s.off+4, asm.R4, asm.Word))
		short := b.NewLabel("pay.short")
		b.Emit(asm.JLE.Imm(asm.R4, payWin, short), asm.Mov.Imm(asm.R4, payWin))
		b.Label(short)
		b.Emit(asm.StoreMem(asm.R8, payFill, asm.R4, asm.Word))
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, payTr), fl.LoadBytes.Call())
		b.Emit(asm.JNE.Imm(asm.R0, 0, none))
		g.setFact(rules.FieldFact(payField(h), 1))
		b.Label(none)
	}
	if g.pay.frame {
		g.payFrame(done)
	}
	b.Label(done)
	g.markPhase(PhaseParser)
}

// payFrame notes the frame's length and copies its window, the outer VLAN
// tag put back where the kernel took it from (tc), as a capture shows it.
func (g *gen) payFrame(done string) {
	b, fl := g.b, g.fl
	s := g.rec.slots[payFrameKey]
	b.Comment("frame: its length and window")
	b.Emit(asm.StoreMem(asm.R10, s.off, asm.R9, asm.Word))
	plain := b.NewLabel("frame.plain")
	if fl.VLANInMeta && !g.opts.TestRun {
		// A test run never moves a tag to metadata.
		b.Comment("a tag in skb metadata: 12 bytes, the tag, the rest")
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANPres, asm.Word), asm.JEq.Imm(asm.R1, 0, plain))
		b.Emit(asm.StoreImm(asm.R8, payFill+4, payWin, asm.Word))
		b.Emit(asm.JLT.Imm(asm.R9, 12, plain))
		b.Emit(asm.Mov.Reg(asm.R1, asm.R9), asm.Add.Imm(asm.R1, 4), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R2, 0), asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, payFr))
		b.Emit(asm.Mov.Imm(asm.R4, 12), fl.LoadBytes.Call())
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANProt, asm.Word), asm.StoreMem(asm.R8, payFr+12, asm.R1, asm.Half))
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANTCI, asm.Word), asm.HostTo(asm.BE, asm.R1, asm.Half), asm.StoreMem(asm.R8, payFr+14, asm.R1, asm.Half))
		short := b.NewLabel("frame.rest")
		b.Emit(asm.Mov.Reg(asm.R4, asm.R9), asm.Sub.Imm(asm.R4, 12), asm.JEq.Imm(asm.R4, 0, done))
		b.Emit(asm.JLE.Imm(asm.R4, payWin-16, short), asm.Mov.Imm(asm.R4, payWin-16))
		b.Label(short)
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R2, 12), asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, payFr+16), fl.LoadBytes.Call())
		b.Emit(asm.Ja.Label(done))
	}
	b.Label(plain)
	short := b.NewLabel("frame.short")
	b.Emit(asm.Mov.Reg(asm.R4, asm.R9), asm.JEq.Imm(asm.R4, 0, done))
	b.Emit(asm.JLE.Imm(asm.R4, payWin, short), asm.Mov.Imm(asm.R4, payWin))
	b.Label(short)
	b.Emit(asm.StoreMem(asm.R8, payFill+4, asm.R4, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.Mov.Imm(asm.R2, 0), asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, payFr), fl.LoadBytes.Call())
}

// payClear zeroes, at the program's end, the bytes the packet copied into
// the payload map's windows (issue 18): the map value outlives the program
// (a per-CPU array anyone with the map can read), and the windows hold the
// payload as it came, an Authorization header or a password included. A
// chain of 64-byte blocks, as far as the copy went.
func (g *gen) payClear() {
	if g.pay == nil {
		return
	}
	b := g.b
	done := b.NewLabel("pay.clear.done")
	b.Comment("clear the payload windows this packet filled: no payload byte outlives the program")
	g.payLookup(asm.R9, done)
	for w, region := range []int16{payTr, payFr} {
		if region == payFr && !g.pay.frame || region == payTr && !g.pay.tcp && !g.pay.udp {
			continue
		}
		next := b.NewLabel("pay.clear.next")
		at := int16(payFill + 4*w)
		b.Emit(asm.LoadMem(asm.R2, asm.R9, at, asm.Word), asm.JEq.Imm(asm.R2, 0, next))
		for k := int16(0); k < payWin; k += 64 {
			b.Emit(asm.JLE.Imm(asm.R2, int32(k), next+".z"))
			for j := int16(0); j < 64; j += 8 {
				b.Emit(storeDW(asm.R9, region+k+j, 0))
			}
		}
		b.Label(next + ".z")
		b.Emit(asm.StoreImm(asm.R9, at, 0, asm.Word))
		b.Label(next)
	}
	b.Label(done)
}

// payLookup sets dst to this CPU's payload map value of the hook, or jumps
// to fail. It clobbers R0-R5.
func (g *gen) payLookup(dst asm.Register, fail string) {
	b := g.b
	key := int16(keyOff)
	if g.inFunc {
		key = fnKeyOff
	}
	b.Emit(asm.StoreImm(asm.R10, key, int64(hookKey(g.hook)), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(PayloadMap), asm.FnMapLookupElem.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, fail))
	if dst != asm.R0 {
		b.Emit(asm.Mov.Reg(dst, asm.R0))
	}
}

// payRegion is where a byte field's window lies in the map value, and
// where its length is in its slot.
func payRegion(f *rules.Field) (region int32, lenAt int16) {
	if f.Header == rules.HdrFrame {
		return payFr, 0
	}
	return payTr, 4
}

// payLen loads the byte field's length into dst.
func (g *gen) payLen(f *rules.Field, dst asm.Register) {
	s := g.rec.slots[payKeyOf(f)]
	_, lenAt := payRegion(f)
	g.b.Emit(asm.LoadMem(dst, g.base, s.off-g.delta+lenAt, asm.Word))
}

// payRange sets R3 to the slice's start and R4 to its length, from the
// field's length in R2, or jumps to out when the slice does not lie within
// the field. R5 is scratch.
func (g *gen) payRange(p *rules.PredSlice, out string) {
	b := g.b
	g.payLen(p.Ref.Field, asm.R2)
	if p.Start >= 0 {
		b.Emit(asm.Mov.Imm(asm.R3, int32(p.Start)))
	} else {
		b.Emit(asm.Mov.Reg(asm.R3, asm.R2), asm.Add.Imm(asm.R3, int32(p.Start)), asm.JSLT.Imm(asm.R3, 0, out))
	}
	if p.Len == rules.SliceToEnd {
		b.Emit(asm.Mov.Reg(asm.R4, asm.R2), asm.Sub.Reg(asm.R4, asm.R3), asm.JSLE.Imm(asm.R4, 0, out))
		return
	}
	b.Emit(asm.Mov.Imm(asm.R4, int32(p.Len)))
	b.Emit(asm.Mov.Reg(asm.R5, asm.R3), asm.Add.Imm(asm.R5, int32(p.Len)), asm.JGT.Reg(asm.R5, asm.R2, out))
}

// bytesTest emits a test on a byte field's slice (rules.PredSlice with
// Var): it jumps to target when the outcome is want.
func (g *gen) bytesTest(p *rules.PredSlice, target string, want bool) {
	b := g.b
	skip := b.NewLabel("bytes")
	yes, no := target, skip
	if !want {
		yes, no = skip, target
	}
	g.jumpIfAbsent(FactOf(p.Ref), no)
	out := no
	if p.Op == rules.CmpNe && !p.Int && !p.Exists {
		out = yes // an empty slice differs from every byte string
	}
	g.payRange(p, out)
	if p.Exists {
		b.Emit(asm.Ja.Label(yes))
		b.Label(skip)
		return
	}
	n := int32(len(p.Lit))
	eq, ne := yes, no
	if p.Op == rules.CmpNe {
		eq, ne = no, yes
	}
	if !p.Int && p.Op != rules.CmpContains && p.Len == rules.SliceToEnd {
		b.Emit(asm.JNE.Imm(asm.R4, n, ne)) // lengths differ: so do the bytes
	}
	region, _ := payRegion(p.Ref.Field)
	if p.Op == rules.CmpContains && !p.Int {
		g.bytesContains(p, region, yes, no)
		b.Label(skip)
		return
	}
	b.Comment("past the first %d bytes: unknown, false", payWin)
	width := int32(p.Len)
	if p.Len == rules.SliceToEnd {
		width = n
	}
	b.Emit(asm.JGT.Imm(asm.R3, payWin-width, no))
	g.payLookup(asm.R9, no)
	g.payRange(p, no)
	b.Emit(asm.JGT.Imm(asm.R3, payWin-width, no))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R9), asm.Add.Imm(asm.R1, region), asm.Add.Reg(asm.R1, asm.R3))
	if p.Int {
		b.Emit(asm.Mov.Imm(asm.R2, 0))
		for i := range p.Len {
			b.Emit(asm.LoadMem(asm.R3, asm.R1, int16(i), asm.Byte), asm.LSh.Imm(asm.R2, 8), asm.Or.Reg(asm.R2, asm.R3))
		}
		if p.BitTest {
			b.Emit(asm.JSet.Imm32(asm.R2, int32(uint32(p.Mask)), yes))
		} else {
			if p.Mask != 0 {
				b.Emit(asm.And.Imm32(asm.R2, int32(uint32(p.Mask))))
			}
			b.Emit(jump32(p.Op).Imm32(asm.R2, int32(uint32(p.U)), yes))
		}
		b.Emit(asm.Ja.Label(no))
		b.Label(skip)
		return
	}
	g.matchBytes(asm.R1, 0, string(p.Lit), foldAll(p), ne)
	b.Emit(asm.Ja.Label(eq))
	b.Label(skip)
}

func foldAll(p *rules.PredSlice) []bool {
	if !p.Fold {
		return nil
	}
	f := make([]bool, len(p.Lit))
	for i := range f {
		f[i] = true
	}
	return f
}

// bytesContains searches the slice (R3 start, R4 length) within the window
// for the literal, in a bounded loop: starts from the slice's to the last
// one whose literal ends within both.
func (g *gen) bytesContains(p *rules.PredSlice, region int32, yes, no string) {
	b := g.b
	n := int32(len(p.Lit))
	b.Comment("contains: every start within the first %d bytes, in a bounded loop", payWin)
	b.Emit(asm.JGT.Imm(asm.R3, payWin-n, no))
	g.payLookup(asm.R9, no)
	g.payRange(p, no)
	b.Emit(asm.Add.Reg(asm.R4, asm.R3))
	lim := b.NewLabel("contains.lim")
	b.Emit(asm.JLE.Imm(asm.R4, payWin, lim), asm.Mov.Imm(asm.R4, payWin))
	b.Label(lim)
	b.Emit(asm.Sub.Imm(asm.R4, n), asm.JSGT.Reg(asm.R3, asm.R4, no))
	b.Emit(asm.Add.Imm(asm.R3, region), asm.Add.Imm(asm.R4, region))
	b.Emit(asm.StoreMem(asm.R9, payPos, asm.R3, asm.DWord), asm.StoreMem(asm.R9, payLim, asm.R4, asm.DWord), storeDW(asm.R9, payRes, 0))
	ctx := g.l7CtxOff()
	if g.inFunc {
		ctx = fnL7CtxOff
	}
	b.Emit(asm.StoreMem(asm.R10, ctx, asm.R9, asm.DWord))
	fn := g.payContainsFunc(p)
	b.Emit(asm.Mov.Reg(asm.R1, asm.R4), asm.Sub.Reg(asm.R1, asm.R3), asm.Add.Imm(asm.R1, 1))
	b.Emit(asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(fn))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(ctx)), asm.Mov.Imm(asm.R4, 0), asm.FnLoop.Call())
	b.Emit(asm.LoadMem(asm.R1, asm.R9, payRes, asm.DWord), asm.JNE.Imm(asm.R1, 0, yes), asm.Ja.Label(no))
}

// payContainsFunc returns the callback that tries the literal at payPos
// and sets payRes when it is there, shared by the tests of one literal.
func (g *gen) payContainsFunc(p *rules.PredSlice) string {
	lit := string(p.Lit)
	for _, f := range g.pay.funcs {
		if f.lit == lit && f.fold == p.Fold {
			return f.name
		}
	}
	name := fmt.Sprintf("hdrlog_pay_contains_%d", len(g.pay.funcs))
	g.pay.funcs = append(g.pay.funcs, payFunc{name: name, lit: lit, fold: p.Fold})
	return name
}

// payEmitFuncs emits the contains callbacks after the program: R1 =
// index, R2 = context, a stack slot holding the map value.
func (g *gen) payEmitFuncs() {
	if g.pay == nil {
		return
	}
	b := g.b
	saved := g.inFunc
	g.inFunc = true
	for _, f := range g.pay.funcs {
		g.markPhase(PhaseCallback)
		b.Label(f.name)
		b.Comment("contains callback %s(index, ctx): r9 = payload map value", f.name)
		b.Emit(asm.LoadMem(asm.R9, asm.R2, 0, asm.DWord))
		miss, stop := b.NewLabel("contains.miss"), b.NewLabel("contains.stop")
		n := int32(len(f.lit))
		b.Emit(asm.LoadMem(asm.R1, asm.R9, payPos, asm.DWord), asm.LoadMem(asm.R2, asm.R9, payLim, asm.DWord))
		b.Emit(asm.JGT.Reg(asm.R1, asm.R2, stop), asm.JGT.Imm(asm.R1, payFr+payWin-n, stop))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1))
		g.firstByteSkip(asm.R3, f.lit[0], f.fold)
		g.matchBytes(asm.R3, 0, f.lit, foldAll(&rules.PredSlice{Lit: []byte(f.lit), Fold: f.fold}), miss)
		b.Emit(storeDW(asm.R9, payRes, 1))
		g.ret(1)
		b.Label(miss)
		b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, payPos, asm.R1, asm.DWord))
		g.ret(0)
		b.Label(stop)
		g.ret(1)
	}
	g.inFunc = saved
}

// firstByteSkip, in a contains callback, skips eight starts at once when
// none of the eight bytes at ptr is the literal's first byte (in either
// case when fold): the word, XORed with that byte repeated, then has no
// zero byte, which (x - 0x01…01) & ^x & 0x80…80 tells. It is a filter
// only: a start it lets through is tried in full. R0, R4 and R5 are its
// scratch; R1 holds the start.
func (g *gen) firstByteSkip(ptr asm.Register, c byte, fold bool) {
	b := g.b
	const ones, highs = 0x0101010101010101, -0x7f7f7f7f7f7f7f80 // 0x8080808080808080
	next := b.NewLabel("contains.try")
	b.Emit(asm.LoadMem(asm.R0, ptr, 0, asm.DWord))
	if fold && isLetter(c) {
		b.Emit(asm.LoadImm(asm.R5, 0x2020202020202020, asm.DWord), asm.Or.Reg(asm.R0, asm.R5))
		c |= 0x20
	}
	b.Emit(asm.LoadImm(asm.R5, int64(uint64(c)*ones), asm.DWord), asm.Xor.Reg(asm.R0, asm.R5))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R0), asm.LoadImm(asm.R5, ones, asm.DWord), asm.Sub.Reg(asm.R4, asm.R5))
	b.Emit(asm.Xor.Imm(asm.R0, -1), asm.And.Reg(asm.R4, asm.R0), asm.LoadImm(asm.R5, highs, asm.DWord), asm.And.Reg(asm.R4, asm.R5))
	b.Emit(asm.JNE.Imm(asm.R4, 0, next))
	b.Emit(asm.Add.Imm(asm.R1, 8), asm.StoreMem(asm.R9, payPos, asm.R1, asm.DWord))
	g.ret(0)
	b.Label(next)
}

// payFuncNames are the callbacks' names (they need BTF when the program
// has global subprograms).
func (g *gen) payFuncNames() map[string]bool {
	out := map[string]bool{}
	if g.pay != nil {
		for _, f := range g.pay.funcs {
			out[f.name] = true
		}
	}
	return out
}

// payMaps adds the payload map when a program refers to it.
func (o *Output) payMaps(spec *ebpf.CollectionSpec) {
	for _, p := range o.Programs {
		for _, ins := range p.Insns {
			if ins.Reference() == PayloadMap {
				spec.Maps[PayloadMap] = &ebpf.MapSpec{Name: PayloadMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: paySize, MaxEntries: uint32(len(rules.Hooks))}
				return
			}
		}
	}
}

// writeBytes fills a byte field's slot of the event (RenderBytes): its
// length and flags, and at most MaxLen bytes of its window, eight at a
// time, the last word masked to the value's end.
func (g *gen) writeBytes(ref rules.FieldRef, fs FieldSlot) {
	b := g.b
	done := b.NewLabel("bytes.done")
	for off := 0; off < fs.Size; off += 8 {
		b.Emit(storeDW(rEvent, int16(fs.Offset+off), 0))
	}
	reg, off := g.presence()
	fact := FactOf(ref)
	b.Emit(asm.LoadMem(asm.R1, reg, off, asm.DWord))
	if fact >= immFacts {
		b.Emit(asm.RSh.Imm(asm.R1, int32(fact)))
	}
	b.Emit(asm.And.Imm(asm.R1, factMask(fact)), asm.JEq.Imm(asm.R1, 0, done))
	g.payLookup(asm.R1, done)
	region, _ := payRegion(ref.Field)
	b.Emit(asm.Add.Imm(asm.R1, region))
	g.payLen(ref.Field, asm.R2)
	b.Comment("length, flags (truncated when longer than %d bytes)", fs.MaxLen)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset+4), asm.R2, asm.Word))
	fits := b.NewLabel("bytes.fits")
	b.Emit(asm.Mov.Imm(asm.R3, TextPresent), asm.JLE.Imm(asm.R2, int32(fs.MaxLen), fits), asm.Or.Imm(asm.R3, TextTruncated), asm.Mov.Imm(asm.R2, int32(fs.MaxLen)))
	b.Label(fits)
	b.Emit(asm.StoreMem(rEvent, int16(fs.Offset+2), asm.R3, asm.Byte))
	b.Comment("copy min(length, %d) bytes, the last word masked", fs.MaxLen)
	for k := 0; k < (fs.MaxLen+7)/8; k++ {
		whole := b.NewLabel("bytes.word")
		dst := int16(fs.Offset + 8 + 8*k)
		b.Emit(asm.JLE.Imm(asm.R2, int32(8*k), done))
		b.Emit(asm.LoadMem(asm.R4, asm.R1, int16(8*k), asm.DWord), asm.JGE.Imm(asm.R2, int32(8*k+8), whole))
		b.Emit(asm.Mov.Reg(asm.R5, asm.R2), asm.Sub.Imm(asm.R5, int32(8*k)), asm.LSh.Imm(asm.R5, 3))
		b.Emit(asm.Mov.Imm(asm.R0, 1), asm.LSh.Reg(asm.R0, asm.R5), asm.Sub.Imm(asm.R0, 1), asm.And.Reg(asm.R4, asm.R0))
		b.Emit(asm.StoreMem(rEvent, dst, asm.R4, asm.DWord), asm.Ja.Label(done))
		b.Label(whole)
		b.Emit(asm.StoreMem(rEvent, dst, asm.R4, asm.DWord))
	}
	b.Label(done)
}
