package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// The L7 stage of the header parser: entered from the TCP and UDP blocks
// (l7Enter, l7Next), it gates, copies the payload into the window of the l7
// map and runs the decoders (l7_http.go, l7_dns.go, l7_tls.go), then
// commits their results to the packet record.

const (
	l7TCP    = ".l7.tcp"
	l7UDP    = ".l7.udp"
	l7Commit = ".l7.commit"
)

// l7On reports whether the L7 stage runs after transport header h.
func (g *gen) l7On(h rules.Header) bool {
	if g.l7 == nil {
		return false
	}
	return h == rules.HdrTCP && g.l7.tcp || h == rules.HdrUDP && g.l7.udp
}

// l7Enter saves, in the record, where the transport header is and the IP
// payload length, while the parser has them (cursor in R3, length in R5).
func (g *gen) l7Enter(h rules.Header) {
	if !g.l7On(h) {
		return
	}
	b := g.b
	b.Comment("L7: transport header offset and IP payload length, for the L7 stage")
	l4 := g.rec.slots[slotKey{computed: compL7L4Off, size: 2, layer: 1}]
	ipl := g.rec.slots[slotKey{computed: compL7IPLen, size: 4, layer: 1}]
	b.Emit(asm.Mov.Reg(asm.R1, rCursor), asm.Sub.Reg(asm.R1, rData), asm.StoreMem(asm.R10, l4.off, asm.R1, asm.Half))
	b.Emit(asm.StoreMem(asm.R10, ipl.off, rPayload, asm.Word))
}

// l7Next is where the parser goes after transport header h: the L7 stage or
// the end.
func (g *gen) l7Next(h rules.Header) string {
	if g.l7On(h) {
		if h == rules.HdrTCP {
			return l7TCP
		}
		return l7UDP
	}
	return parseDone
}

// l7L3 saves the network header's offset for TLS flow keys (cursor on it).
func (g *gen) l7L3() {
	if g.l7 == nil || !g.l7.tlsHold && !g.l7.httpTx && !g.l7.dnsTx && !g.l7.tlsTx {
		return
	}
	s := g.rec.slots[slotKey{computed: compL7L3Off, size: 2, layer: 1}]
	g.b.Emit(asm.Mov.Reg(asm.R1, rCursor), asm.Sub.Reg(asm.R1, rData), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
}

// l7Blocks emits the L7 stage; it ends at parseDone.
func (g *gen) l7Blocks() {
	if g.l7 == nil {
		return
	}
	if g.l7.tcp {
		g.l7Transport(rules.HdrTCP)
	}
	if g.l7.udp {
		g.l7Transport(rules.HdrUDP)
	}
	g.l7CommitBlock()
}

// l7Transport emits the stage for one transport, entered with R3 on its
// header (checked present in the linear part).
func (g *gen) l7Transport(tr rules.Header) {
	b, l := g.b, g.l7
	tcp := tr == rules.HdrTCP
	if tcp {
		b.Label(l7TCP)
		b.Comment("L7 over TCP: r8 = sequence << 8 | data offset, r9 = ports")
		b.Emit(asm.LoadMem(asm.R1, rCursor, 12, asm.Byte), asm.RSh.Imm(asm.R1, 4), asm.LSh.Imm(asm.R1, 2))
		b.Emit(asm.JLT.Imm(asm.R1, tcpLen, parseDone))
		b.Emit(asm.LoadMem(asm.R8, rCursor, 4, asm.Word), asm.HostTo(asm.BE, asm.R8, asm.Word), asm.LSh.Imm(asm.R8, 8), asm.Or.Reg(asm.R8, asm.R1))
	} else {
		b.Label(l7UDP)
		b.Comment("L7 over UDP: r8 = UDP length, r9 = ports")
		b.Emit(asm.LoadMem(asm.R8, rCursor, 4, asm.Half), asm.HostTo(asm.BE, asm.R8, asm.Half))
	}
	b.Emit(asm.LoadMem(asm.R9, rCursor, 0, asm.Half), asm.HostTo(asm.BE, asm.R9, asm.Half), asm.LSh.Imm(asm.R9, 16))
	b.Emit(asm.LoadMem(asm.R1, rCursor, 2, asm.Half), asm.HostTo(asm.BE, asm.R1, asm.Half), asm.Or.Reg(asm.R9, asm.R1))
	b.Comment("the ports wait in the context slot during the lookup of the l7 value (r9 from now on)")
	b.Emit(asm.StoreMem(asm.R10, g.l7CtxOff(), asm.R9, asm.DWord))
	g.l7Lookup(asm.R9, parseDone)
	b.Emit(asm.LoadMem(asm.R1, asm.R10, g.l7CtxOff(), asm.DWord), asm.StoreMem(asm.R10, g.l7CtxOff(), asm.R9, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, 16), asm.StoreMem(asm.R9, stF(sSport), asm.R2, asm.DWord))
	b.Emit(asm.And.Imm(asm.R1, 0xffff), asm.StoreMem(asm.R9, stF(sDport), asm.R1, asm.DWord))
	if tcp {
		b.Emit(asm.Mov.Reg(asm.R1, asm.R8), asm.RSh.Imm(asm.R1, 8), asm.StoreMem(asm.R9, stF(sSeq), asm.R1, asm.DWord), asm.And.Imm(asm.R8, 0xff))
	}
	b.Comment("clear the results of the previous packet")
	for i := range l.strKeys {
		b.Emit(storeDW(asm.R9, stF(sStr)+int16(8*i), 0))
	}
	b.Emit(storeDW(asm.R9, stF(sSel), 0), storeDW(asm.R9, stF(sCont), 0))
	b.Emit(storeDW(asm.R9, stF(sPeek), 0), storeDW(asm.R9, stF(sPeek+8), 0))
	b.Emit(storeDW(asm.R9, stF(sAvail), 0), storeDW(asm.R9, stF(sKind), 0), storeDW(asm.R9, stF(sHello), 0), storeDW(asm.R9, stF(sFacts), 0))
	if len(g.l7Limits()) > 0 {
		b.Emit(storeDW(asm.R9, stF(sLimits), 0))
	}

	b.Comment("frame bytes from the start of the packet data")
	if g.fl.CtxLen < 0 {
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg(asm.R1, asm.R0))
	} else {
		b.Emit(asm.LoadMem(asm.R1, rCtx, g.fl.CtxLen, asm.Word))
	}
	b.Emit(asm.StoreMem(asm.R9, stF(sFLen), asm.R1, asm.DWord))
	l4 := g.rec.slots[slotKey{computed: compL7L4Off, size: 2, layer: 1}]
	ipl := g.rec.slots[slotKey{computed: compL7IPLen, size: 4, layer: 1}]
	b.Comment("payload: offset r2, length r4 = min(the IP length's, the frame's)")
	b.Emit(asm.LoadMem(asm.R2, asm.R10, l4.off, asm.Half))
	if tcp {
		b.Emit(asm.Add.Reg(asm.R2, asm.R8))
	} else {
		b.Emit(asm.Add.Imm(asm.R2, udpLen))
	}
	b.Emit(asm.StoreMem(asm.R9, stF(sPOff), asm.R2, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R1), asm.Sub.Reg(asm.R3, asm.R2), asm.JSLE.Imm(asm.R3, 0, l7Commit))
	b.Emit(asm.LoadMem(asm.R4, asm.R10, ipl.off, asm.Word), asm.LSh.Imm(asm.R4, 32), asm.ArSh.Imm(asm.R4, 32))
	known := b.NewLabel("l7.iplen")
	if tcp {
		b.Emit(asm.JSGE.Imm(asm.R4, 0, known), asm.Mov.Reg(asm.R4, asm.R3), asm.Add.Reg(asm.R4, asm.R8))
		b.Label(known)
		b.Emit(asm.Sub.Reg(asm.R4, asm.R8))
	} else {
		b.Comment("UDP: the length field's payload, within the IP payload")
		b.Emit(asm.JLT.Imm(asm.R8, udpLen, l7Commit), asm.Sub.Imm(asm.R8, udpLen))
		b.Emit(asm.JSLT.Imm(asm.R4, 0, known), asm.Sub.Imm(asm.R4, udpLen), asm.JSLE.Reg(asm.R8, asm.R4, known), asm.Mov.Reg(asm.R8, asm.R4))
		b.Label(known)
		b.Emit(asm.Mov.Reg(asm.R4, asm.R8))
	}
	fits := b.NewLabel("l7.fits")
	b.Emit(asm.JSLE.Reg(asm.R4, asm.R3, fits), asm.Mov.Reg(asm.R4, asm.R3))
	b.Label(fits)
	b.Emit(asm.JSLE.Imm(asm.R4, 0, l7Commit), asm.StoreMem(asm.R9, stF(sPLen), asm.R4, asm.DWord))

	b.Comment("which protocols the ports select (bit 0: default ports; bit k: the k-th ports list)")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSport), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sDport), asm.DWord))
	var protos []rules.Header
	for _, h := range rules.L7Protocols {
		if l.protos[h] && (tcp || h == rules.HdrDNS) {
			protos = append(protos, h)
			g.l7PortBits(h, !tcp, asm.R3)
			b.Emit(asm.StoreMem(asm.R9, stF(sSel)+selIndex(h), asm.R3, asm.Byte))
		}
	}
	if !tcp {
		b.Emit(asm.JEq.Imm(asm.R3, 0, l7Commit))
		g.l7Window(".l7.udp.dns")
		g.l7DNS(false)
		b.Emit(asm.Ja.Label(l7Commit))
		return
	}
	if l.tlsHold && l.protos[rules.HdrTLS] {
		g.l7TLSContinue()
	}
	cont := ".l7.tcp.cont"
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sCont), asm.DWord), asm.JNE.Imm(asm.R1, 0, cont))
	if l.protos[rules.HdrHTTP] || l.protos[rules.HdrTLS] {
		g.l7Peek()
	}
	if l.protos[rules.HdrHTTP] {
		g.l7HTTPDetect()
	}
	b.Label(cont)
	if l.protos[rules.HdrTLS] {
		g.l7TLSGate()
	}
	b.Comment("copy the payload into the window when a decoder needs it")
	need := ".l7.tcp.need"
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sCont), asm.DWord), asm.JNE.Imm(asm.R1, 0, ".l7.tcp.win"))
	if l.protos[rules.HdrHTTP] {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JNE.Imm(asm.R1, 0, need))
	}
	if l.protos[rules.HdrDNS] {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(rules.HdrDNS), asm.Byte), asm.JNE.Imm(asm.R1, 0, need))
	}
	if l.protos[rules.HdrTLS] {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JNE.Imm(asm.R1, 0, need))
	}
	b.Emit(asm.Ja.Label(l7Commit))
	b.Label(need)
	g.l7Window(".l7.tcp.win")
	if l.protos[rules.HdrHTTP] {
		g.l7HTTP()
	}
	if l.protos[rules.HdrDNS] {
		g.l7DNS(true)
	}
	if l.protos[rules.HdrTLS] {
		g.l7TLSHello()
		if l.tlsTx {
			g.tlsTx()
		}
	}
	b.Emit(asm.Ja.Label(l7Commit))
}

// l7PortBits sets dst to the selection bits of protocol h over UDP (udp)
// or TCP for the ports in R1 (source) and R2 (destination), host order.
func (g *gen) l7PortBits(h rules.Header, udp bool, dst asm.Register) {
	b := g.b
	b.Emit(asm.Mov.Imm(dst, 0))
	lists := append([][]uint16{rules.DefaultPortsOver(h, udp)}, g.l7.lists[h]...)
	for k, list := range lists {
		hit, miss := b.NewLabel("port.hit"), b.NewLabel("port.miss")
		for _, p := range list {
			b.Emit(asm.JEq.Imm(asm.R1, int32(p), hit), asm.JEq.Imm(asm.R2, int32(p), hit))
		}
		b.Emit(asm.Ja.Label(miss))
		b.Label(hit)
		b.Emit(asm.Or.Imm(dst, 1<<k))
		b.Label(miss)
	}
}

// l7Peek copies the first 16 payload bytes (fewer in a shorter payload,
// the rest zero) to sPeek: directly when they are in the linear part,
// otherwise with the load-bytes helper.
func (g *gen) l7Peek() {
	b, fl := g.b, g.fl
	helper, done := b.NewLabel("peek.helper"), b.NewLabel("peek.done")
	b.Comment("peek at the first 16 payload bytes")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sPLen), asm.DWord), asm.JLT.Imm(asm.R4, 16, helper))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord), asm.JGT.Imm(asm.R2, 0x1fff, helper))
	b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxData, asm.Word), asm.Add.Reg(asm.R1, asm.R2))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Imm(asm.R3, 16), asm.LoadMem(asm.R5, rCtx, fl.CtxDataEnd, asm.Word), asm.JGT.Reg(asm.R3, asm.R5, helper))
	b.Emit(asm.LoadMem(asm.R3, asm.R1, 0, asm.DWord), asm.StoreMem(asm.R9, stF(sPeek), asm.R3, asm.DWord))
	b.Emit(asm.LoadMem(asm.R3, asm.R1, 8, asm.DWord), asm.StoreMem(asm.R9, stF(sPeek+8), asm.R3, asm.DWord))
	b.Emit(asm.Ja.Label(done))
	b.Label(helper)
	short := b.NewLabel("peek.short")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sPLen), asm.DWord), asm.JEq.Imm(asm.R4, 0, done), asm.JLE.Imm(asm.R4, 16, short), asm.Mov.Imm(asm.R4, 16))
	b.Label(short)
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Imm(asm.R3, int32(stF(sPeek))), g.fl.LoadBytes.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, done))
	b.Emit(storeDW(asm.R9, stF(sPeek), 0), storeDW(asm.R9, stF(sPeek+8), 0))
	b.Label(done)
}

// l7Window copies min(payload, window) bytes of payload to the window and
// sets sAvail; label marks the copy (continuations jump past it).
func (g *gen) l7Window(label string) { g.l7WindowOr(label, l7Commit) }

// l7WindowOr is l7Window going to fail when there is nothing to copy.
func (g *gen) l7WindowOr(label, fail string) {
	b := g.b
	b.Comment("copy the payload (at most %d bytes) into the window", l7WinSize)
	short, done := b.NewLabel("win.short"), b.NewLabel("win.done")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sPLen), asm.DWord), asm.JEq.Imm(asm.R4, 0, fail))
	b.Emit(asm.JLE.Imm(asm.R4, l7WinSize, short), asm.Mov.Imm(asm.R4, l7WinSize))
	b.Label(short)
	b.Emit(asm.StoreMem(asm.R9, stF(sAvail), asm.R4, asm.DWord))
	g.markDirty(asm.R4, 0)
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Imm(asm.R3, l7Win), g.fl.LoadBytes.Call())
	b.Emit(asm.JEq.Imm(asm.R0, 0, done), storeDW(asm.R9, stF(sAvail), 0), asm.Ja.Label(fail))
	b.Label(done)
	b.Label(label)
	b.Emit(asm.Mov.Imm(asm.R0, 0)) // the continuation's entry needs an instruction to mark
}

// l7CommitBlock copies the string results and the protocol selections to
// the record, and ends the parser.
func (g *gen) l7CommitBlock() {
	b, l := g.b, g.l7
	b.Label(l7Commit)
	b.Comment("L7: facts and results to the packet record")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord), asm.Or.Reg(rPresence, asm.R1))
	g.l7TruncSlots(rules.L7Protocols, asm.R10, 0)
	if s, ok := g.rec.slots[slotKey{computed: compHTTPReq, size: 1, layer: 1}]; ok {
		b.Emit(asm.RSh.Imm(asm.R1, FactHTTPRequest), asm.And.Imm(asm.R1, 1), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Byte))
	}
	if s, ok := g.rec.slots[slotKey{computed: compHTTPResp, size: 1, layer: 1}]; ok {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord))
		b.Emit(asm.RSh.Imm(asm.R1, FactHTTPResponse), asm.And.Imm(asm.R1, 1), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Byte))
	}
	for i, k := range l.strKeys {
		s := g.rec.slots[k]
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sStr)+int16(8*i), asm.DWord), asm.StoreMem(asm.R10, s.off, asm.R1, asm.DWord))
	}
	if len(l.gated) > 0 {
		for _, h := range rules.L7Protocols {
			s := g.rec.slots[slotKey{computed: compL7Sel, size: 1, layer: int(h)}]
			b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(h), asm.Byte), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Byte))
		}
	}
	g.l7CountLimits()
	b.Emit(asm.Ja.Label(parseDone))
}

// selIndex is a protocol's byte in sSel.
func selIndex(h rules.Header) int16 {
	switch h {
	case rules.HdrDNS:
		return 1
	case rules.HdrTLS:
		return 2
	}
	return 0
}
