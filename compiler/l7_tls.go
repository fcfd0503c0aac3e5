package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// TLS in the kernel: the record header and the first handshake message's
// header at the start of a TCP payload, from the peeked bytes; for a
// ClientHello or ServerHello, the hello in the window: its version, and the
// extensions walked for the server name and the first ALPN protocol.
//
// A ClientHello that does not end within its segment and whose server_name
// is not among the extensions the segment holds is held back: its bytes go
// to the tls_held LRU map under the flow's key, and it is decoded when the
// flow's next segment (the one whose sequence number follows) arrives,
// from the held bytes followed by that segment's. Its fields then appear on
// that segment, as Wireshark shows a reassembled handshake on its last
// segment; the first segment shows no TLS. A count per hash bucket of flows
// (tls_pending) spares other segments the LRU lookup.

const (
	fnTLSExt   = "hdrlog_l7_tls_ext"
	fnListText = "hdrlog_l7_list_text"
)

// tlsRawSlot copies a raw TLS field (offset within the record) from src+off.
func (g *gen) tlsRawSlot(name string, src asm.Register, off int16) {
	f, _ := rules.LookupField(name)
	s, ok := g.rec.slots[slotKey{header: rules.HdrTLS, offset: f.Offset, size: f.Size, layer: 1}]
	if !ok {
		return
	}
	g.copyRaw(src, off+int16(f.Offset), asm.R10, s.off, s.size)
}

// l7TLSGate decodes the record and handshake headers from the peeked bytes
// (the window's first bytes for a continuation) and asks for the window
// when the message is a hello whose fields the rules use. The handshake
// message is the first record's, or, after a ChangeCipherSpec record (as a
// client sends before its second ClientHello when the server asked it to
// retry), the second record's: sTLSBase is where that record starts. An
// SSLv2-compatible ClientHello (0x80, a length byte, message type 1, a
// version) is TLS with the fields Wireshark shows for it.
func (g *gen) l7TLSGate() {
	b := g.b
	end, not, v2 := b.NewLabel("tls.gate.end"), b.NewLabel("tls.not"), b.NewLabel("tls.v2")
	b.Comment("TLS: a record header (type 20-24, version 3.x) at the start of the payload")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(rules.HdrTLS), asm.Byte), asm.JEq.Imm(asm.R1, 0, end))
	b.Emit(storeDW(asm.R9, stF(sTLSBase), 0))
	b.Emit(asm.LoadMem(asm.R5, asm.R9, stF(sPLen), asm.DWord), asm.JLT.Imm(asm.R5, 5, not))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPeek), asm.Byte), asm.JEq.Imm(asm.R2, 0x80, v2))
	b.Emit(asm.JLT.Imm(asm.R2, 20, not), asm.JGT.Imm(asm.R2, 24, not))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+1, asm.Byte), asm.JNE.Imm(asm.R1, 3, not))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+2, asm.Byte), asm.JGT.Imm(asm.R1, 4, not))
	g.l7SetFact(FactTLS)
	g.tlsRawSlot("tls.record.version", asm.R9, stF(sPeek))
	hs0, hs6 := b.NewLabel("tls.hs0"), b.NewLabel("tls.hs6")
	b.Comment("a ChangeCipherSpec record (1 byte) followed by a handshake record: the handshake is the second record's")
	b.Emit(asm.JNE.Imm(asm.R2, 20, hs0), asm.JLT.Imm(asm.R5, tlsCCSLen+9, end))
	g.be16At(asm.R1, asm.R9, stF(sPeek)+3)
	b.Emit(asm.JNE.Imm(asm.R1, 1, end))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+tlsCCSLen, asm.Byte), asm.JNE.Imm(asm.R1, 22, end))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+tlsCCSLen+1, asm.Byte), asm.JNE.Imm(asm.R1, 3, end))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+tlsCCSLen+2, asm.Byte), asm.JGT.Imm(asm.R1, 4, end))
	b.Emit(storeDW(asm.R9, stF(sTLSBase), tlsCCSLen), asm.Ja.Label(hs6))
	for _, base := range []int16{0, tlsCCSLen} {
		if base == 0 {
			b.Label(hs0)
			b.Comment("a handshake record: the first message's header, its length within the record's")
			b.Emit(asm.JNE.Imm(asm.R2, 22, end), asm.JLT.Imm(asm.R5, 9, end))
		} else {
			b.Label(hs6)
		}
		pk := stF(sPeek) + base
		g.be16At(asm.R3, asm.R9, pk+3)
		b.Emit(asm.LoadMem(asm.R4, asm.R9, pk+6, asm.Byte), asm.LSh.Imm(asm.R4, 16))
		g.be16At(asm.R1, asm.R9, pk+7)
		b.Emit(asm.Or.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, 4), asm.JGT.Reg(asm.R4, asm.R3, end))
		g.l7SetFact(FactTLSHandshake)
		g.tlsRawSlot("tls.handshake.type", asm.R9, pk)
		if g.tlsHelloUsed() {
			b.Emit(asm.LoadMem(asm.R1, asm.R9, pk+5, asm.Byte))
			hello := b.NewLabel("tls.hello")
			b.Emit(asm.JEq.Imm(asm.R1, 1, hello), asm.JNE.Imm(asm.R1, 2, end))
			b.Label(hello)
			b.Emit(asm.StoreMem(asm.R9, stF(sHello), asm.R1, asm.DWord))
		}
		b.Emit(asm.Ja.Label(end))
	}
	b.Label(v2)
	b.Comment("SSLv2-compatible ClientHello: record version 0x0002 (as Wireshark shows it), type 1, the hello's version; no extensions")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek)+2, asm.Byte), asm.JNE.Imm(asm.R1, 1, not))
	g.l7SetFact(FactTLS)
	g.l7SetFact(FactTLSHandshake)
	g.l7SetFact(FactTLSHello)
	b.Comment("rewrite the peeked bytes as the TLS record and handshake headers they stand for")
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sPeek)+3, asm.Half))
	b.Emit(asm.StoreImm(asm.R9, stF(sPeek)+1, 0, asm.Byte), asm.StoreImm(asm.R9, stF(sPeek)+2, 2, asm.Byte))
	b.Emit(asm.StoreImm(asm.R9, stF(sPeek)+5, 1, asm.Byte), asm.StoreMem(asm.R9, stF(sPeek)+9, asm.R3, asm.Half))
	g.tlsRawSlot("tls.record.version", asm.R9, stF(sPeek))
	g.tlsRawSlot("tls.handshake.type", asm.R9, stF(sPeek))
	g.tlsRawSlot("tls.handshake.version", asm.R9, stF(sPeek))
	b.Emit(asm.Ja.Label(end))
	b.Label(not)
	b.Emit(asm.StoreImm(asm.R9, stF(sSel)+selIndex(rules.HdrTLS), 0, asm.Byte))
	b.Label(end)
}

// tlsCCSLen is the length of a ChangeCipherSpec record: its header and one
// byte.
const tlsCCSLen = 6

// tlsHelloUsed reports whether the rules use a field of the hellos.
func (g *gen) tlsHelloUsed() bool {
	f, _ := rules.LookupField("tls.handshake.version")
	return g.rec.has(slotKey{header: rules.HdrTLS, offset: f.Offset, size: f.Size, layer: 1}) ||
		g.rec.has(keyTLSCS) || g.tlsWalkUsed() || g.l7.tlsTx
}

// tlsWalkUsed reports whether the rules use a field of the extensions.
func (g *gen) tlsWalkUsed() bool {
	return g.l7.hasString(strKeyOf("tls.handshake.extensions_server_name")) ||
		g.l7.hasString(strKeyOf("tls.handshake.extensions_alpn_str")) || g.rec.has(keyTLSSV) || g.rec.has(truncKey(rules.HdrTLS))
}

// Record slots of the ServerHello's choices (host order).
var (
	keyTLSCS = slotKey{computed: compTLSCS, size: 2, layer: 1}
	keyTLSSV = slotKey{computed: compTLSSV, size: 2, layer: 1}
)

// tlsSupportedVersions is the supported_versions extension's type.
const tlsSupportedVersions = 43

// l7TLSHello decodes a hello in the window.
func (g *gen) l7TLSHello() {
	b, l := g.b, g.l7
	end := b.NewLabel("tls.end")
	b.Comment("TLS hello: version, session id, cipher suites, compression, extensions")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JEq.Imm(asm.R1, 0, end))
	b.Comment("r0 = the handshake record in the window (after a ChangeCipherSpec record, or at its start), r1 its offset")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTLSBase), asm.DWord), asm.JGT.Imm(asm.R1, tlsCCSLen, end))
	b.Emit(asm.Mov.Reg(asm.R0, asm.R9), asm.Add.Reg(asm.R0, asm.R1))
	b.Comment("r4 = where the hello's bytes end: the window's, the record's or the message's end")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sAvail), asm.DWord))
	g.be16At(asm.R2, asm.R0, l7Win+3)
	b.Emit(asm.Add.Imm(asm.R2, 5), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R9, stF(sRecEnd), asm.R2, asm.DWord)) // the record's end
	lt1, lt2 := b.NewLabel("tls.lim"), b.NewLabel("tls.lim")
	b.Emit(asm.JGE.Reg(asm.R2, asm.R4, lt1), asm.Mov.Reg(asm.R4, asm.R2))
	b.Label(lt1)
	b.Emit(asm.LoadMem(asm.R3, asm.R0, l7Win+6, asm.Byte), asm.LSh.Imm(asm.R3, 16))
	g.be16At(asm.R5, asm.R0, l7Win+7)
	b.Emit(asm.Or.Reg(asm.R3, asm.R5), asm.Add.Imm(asm.R3, 9), asm.Add.Reg(asm.R3, asm.R1), asm.StoreMem(asm.R9, stF(sSP), asm.R3, asm.DWord)) // the message's end
	b.Emit(asm.JGE.Reg(asm.R3, asm.R4, lt2), asm.Mov.Reg(asm.R4, asm.R3))
	b.Label(lt2)
	b.Emit(asm.StoreMem(asm.R9, stF(sLim), asm.R4, asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.Add.Imm(asm.R2, 11), asm.JLT.Reg(asm.R4, asm.R2, end))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R0))
	g.l7SetFact(FactTLSHello)
	g.tlsRawSlot("tls.handshake.version", asm.R2, l7Win)
	walk := g.tlsWalkUsed()
	if !walk && !g.rec.has(keyTLSCS) {
		b.Label(end)
		return
	}
	// p in R5, checked against the limit R4 before every read; every
	// position is also checked below the window's size, for the verifier.
	// A read past the bytes present, within the message and the record,
	// is where the hello goes on past them: the decoder gives up (cut).
	cut := b.NewLabel("tls.cut")
	need := func(n int32) {
		b.Emit(asm.Mov.Reg(asm.R0, asm.R5), asm.Add.Imm(asm.R0, n), asm.JGT.Reg(asm.R0, asm.R4, cut), asm.JGT.Imm(asm.R5, l7WinSize-1, end))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R5))
	}
	b.Comment("skip the random and the session id")
	b.Emit(asm.LoadMem(asm.R5, asm.R9, stF(sTLSBase), asm.DWord), asm.Add.Imm(asm.R5, 43))
	need(1)
	b.Emit(asm.LoadMem(asm.R1, asm.R3, l7Win, asm.Byte), asm.Add.Imm(asm.R5, 1), asm.Add.Reg(asm.R5, asm.R1))
	sh, exts := b.NewLabel("tls.sh"), b.NewLabel("tls.exts")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JNE.Imm(asm.R1, 1, sh))
	b.Comment("ClientHello: cipher suites and compression methods")
	need(2)
	g.be16At(asm.R1, asm.R3, l7Win)
	b.Emit(asm.Add.Imm(asm.R5, 2), asm.Add.Reg(asm.R5, asm.R1))
	need(1)
	b.Emit(asm.LoadMem(asm.R1, asm.R3, l7Win, asm.Byte), asm.Add.Imm(asm.R5, 1), asm.Add.Reg(asm.R5, asm.R1), asm.Ja.Label(exts))
	b.Label(sh)
	b.Comment("ServerHello: one cipher suite, one compression method")
	if s, ok := g.rec.slots[keyTLSCS]; ok {
		short := b.NewLabel("tls.cs.short")
		b.Emit(asm.Mov.Reg(asm.R0, asm.R5), asm.Add.Imm(asm.R0, 2), asm.JGT.Reg(asm.R0, asm.R4, short), asm.JGT.Imm(asm.R5, l7WinSize-1, short))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R5))
		g.be16At(asm.R1, asm.R3, l7Win)
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
		g.l7SetFact(FactTLSCipher)
		b.Label(short)
	}
	b.Emit(asm.Add.Imm(asm.R5, 3))
	b.Label(exts)
	if !walk {
		b.Label(cut)
		b.Label(end)
		return
	}
	need(2)
	b.Comment("the extensions must end within the message and the record")
	g.be16At(asm.R1, asm.R3, l7Win)
	b.Emit(asm.Add.Imm(asm.R5, 2), asm.Add.Reg(asm.R1, asm.R5))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sSP), asm.DWord), asm.JGT.Reg(asm.R1, asm.R2, end))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sRecEnd), asm.DWord), asm.JGT.Reg(asm.R1, asm.R2, end))
	b.Emit(asm.StoreMem(asm.R9, stF(sWPos), asm.R5, asm.DWord), asm.StoreMem(asm.R9, stF(sWire), asm.R1, asm.DWord))
	b.Emit(storeDW(asm.R9, stF(sTLSSV), 0))
	b.Comment("one more pass than the bound: it tells whether the list goes on past it")
	g.l7Loop(rules.MaxTLSExtensions+1, g.l7CtxOff(), fnTLSExt, g.emitTLSExt)
	if s, ok := g.rec.slots[keyTLSSV]; ok {
		b.Comment("the version the ServerHello selected (bit 16: found)")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTLSSV), asm.DWord), asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, 16), asm.JEq.Imm(asm.R2, 0, end))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
		g.l7SetFact(FactTLSSupVer)
	}
	b.Emit(asm.Ja.Label(end))
	b.Label(cut)
	b.Comment("r0 past the bytes present: a cut when it is within the message and the record")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sAvail), asm.DWord), asm.JLE.Reg(asm.R0, asm.R1, end))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSP), asm.DWord), asm.JGT.Reg(asm.R0, asm.R1, end))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRecEnd), asm.DWord), asm.JGT.Reg(asm.R0, asm.R1, end))
	g.l7Limit(rules.LimitTLSCut)
	b.Label(end)
	if l.tlsHold {
		g.l7TLSHold()
	}
}

// emitTLSExt is the callback for one extension at sWPos, before sWire (the
// list's end) and sLim (the bytes present).
func (g *gen) emitTLSExt() {
	b, l := g.b, g.l7
	stop, next, past := b.NewLabel("ext.stop"), b.NewLabel("ext.next"), b.NewLabel("ext.past")
	b.Emit(asm.Mov.Reg(asm.R0, asm.R1)) // the pass
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sWPos), asm.DWord))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.Add.Imm(asm.R2, 4))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sWire), asm.DWord), asm.JGT.Reg(asm.R2, asm.R3, stop))
	bound := b.NewLabel("ext.bound")
	b.Emit(asm.JGE.Imm(asm.R0, rules.MaxTLSExtensions, bound))
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sLim), asm.DWord), asm.JGT.Reg(asm.R2, asm.R4, past))
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, stop))
	b.Emit(asm.Mov.Reg(asm.R7, asm.R9), asm.Add.Reg(asm.R7, asm.R1))
	g.be16At(asm.R8, asm.R7, l7Win)   // type
	g.be16At(asm.R5, asm.R7, l7Win+2) // length
	b.Emit(asm.Add.Reg(asm.R2, asm.R5), asm.JGT.Reg(asm.R2, asm.R3, stop), asm.JGT.Reg(asm.R2, asm.R4, past))
	b.Emit(asm.StoreMem(asm.R9, stF(sWPos), asm.R2, asm.DWord))
	// R7 + l7Win + 4 is the extension's data, R5 its length.
	if k := strKeyOf("tls.handshake.extensions_server_name"); l.hasString(k) {
		i := l.strings[k]
		not := b.NewLabel("ext.not.sni")
		b.Comment("server_name (ClientHello): list length, then the first entry, a host_name")
		b.Emit(asm.JNE.Imm(asm.R8, 0, not), asm.LoadMem(asm.R0, asm.R9, stF(sHello), asm.DWord), asm.JNE.Imm(asm.R0, 1, not))
		b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sStr)+int16(8*i)+4, asm.Byte), asm.JNE.Imm(asm.R0, 0, not))
		b.Emit(asm.JLT.Imm(asm.R5, 5, not))
		g.be16At(asm.R3, asm.R7, l7Win+4) // list length
		b.Emit(asm.Mov.Reg(asm.R0, asm.R3), asm.Add.Imm(asm.R0, 2), asm.JGT.Reg(asm.R0, asm.R5, not), asm.JLT.Imm(asm.R3, 3, not))
		b.Emit(asm.LoadMem(asm.R0, asm.R7, l7Win+6, asm.Byte), asm.JNE.Imm(asm.R0, 0, not))
		g.be16At(asm.R4, asm.R7, l7Win+7) // name length
		b.Emit(asm.Mov.Reg(asm.R0, asm.R4), asm.Add.Imm(asm.R0, 3), asm.JGT.Reg(asm.R0, asm.R3, not))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Imm(asm.R3, l7Win+9))
		g.strResult(k, asm.R3, asm.R4)
		b.Emit(asm.Ja.Label(next))
		b.Label(not)
	}
	if g.rec.has(keyTLSSV) {
		not := b.NewLabel("ext.not.sv")
		b.Comment("supported_versions (ServerHello): the selected version, 2 bytes")
		b.Emit(asm.JNE.Imm(asm.R8, tlsSupportedVersions, not), asm.JNE.Imm(asm.R5, 2, not))
		b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sHello), asm.DWord), asm.JNE.Imm(asm.R0, 2, not))
		b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sTLSSV), asm.DWord), asm.JNE.Imm(asm.R0, 0, not))
		g.be16At(asm.R0, asm.R7, l7Win+4)
		b.Emit(asm.Or.Imm(asm.R0, 1<<16), asm.StoreMem(asm.R9, stF(sTLSSV), asm.R0, asm.DWord), asm.Ja.Label(next))
		b.Label(not)
	}
	if k := strKeyOf("tls.handshake.extensions_alpn_str"); l.hasString(k) {
		i := l.strings[k]
		b.Comment("application_layer_protocol_negotiation: list length, then protocols walked into the list buffer, comma-joined")
		b.Emit(asm.JNE.Imm(asm.R8, 16, next))
		b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sStr)+int16(8*i)+4, asm.Byte), asm.JNE.Imm(asm.R0, 0, next))
		b.Emit(asm.JLT.Imm(asm.R5, 2, next))
		g.be16At(asm.R3, asm.R7, l7Win+4)
		b.Emit(asm.JLT.Imm(asm.R3, 2, next), asm.Mov.Reg(asm.R0, asm.R3), asm.Add.Imm(asm.R0, 2), asm.JGT.Reg(asm.R0, asm.R5, next))
		b.Emit(asm.Add.Imm(asm.R1, 6), asm.StoreMem(asm.R9, stF(sLPos), asm.R1, asm.DWord))
		b.Emit(asm.Add.Reg(asm.R1, asm.R3), asm.StoreMem(asm.R9, stF(sLEnd), asm.R1, asm.DWord))
		b.Emit(storeDW(asm.R9, stF(sLOut), 0), storeDW(asm.R9, stF(sLRes), 0))
		g.l7LoopFromCallback(l7WinSize/2+1, fnListText, g.emitListText)
		b.Comment("every element valid, and the last one ends the list")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLRes), asm.DWord), asm.JNE.Imm(asm.R1, 0, next))
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLEnd), asm.DWord), asm.JNE.Reg(asm.R1, asm.R2, next))
		b.Comment("the text: length = list length - 1; the raw list's offset in the slot's last two bytes, for tests on elements")
		g.be16At(asm.R4, asm.R7, l7Win+4)
		b.Emit(asm.Sub.Imm(asm.R4, 1), asm.Mov.Imm(asm.R3, l7List))
		g.strResult(k, asm.R3, asm.R4)
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLEnd), asm.DWord))
		g.be16At(asm.R2, asm.R7, l7Win+4)
		b.Emit(asm.Sub.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R1, l7Win))
		b.Emit(asm.StoreMem(asm.R9, stF(sStr)+int16(8*i)+6, asm.R1, asm.Half))
	}
	b.Label(next)
	g.ret(0)
	b.Label(bound)
	b.Comment("the list goes on past %d extensions", rules.MaxTLSExtensions)
	g.l7Limit(rules.LimitTLSExtensions)
	g.ret(1)
	b.Label(past)
	b.Comment("an extension within the list runs past the bytes present: the hello goes on past them")
	g.l7Limit(rules.LimitTLSCut)
	b.Label(stop)
	g.ret(1)
}

// emitListText is the callback for one element of a list (a length byte and
// its bytes) at sLPos, before sLEnd (window offsets): it checks the element
// and copies it, followed by a comma, to the list buffer at sLOut while the
// text is shorter than the most an event shows (rules.MaxMaxLen). An empty
// element, or one past the list's end, sets sLRes.
func (g *gen) emitListText() {
	b := g.b
	fail, copied, skip := b.NewLabel("list.fail"), b.NewLabel("list.copied"), b.NewLabel("list.skip")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLEnd), asm.DWord))
	more := b.NewLabel("list.more")
	b.Emit(asm.JLT.Reg(asm.R1, asm.R2, more))
	g.ret(1)
	b.Label(more)
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, fail))
	b.Emit(asm.Mov.Reg(asm.R7, asm.R9), asm.Add.Reg(asm.R7, asm.R1), asm.LoadMem(asm.R4, asm.R7, l7Win, asm.Byte))
	b.Emit(asm.JEq.Imm(asm.R4, 0, fail))
	b.Emit(asm.Mov.Reg(asm.R5, asm.R1), asm.Add.Imm(asm.R5, 1), asm.Add.Reg(asm.R5, asm.R4), asm.JGT.Reg(asm.R5, asm.R2, fail))
	b.Emit(asm.StoreMem(asm.R9, stF(sLPos), asm.R5, asm.DWord))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sLOut), asm.DWord), asm.JGT.Imm(asm.R0, rules.MaxMaxLen-1, skip))
	b.Emit(asm.Mov.Reg(asm.R8, asm.R9), asm.Add.Reg(asm.R8, asm.R0))
	b.Comment("copy the element, eight bytes at a time (what lies past it is overwritten or never read)")
	for k := int16(0); k < 32; k++ {
		b.Emit(asm.JLE.Imm(asm.R4, int32(8*k), copied))
		b.Emit(asm.LoadMem(asm.R3, asm.R7, l7Win+1+8*k, asm.DWord), asm.StoreMem(asm.R8, l7List+8*k, asm.R3, asm.DWord))
	}
	b.Label(copied)
	b.Emit(asm.Add.Reg(asm.R8, asm.R4), asm.StoreImm(asm.R8, l7List, ',', asm.Byte))
	b.Label(skip)
	b.Emit(asm.Add.Reg(asm.R0, asm.R4), asm.Add.Imm(asm.R0, 1), asm.StoreMem(asm.R9, stF(sLOut), asm.R0, asm.DWord))
	g.ret(0)
	b.Label(fail)
	b.Emit(storeDW(asm.R9, stF(sLRes), 1))
	g.ret(1)
}
