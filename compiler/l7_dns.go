package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// DNS in the kernel: the 12-byte header and the first question of a message
// at the start of a UDP payload, or after the 2-byte length of a TCP one.
// The question's name is rendered dotted, as Wireshark prints it, into the
// name buffer of the l7 value; a compression pointer (which could only point
// back into the header) or an extended label type makes it absent, as does
// a name longer than 255 bytes on the wire.

const fnDNSLabel = "hdrlog_l7_dns_label"

// l7DNS decodes the DNS message in the window (over TCP after its length).
func (g *gen) l7DNS(tcp bool) {
	b := g.b
	end := b.NewLabel("dns.end")
	base := int32(0)
	if tcp {
		base = 2
	}
	b.Comment("DNS: header and first question (message at window offset %d)", base)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(rules.HdrDNS), asm.Byte), asm.JEq.Imm(asm.R1, 0, end))
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sAvail), asm.DWord))
	if tcp {
		b.Comment("not on a segment that continues a held ClientHello")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sCont), asm.DWord), asm.JNE.Imm(asm.R1, 0, end))
		short := b.NewLabel("dns.len")
		b.Comment("the message ends where its length says, if before the window's end")
		g.be16At(asm.R1, asm.R9, l7Win)
		b.Emit(asm.Add.Imm(asm.R1, 2), asm.JGE.Reg(asm.R1, asm.R4, short), asm.Mov.Reg(asm.R4, asm.R1))
		b.Label(short)
	}
	b.Emit(asm.JLT.Imm(asm.R4, base+12, end), asm.StoreMem(asm.R9, stF(sLim), asm.R4, asm.DWord))
	g.l7SetFact(FactDNS)
	g.dnsVariant(tcp)
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, l7Win+base))
	for _, s := range g.rec.headerSlots(rules.HdrDNS) {
		g.copyRaw(asm.R2, int16(s.key.offset), asm.R10, s.off, s.size)
	}
	query := b.NewLabel("dns.query")
	b.Emit(asm.LoadMem(asm.R1, asm.R2, 2, asm.Byte), asm.JSet.Imm(asm.R1, 0x80, query+".r"), asm.Ja.Label(query))
	b.Label(query + ".r")
	g.l7SetFact(FactDNSResponse)
	b.Label(query)
	if !g.dnsQuestion() {
		b.Label(end)
		return
	}
	b.Comment("first question: qdcount > 0, its name walked label by label")
	b.Emit(asm.LoadMem(asm.R1, asm.R2, 4, asm.Half), asm.JEq.Imm(asm.R1, 0, end))
	b.Emit(asm.Mov.Imm(asm.R1, base+12), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
	b.Emit(storeDW(asm.R9, stF(sWPos), 0), storeDW(asm.R9, stF(sWire), 0))
	b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.l7Loop(rules.MaxDNSSteps, g.l7CtxOff(), fnDNSLabel, g.emitDNSLabel)
	b.Comment("type and class follow the name")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRes), asm.DWord), asm.JGT.Imm(asm.R1, l7WinSize-1, end))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.Add.Imm(asm.R2, 4), asm.LoadMem(asm.R3, asm.R9, stF(sLim), asm.DWord), asm.JGT.Reg(asm.R2, asm.R3, end))
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1))
	for i, k := range []slotKey{{computed: compDNSQType, size: 2, layer: 1}, {computed: compDNSQCls, size: 2, layer: 1}} {
		if s, ok := g.rec.slots[k]; ok {
			g.be16At(asm.R3, asm.R2, l7Win+int16(2*i))
			if k.computed == compDNSQCls && !tcp {
				g.mdnsClass(asm.R3)
			}
			b.Emit(asm.StoreMem(asm.R10, s.off, asm.R3, asm.Half))
		}
	}
	if k := strKeyOf("dns.qry.name"); g.l7.hasString(k) {
		root, named := b.NewLabel("dns.root"), b.NewLabel("dns.named")
		b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sWPos), asm.DWord), asm.JEq.Imm(asm.R4, 0, root), asm.Sub.Imm(asm.R4, 1), asm.Ja.Label(named))
		b.Label(root)
		b.Comment("the root name, as Wireshark shows it")
		b.Emit(asm.LoadImm(asm.R1, int64(nativeWord([]byte("<Root>"))), asm.DWord), asm.StoreMem(asm.R9, l7Name, asm.R1, asm.DWord), asm.Mov.Imm(asm.R4, 6))
		b.Label(named)
		b.Emit(asm.Mov.Imm(asm.R3, l7Name))
		g.strResult(k, asm.R3, asm.R4)
	}
	g.l7SetFact(FactDNSQuery)
	b.Label(end)
}

// dnsQuestion reports whether the rules use the question.
func (g *gen) dnsQuestion() bool {
	if g.l7.hasString(strKeyOf("dns.qry.name")) {
		return true
	}
	return g.rec.has(slotKey{computed: compDNSQType, size: 2, layer: 1}) || g.rec.has(slotKey{computed: compDNSQCls, size: 2, layer: 1})
}

// emitDNSLabel is the callback for one label at sPos: copy it to the name
// at sWPos followed by a dot, or end the name (sRes = the position after it),
// or give up (sRes = notFound).
func (g *gen) emitDNSLabel() {
	b := g.b
	fail := b.NewLabel("label.fail")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLim), asm.DWord))
	b.Emit(asm.JGE.Reg(asm.R1, asm.R2, fail), asm.JGT.Imm(asm.R1, l7WinSize-1, fail))
	b.Emit(asm.Mov.Reg(asm.R7, asm.R9), asm.Add.Reg(asm.R7, asm.R1), asm.LoadMem(asm.R4, asm.R7, l7Win, asm.Byte))
	label := b.NewLabel("label")
	b.Emit(asm.JNE.Imm(asm.R4, 0, label))
	b.Comment("the root label ends the name")
	b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.ret(1)
	b.Label(label)
	b.Comment("a compression pointer or an extended label type: no name")
	b.Emit(asm.Mov.Reg(asm.R3, asm.R4), asm.And.Imm(asm.R3, 0xc0), asm.JNE.Imm(asm.R3, 0, fail))
	b.Emit(asm.Mov.Reg(asm.R5, asm.R1), asm.Add.Imm(asm.R5, 1), asm.Add.Reg(asm.R5, asm.R4), asm.JGT.Reg(asm.R5, asm.R2, fail))
	b.Comment("at most %d bytes on the wire, the root's included", rules.MaxDNSName)
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sWire), asm.DWord), asm.Add.Reg(asm.R0, asm.R4), asm.Add.Imm(asm.R0, 1))
	b.Emit(asm.JGT.Imm(asm.R0, rules.MaxDNSName-1, fail), asm.StoreMem(asm.R9, stF(sWire), asm.R0, asm.DWord))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sWPos), asm.DWord), asm.JGT.Imm(asm.R0, l7NameSize-1, fail))
	b.Emit(asm.Mov.Reg(asm.R8, asm.R9), asm.Add.Reg(asm.R8, asm.R0))
	copied := b.NewLabel("label.copied")
	b.Comment("copy the label, eight bytes at a time (what lies past it is overwritten or never read)")
	for k := int16(0); k < 8; k++ {
		b.Emit(asm.JLE.Imm(asm.R4, int32(8*k), copied))
		b.Emit(asm.LoadMem(asm.R3, asm.R7, l7Win+1+8*k, asm.DWord), asm.StoreMem(asm.R8, l7Name+8*k, asm.R3, asm.DWord))
	}
	b.Label(copied)
	b.Emit(asm.Add.Reg(asm.R8, asm.R4), asm.StoreImm(asm.R8, l7Name, '.', asm.Byte))
	b.Emit(asm.Add.Reg(asm.R0, asm.R4), asm.Add.Imm(asm.R0, 1), asm.StoreMem(asm.R9, stF(sWPos), asm.R0, asm.DWord))
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R5, asm.DWord))
	g.ret(0)
	b.Label(fail)
	b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.ret(1)
}

// dnsVariant sets the fact of the protocol (dns, mdns or llmnr) as
// rules.DNSVariantOf decides, and sDNSMDNS for the question's class. R0, R4
// and R5 are its scratch.
func (g *gen) dnsVariant(tcp bool) {
	b := g.b
	b.Emit(storeDW(asm.R9, stF(sDNSMDNS), 0))
	if tcp {
		g.l7SetFact(FactDNSProto)
		return
	}
	lo, decide, done := b.NewLabel("dnsv.lo"), b.NewLabel("dnsv.decide"), b.NewLabel("dnsv.done")
	mdns, llmnr := b.NewLabel("dnsv.mdns"), b.NewLabel("dnsv.llmnr")
	b.Comment("dns, mdns or llmnr: the lower port decides when it is 53, 5353 or 5355, the higher one otherwise")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sSport), asm.DWord), asm.LoadMem(asm.R5, asm.R9, stF(sDport), asm.DWord))
	b.Emit(asm.JLE.Reg(asm.R4, asm.R5, lo), asm.Mov.Reg(asm.R0, asm.R4), asm.Mov.Reg(asm.R4, asm.R5), asm.Mov.Reg(asm.R5, asm.R0))
	b.Label(lo)
	for _, p := range []int32{53, rules.MDNSPort, rules.LLMNRPort} {
		b.Emit(asm.JEq.Imm(asm.R4, p, decide))
	}
	b.Emit(asm.Mov.Reg(asm.R4, asm.R5))
	b.Label(decide)
	b.Emit(asm.JEq.Imm(asm.R4, rules.MDNSPort, mdns), asm.JEq.Imm(asm.R4, rules.LLMNRPort, llmnr))
	g.l7SetFact(FactDNSProto)
	b.Emit(asm.Ja.Label(done))
	b.Label(mdns)
	g.l7SetFact(FactMDNS)
	b.Emit(storeDW(asm.R9, stF(sDNSMDNS), 1), asm.Ja.Label(done))
	b.Label(llmnr)
	g.l7SetFact(FactLLMNR)
	b.Label(done)
}

// mdnsClass clears the top bit (mDNS's unicast-response bit) of the class
// in reg in an mDNS message. R0 is its scratch.
func (g *gen) mdnsClass(reg asm.Register) {
	b := g.b
	keep := b.NewLabel("mdns.keep")
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sDNSMDNS), asm.DWord), asm.JEq.Imm(asm.R0, 0, keep), asm.And.Imm(reg, 0x7fff))
	b.Label(keep)
}
