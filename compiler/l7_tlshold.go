package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Holding a ClientHello back for the flow's next segment (see l7_tls.go).

// tlsFlowKey writes the flow's key to sKey and its bucket to sHash, or
// jumps to fail: hook, family, addresses (from the network header, whose
// offset the parser saved) and ports.
func (g *gen) tlsFlowKey(fail string) {
	b, fl := g.b, g.fl
	b.Comment("TLS flow key: hook, family, addresses, ports; bucket = hash >> 52")
	l3 := g.rec.slots[slotKey{computed: compL7L3Off, size: 2, layer: 1}]
	for off := int16(0); off < l7KeySize; off += 8 {
		b.Emit(storeDW(asm.R9, stF(sKey)+off, 0))
	}
	b.Emit(asm.StoreImm(asm.R9, stF(sKey), int64(hookKey(g.hook)), asm.Word))
	b.Emit(asm.LoadMem(asm.R2, asm.R10, l3.off, asm.Half), asm.JGT.Imm(asm.R2, 0x3ff, fail))
	b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxData, asm.Word), asm.Add.Reg(asm.R1, asm.R2))
	b.Emit(asm.LoadMem(asm.R3, rCtx, fl.CtxDataEnd, asm.Word))
	v6, ports := b.NewLabel("key.v6"), b.NewLabel("key.ports")
	b.Emit(asm.Mov.Reg(asm.R4, rPresence), asm.And.Imm(asm.R4, 1<<FactIPv4), asm.JEq.Imm(asm.R4, 0, v6))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, ipv4Len), asm.JGT.Reg(asm.R4, asm.R3, fail))
	b.Emit(asm.StoreImm(asm.R9, stF(sKey)+4, 4, asm.Word))
	b.Emit(asm.LoadMem(asm.R4, asm.R1, 12, asm.Word), asm.StoreMem(asm.R9, stF(sKey)+8, asm.R4, asm.Word))
	b.Emit(asm.LoadMem(asm.R4, asm.R1, 16, asm.Word), asm.StoreMem(asm.R9, stF(sKey)+24, asm.R4, asm.Word))
	b.Emit(asm.Ja.Label(ports))
	b.Label(v6)
	b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, ipv6Len), asm.JGT.Reg(asm.R4, asm.R3, fail))
	b.Emit(asm.StoreImm(asm.R9, stF(sKey)+4, 6, asm.Word))
	for i := int16(0); i < 32; i += 8 {
		b.Emit(asm.LoadMem(asm.R4, asm.R1, 8+i, asm.DWord), asm.StoreMem(asm.R9, stF(sKey)+8+i, asm.R4, asm.DWord))
	}
	b.Label(ports)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSport), asm.DWord), asm.LSh.Imm(asm.R1, 16))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sDport), asm.DWord), asm.Or.Reg(asm.R1, asm.R2), asm.StoreMem(asm.R9, stF(sKey)+40, asm.R1, asm.Word))
	b.Emit(asm.Mov.Imm(asm.R1, 0))
	for off := int16(0); off < l7KeySize; off += 8 {
		b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sKey)+off, asm.DWord), asm.Xor.Reg(asm.R1, asm.R2))
	}
	b.Emit(asm.LoadImm(asm.R2, -7046029254386353131, asm.DWord), asm.Mul.Reg(asm.R1, asm.R2), asm.RSh.Imm(asm.R1, 52)) // 0x9e3779b97f4a7c15
	b.Emit(asm.StoreMem(asm.R9, stF(sHash), asm.R1, asm.DWord))
}

// pendingRow sets R0 to the hook's counters in tls_pending (l7Buckets
// buckets, then the hook's total), or jumps to fail. It clobbers R1-R5.
func (g *gen) pendingRow(fail string) {
	b := g.b
	b.Emit(asm.StoreImm(asm.R10, keyOff, int64(hookKey(g.hook)), asm.Word))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, keyOff))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TLSPendingMap), asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, fail))
}

// pendingBucket sets R0 to the flow's bucket counter, or jumps to fail.
func (g *gen) pendingBucket(fail string) {
	b := g.b
	g.pendingRow(fail)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHash), asm.DWord), asm.JGT.Imm(asm.R1, l7Buckets-1, fail))
	b.Emit(asm.LSh.Imm(asm.R1, 2), asm.Add.Reg(asm.R0, asm.R1))
}

// countHeld adds delta to the flow's bucket and to the hook's total.
func (g *gen) countHeld(delta int32, fail string) {
	b := g.b
	g.pendingRow(fail)
	b.Emit(asm.Mov.Imm(asm.R1, delta), asm.Mov.Reg(asm.R2, asm.R0), asm.Add.Imm(asm.R2, 4*l7Buckets), asm.StoreXAdd(asm.R2, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sHash), asm.DWord), asm.JGT.Imm(asm.R2, l7Buckets-1, fail))
	b.Emit(asm.LSh.Imm(asm.R2, 2), asm.Add.Reg(asm.R0, asm.R2), asm.StoreXAdd(asm.R0, asm.R1, asm.Word))
}

// forgetHeld deletes the flow's held ClientHello and counts it out of its
// bucket.
func (g *gen) forgetHeld(done string) {
	b := g.b
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TLSHeldMap), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, int32(stF(sKey))))
	b.Emit(asm.FnMapDeleteElem.Call(), asm.JNE.Imm(asm.R0, 0, done))
	g.countHeld(-1, done)
}

// l7TLSContinue: when the flow has a held ClientHello and this segment
// follows it, the window becomes the held bytes and this segment's, and
// sCont is set.
func (g *gen) l7TLSContinue() {
	b := g.b
	end, drop := b.NewLabel("tls.cont.end"), b.NewLabel("tls.cont.drop")
	b.Comment("TLS: does this segment continue a held ClientHello?")
	b.Emit(asm.Mov.Imm(asm.R1, -1), asm.StoreMem(asm.R9, stF(sHash), asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(rules.HdrTLS), asm.Byte), asm.JEq.Imm(asm.R1, 0, end))
	b.Comment("nothing held at this hook: no flow key to build")
	g.pendingRow(end)
	b.Emit(asm.LoadMem(asm.R1, asm.R0, 4*l7Buckets, asm.Word), asm.JEq.Imm(asm.R1, 0, end))
	g.tlsFlowKey(end)
	g.pendingBucket(end)
	b.Emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.Word), asm.JEq.Imm(asm.R1, 0, end))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TLSHeldMap), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, int32(stF(sKey))))
	b.Emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, end), asm.Mov.Reg(asm.R8, asm.R0))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, 8, asm.Word), asm.LoadMem(asm.R2, asm.R9, stF(sSeq), asm.DWord), asm.JNE.Reg(asm.R1, asm.R2, end))
	b.Emit(asm.FnKtimeGetNs.Call(), asm.LoadMem(asm.R1, asm.R8, 0, asm.DWord), asm.Sub.Reg(asm.R0, asm.R1))
	b.Emit(asm.LoadImm(asm.R1, rules.TLSHoldNanos, asm.DWord), asm.JGT.Reg(asm.R0, asm.R1, drop))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, 12, asm.Word), asm.JEq.Imm(asm.R1, 0, drop), asm.JGT.Imm(asm.R1, rules.TLSHoldBytes, drop))
	b.Comment("the held bytes into the window, eight at a time (the held value's pointer next to the context)")
	b.Emit(asm.StoreMem(asm.R10, g.l7CtxOff()-16, asm.R8, asm.DWord))
	g.markDirty(asm.R0, rules.TLSHoldBytes)
	g.l7Loop(rules.TLSHoldBytes/8, g.l7CtxOff(), fnCopyHeld, g.emitCopyHeld)
	b.Emit(asm.LoadMem(asm.R1, asm.R8, 12, asm.Word))
	b.Comment("then this segment's payload")
	short := b.NewLabel("cont.short")
	b.Emit(asm.StoreMem(asm.R9, stF(sAvail), asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sPLen), asm.DWord), asm.JEq.Imm(asm.R4, 0, drop))
	b.Emit(asm.Mov.Imm(asm.R2, l7WinSize), asm.Sub.Reg(asm.R2, asm.R1), asm.JLE.Reg(asm.R4, asm.R2, short), asm.Mov.Reg(asm.R4, asm.R2))
	b.Label(short)
	b.Emit(asm.JEq.Imm(asm.R4, 0, drop), asm.JGT.Imm(asm.R4, l7WinSize, drop))
	b.Emit(asm.Add.Reg(asm.R1, asm.R4), asm.StoreMem(asm.R9, stF(sTmpLen), asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sAvail), asm.DWord), asm.JGT.Imm(asm.R3, rules.TLSHoldBytes, drop))
	b.Emit(asm.Add.Reg(asm.R3, asm.R9), asm.Add.Imm(asm.R3, l7Win))
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord), g.fl.LoadBytes.Call())
	b.Emit(asm.JNE.Imm(asm.R0, 0, drop))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTmpLen), asm.DWord), asm.StoreMem(asm.R9, stF(sAvail), asm.R1, asm.DWord), asm.StoreMem(asm.R9, stF(sPLen), asm.R1, asm.DWord))
	g.markDirty(asm.R1, 0)
	b.Emit(storeDW(asm.R9, stF(sCont), 1))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, l7Win, asm.DWord), asm.StoreMem(asm.R9, stF(sPeek), asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, l7Win+8, asm.DWord), asm.StoreMem(asm.R9, stF(sPeek+8), asm.R1, asm.DWord))
	b.Label(drop)
	b.Comment("the held ClientHello is used, or stale: forget it")
	g.forgetHeld(end)
	b.Label(end)
}

const fnCopyHeld = "hdrlog_l7_copy_held"

// emitCopyHeld copies word R1 (the index) of a held ClientHello, whose
// value the caller spilled 16 bytes below the context, into the window.
func (g *gen) emitCopyHeld() {
	b := g.b
	b.Emit(asm.LoadMem(asm.R8, asm.R6, -16, asm.DWord), asm.JGT.Imm(asm.R1, rules.TLSHoldBytes/8-1, ".copy.stop"))
	b.Emit(asm.LSh.Imm(asm.R1, 3), asm.Mov.Reg(asm.R2, asm.R8), asm.Add.Reg(asm.R2, asm.R1), asm.LoadMem(asm.R3, asm.R2, 16, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R9), asm.Add.Reg(asm.R4, asm.R1), asm.StoreMem(asm.R4, l7Win, asm.R3, asm.DWord))
	g.ret(0)
	b.Label(".copy.stop")
	g.ret(1)
}

// l7TLSHold holds a ClientHello cut before its server name.
func (g *gen) l7TLSHold() {
	b, l := g.b, g.l7
	done := b.NewLabel("tls.hold.done")
	sni := l.strings[strKeyOf("tls.handshake.extensions_server_name")]
	b.Comment("TLS: hold a ClientHello that goes on in the next segment and whose server name is not in this one")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JNE.Imm(asm.R1, 1, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sCont), asm.DWord), asm.JNE.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTLSBase), asm.DWord), asm.JNE.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sStr)+int16(8*sni)+4, asm.Byte), asm.JNE.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sAvail), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sPLen), asm.DWord))
	b.Emit(asm.JNE.Reg(asm.R1, asm.R2, done), asm.JGT.Imm(asm.R1, rules.TLSHoldBytes, done))
	cut := b.NewLabel("tls.cut")
	g.be16At(asm.R2, asm.R9, l7Win+3)
	b.Emit(asm.Add.Imm(asm.R2, 5), asm.JGT.Reg(asm.R2, asm.R1, cut))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sSP), asm.DWord), asm.JLE.Reg(asm.R2, asm.R1, done))
	b.Label(cut)
	keyed := b.NewLabel("tls.keyed")
	b.Comment("the flow key, unless the continuation check built it")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHash), asm.DWord), asm.JLE.Imm(asm.R1, l7Buckets-1, keyed))
	g.tlsFlowKey(done)
	b.Label(keyed)
	b.Emit(asm.FnKtimeGetNs.Call(), asm.StoreMem(asm.R9, l7Held, asm.R0, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSeq), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sPLen), asm.DWord))
	b.Emit(asm.StoreMem(asm.R9, l7Held+12, asm.R2, asm.Word), asm.Add.Reg(asm.R1, asm.R2), asm.StoreMem(asm.R9, l7Held+8, asm.R1, asm.Word))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TLSHeldMap), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, int32(stF(sKey))))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Imm(asm.R3, l7Held), asm.Mov.Imm(asm.R4, 0), asm.FnMapUpdateElem.Call())
	b.Emit(asm.JNE.Imm(asm.R0, 0, done))
	g.countHeld(1, done)
	b.Comment("held: no TLS on this segment")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord))
	g.andMask(asm.R1, ^l7Facts[rules.HdrTLS], asm.R2)
	b.Emit(asm.StoreMem(asm.R9, stF(sFacts), asm.R1, asm.DWord))
	g.l7ClearLimits(rules.HdrTLS)
	for _, k := range l.strKeys {
		if k == strKeyOf("tls.handshake.extensions_server_name") || k == strKeyOf("tls.handshake.extensions_alpn_str") {
			b.Emit(storeDW(asm.R9, stF(sStr)+int16(8*l.strings[k]), 0))
		}
	}
	for _, s := range g.rec.headerSlots(rules.HdrTLS) {
		for off := 0; off < s.size; off++ {
			b.Emit(asm.StoreImm(asm.R10, s.off+int16(off), 0, asm.Byte))
		}
	}
	b.Label(done)
}
