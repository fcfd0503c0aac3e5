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
		b.Emit(asm.Add.Imm(asm.R1, 2))
		if g.dnsRecordsUsed() {
			b.Emit(asm.StoreMem(asm.R9, stF(sDNSEnd), asm.R1, asm.DWord))
		}
		b.Emit(asm.JGE.Reg(asm.R1, asm.R4, short), asm.Mov.Reg(asm.R4, asm.R1))
		b.Label(short)
	} else if g.dnsRecordsUsed() {
		b.Comment("the message is the datagram's payload (past the window when longer)")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPLen), asm.DWord), asm.StoreMem(asm.R9, stF(sDNSEnd), asm.R1, asm.DWord))
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
	b.Emit(storeDW(asm.R9, stF(sDNSBase), base))
	if g.dnsQuestion() {
		g.dnsFirstQuestion(tcp, base)
	}
	if g.l7.dnsTx {
		g.dnsTx(tcp, base) // before the records: a CNAME's name reuses sRes
	}
	if g.dnsRecordsUsed() {
		g.dnsRecords(base)
	}
	b.Label(end)
}

// dnsFirstQuestion decodes the first question (R2 on the message).
func (g *gen) dnsFirstQuestion(tcp bool, base int32) {
	b := g.b
	end := b.NewLabel("dns.qend")
	b.Comment("first question: qdcount > 0, its name walked label by label")
	b.Emit(asm.LoadMem(asm.R1, asm.R2, 4, asm.Half), asm.JEq.Imm(asm.R1, 0, end))
	b.Emit(asm.Mov.Imm(asm.R1, base+12), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
	b.Emit(storeDW(asm.R9, stF(sWPos), 0), storeDW(asm.R9, stF(sWire), 0))
	b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
	g.l7Loop(rules.MaxDNSSteps, g.l7CtxOff(), fnDNSLabel, g.emitDNSName(l7Name, false))
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
	g.dnsNameResult(strKeyOf("dns.qry.name"), l7Name)
	g.l7SetFact(FactDNSQuery)
	b.Label(end)
}

// dnsNameResult makes the name a name callback left in buf (sWPos bytes,
// each label followed by a dot) string k's value: without its last dot,
// or <Root> for the root name.
func (g *gen) dnsNameResult(k slotKey, buf int16) {
	if !g.l7.hasString(k) {
		return
	}
	b := g.b
	root, named := b.NewLabel("dns.root"), b.NewLabel("dns.named")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sWPos), asm.DWord), asm.JEq.Imm(asm.R4, 0, root), asm.Sub.Imm(asm.R4, 1), asm.Ja.Label(named))
	b.Label(root)
	b.Comment("the root name, as Wireshark shows it")
	b.Emit(asm.LoadImm(asm.R1, int64(nativeWord([]byte("<Root>"))), asm.DWord), asm.StoreMem(asm.R9, buf, asm.R1, asm.DWord), asm.Mov.Imm(asm.R4, 6))
	b.Label(named)
	b.Emit(asm.Mov.Imm(asm.R3, int32(buf)))
	g.strResult(k, asm.R3, asm.R4)
}

// dnsQuestion reports whether the rules use the question.
func (g *gen) dnsQuestion() bool {
	if g.l7.hasString(strKeyOf("dns.qry.name")) || g.l7.dnsTx {
		return true
	}
	return g.rec.has(slotKey{computed: compDNSQType, size: 2, layer: 1}) || g.rec.has(slotKey{computed: compDNSQCls, size: 2, layer: 1})
}

// Record slots of the response fields.
var (
	keyDNSA    = slotKey{computed: compDNSA, size: 4, layer: 1}
	keyDNSAAAA = slotKey{computed: compDNSAAAA, size: 16, layer: 1}
	keyDNSTTL  = slotKey{computed: compDNSTTL, size: 4, layer: 1}
)

// dnsRecordsUsed reports whether the rules use a field of the records.
func (g *gen) dnsRecordsUsed() bool {
	return g.rec.has(keyDNSA) || g.rec.has(keyDNSAAAA) || g.rec.has(keyDNSTTL) || g.l7.hasString(strKeyOf("dns.cname")) ||
		g.rec.has(truncKey(rules.HdrDNS))
}

// dnsRecords walks the message's entries (rules.MaxDNSRecords at most, in
// rules.MaxDNSWalkSteps steps) for the response fields, then copies what
// the walk found to the record: the first A and AAAA addresses, the first
// TTL, the first CNAME record's name (decoded with its pointers followed).
func (g *gen) dnsRecords(base int32) {
	b := g.b
	walked := b.NewLabel("dns.walked")
	b.Comment("response fields: walk the questions and records (entries = min(qd+an+ns+ar, %d))", rules.MaxDNSRecords)
	for _, f := range []int16{sRA, sRAAAA, sRCName, sRTTL} {
		b.Emit(storeDW(asm.R9, stF(f), 0))
	}
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, l7Win+base))
	g.be16At(asm.R3, asm.R2, 4)
	b.Emit(asm.StoreMem(asm.R9, stF(sRQ), asm.R3, asm.DWord))
	for _, off := range []int16{6, 8, 10} {
		g.be16At(asm.R1, asm.R2, off)
		b.Emit(asm.Add.Reg(asm.R3, asm.R1))
	}
	capped := b.NewLabel("dns.capped")
	b.Comment("sRMore: the message announces more entries than the walk takes")
	b.Emit(storeDW(asm.R9, stF(sRMore), 0))
	b.Emit(asm.JLE.Imm(asm.R3, rules.MaxDNSRecords, capped), asm.Mov.Imm(asm.R3, rules.MaxDNSRecords), storeDW(asm.R9, stF(sRMore), 1))
	b.Label(capped)
	b.Emit(asm.JEq.Imm(asm.R3, 0, walked), asm.StoreMem(asm.R9, stF(sREnt), asm.R3, asm.DWord))
	b.Emit(asm.Mov.Imm(asm.R1, base+12), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), storeDW(asm.R9, stF(sRInName), 1))
	b.Comment("one more pass than the bound of steps: it tells whether the walk goes on past it")
	g.l7Loop(rules.MaxDNSWalkSteps+1, g.l7CtxOff(), fnDNSRecord, g.emitDNSRecord)
	b.Label(walked)

	b.Comment("the first A record's address, raw")
	noA := b.NewLabel("dns.noa")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRA), asm.DWord), asm.JEq.Imm(asm.R1, 0, noA), asm.JGT.Imm(asm.R1, l7WinSize-4, noA))
	if s, ok := g.rec.slots[keyDNSA]; ok {
		b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1))
		b.Emit(asm.LoadMem(asm.R3, asm.R2, l7Win, asm.Word), asm.StoreMem(asm.R10, s.off, asm.R3, asm.Word))
	}
	g.l7SetFact(FactDNSA)
	b.Label(noA)

	b.Comment("the first AAAA record's address, raw")
	noAAAA := b.NewLabel("dns.noaaaa")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRAAAA), asm.DWord), asm.JEq.Imm(asm.R1, 0, noAAAA), asm.JGT.Imm(asm.R1, l7WinSize-16, noAAAA))
	if s, ok := g.rec.slots[keyDNSAAAA]; ok {
		b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1))
		b.Emit(asm.LoadMem(asm.R3, asm.R2, l7Win, asm.DWord), asm.StoreMem(asm.R10, s.off, asm.R3, asm.DWord))
		b.Emit(asm.LoadMem(asm.R3, asm.R2, l7Win+8, asm.DWord), asm.StoreMem(asm.R10, s.off+8, asm.R3, asm.DWord))
	}
	g.l7SetFact(FactDNSAAAA)
	b.Label(noAAAA)

	b.Comment("the first TTL (bit 32: found), host order")
	noTTL := b.NewLabel("dns.nottl")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRTTL), asm.DWord), asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, 32), asm.JEq.Imm(asm.R2, 0, noTTL))
	if s, ok := g.rec.slots[keyDNSTTL]; ok {
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
	}
	g.l7SetFact(FactDNSTTL)
	b.Label(noTTL)

	if k := strKeyOf("dns.cname"); g.l7.hasString(k) {
		b.Comment("the first CNAME record's name, its pointers followed")
		noCN := b.NewLabel("dns.nocname")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRCName), asm.DWord), asm.JEq.Imm(asm.R1, 0, noCN))
		b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), asm.StoreMem(asm.R9, stF(sRun), asm.R1, asm.DWord))
		b.Emit(storeDW(asm.R9, stF(sWPos), 0), storeDW(asm.R9, stF(sWire), 0))
		b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
		g.l7Loop(rules.MaxDNSSteps, g.l7CtxOff(), fnDNSName, g.emitDNSName(l7CName, true))
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRes), asm.DWord), asm.JGT.Imm(asm.R1, l7WinSize-1, noCN))
		g.dnsNameResult(k, l7CName)
		b.Label(noCN)
	}
}

// DNS record types the walk looks for, and OPT, whose TTL field holds
// EDNS flags (Wireshark shows no dns.resp.ttl for it).
const (
	dnsTypeA     = 1
	dnsTypeCNAME = 5
	dnsTypeAAAA  = 28
	dnsTypeOPT   = 41
)

const (
	fnDNSRecord = "hdrlog_l7_dns_record"
	fnDNSName   = "hdrlog_l7_dns_name"
)

// emitDNSRecord is the callback for one step of the record walk at sPos
// (before sLim): in an entry's name (sRInName), one label, or its end (the
// root label or a pointer); otherwise the entry's fixed part: 4 bytes of a
// question (sRQ of them first), or a record's 10 bytes and data, noted
// when it is the first of its kind. It stops when sREnt entries are done
// or an entry runs past the message.
func (g *gen) emitDNSRecord() {
	b := g.b
	stop, fixed, ended, next := b.NewLabel("rr.stop"), b.NewLabel("rr.fixed"), b.NewLabel("rr.ended"), b.NewLabel("rr.next")
	steps := b.NewLabel("rr.steps")
	b.Emit(asm.JGE.Imm(asm.R1, rules.MaxDNSWalkSteps, steps))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLim), asm.DWord))
	cutR0, cutR1, cutR5, cutR8 := b.NewLabel("rr.cut0"), b.NewLabel("rr.cut1"), b.NewLabel("rr.cut5"), b.NewLabel("rr.cut8")
	b.Emit(asm.Mov.Reg(asm.R0, asm.R1), asm.Add.Imm(asm.R0, 1), asm.JGE.Reg(asm.R1, asm.R2, cutR0), asm.JGT.Imm(asm.R1, l7WinSize-1, stop))
	b.Emit(asm.Mov.Reg(asm.R7, asm.R9), asm.Add.Reg(asm.R7, asm.R1))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sRInName), asm.DWord), asm.JEq.Imm(asm.R3, 0, fixed))

	b.Comment("the name: a label, or its end (the root label, or a pointer)")
	nz, label := b.NewLabel("rr.nz"), b.NewLabel("rr.label")
	b.Emit(asm.LoadMem(asm.R4, asm.R7, l7Win, asm.Byte), asm.JNE.Imm(asm.R4, 0, nz), asm.Add.Imm(asm.R1, 1), asm.Ja.Label(ended))
	b.Label(nz)
	b.Emit(asm.Mov.Reg(asm.R3, asm.R4), asm.And.Imm(asm.R3, 0xc0), asm.JNE.Imm(asm.R3, 0xc0, label))
	b.Emit(asm.Add.Imm(asm.R1, 2), asm.JGT.Reg(asm.R1, asm.R2, cutR1), asm.Ja.Label(ended))
	b.Label(label)
	b.Emit(asm.JNE.Imm(asm.R3, 0, stop), asm.Add.Imm(asm.R1, 1), asm.Add.Reg(asm.R1, asm.R4), asm.JGT.Reg(asm.R1, asm.R2, cutR1))
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
	g.ret(0)
	b.Label(ended)
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), storeDW(asm.R9, stF(sRInName), 0))
	g.ret(0)

	b.Label(fixed)
	record := b.NewLabel("rr.record")
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sRQ), asm.DWord), asm.JEq.Imm(asm.R3, 0, record))
	b.Comment("a question: type and class")
	b.Emit(asm.Sub.Imm(asm.R3, 1), asm.StoreMem(asm.R9, stF(sRQ), asm.R3, asm.DWord))
	b.Emit(asm.Add.Imm(asm.R1, 4), asm.JGT.Reg(asm.R1, asm.R2, cutR1), asm.Ja.Label(next))
	b.Label(record)
	b.Comment("a record: type, class, TTL, data length (r5 = its data, r8 = its end)")
	done := b.NewLabel("rr.done")
	b.Emit(asm.Mov.Reg(asm.R5, asm.R1), asm.Add.Imm(asm.R5, 10), asm.JGT.Reg(asm.R5, asm.R2, cutR5))
	g.be16At(asm.R8, asm.R7, l7Win+8)
	b.Emit(asm.Add.Reg(asm.R8, asm.R5), asm.JGT.Reg(asm.R8, asm.R2, cutR8))
	g.be16At(asm.R3, asm.R7, l7Win)
	noTTL := b.NewLabel("rr.nottl")
	b.Emit(asm.JEq.Imm(asm.R3, dnsTypeOPT, noTTL), asm.LoadMem(asm.R0, asm.R9, stF(sRTTL), asm.DWord), asm.JNE.Imm(asm.R0, 0, noTTL))
	b.Emit(asm.LoadMem(asm.R0, asm.R7, l7Win+4, asm.Word), asm.HostTo(asm.BE, asm.R0, asm.Word))
	b.Emit(asm.LoadImm(asm.R4, 1<<32, asm.DWord), asm.Or.Reg(asm.R0, asm.R4), asm.StoreMem(asm.R9, stF(sRTTL), asm.R0, asm.DWord))
	b.Label(noTTL)
	notA, notAAAA := b.NewLabel("rr.nota"), b.NewLabel("rr.notaaaa")
	b.Emit(asm.JNE.Imm(asm.R3, dnsTypeA, notA))
	b.Comment("A: at least 4 bytes of data (any class, as Wireshark)")
	b.Emit(asm.Mov.Reg(asm.R0, asm.R8), asm.Sub.Reg(asm.R0, asm.R5), asm.JLT.Imm(asm.R0, 4, done))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sRA), asm.DWord), asm.JNE.Imm(asm.R0, 0, done), asm.StoreMem(asm.R9, stF(sRA), asm.R5, asm.DWord), asm.Ja.Label(done))
	b.Label(notA)
	b.Emit(asm.JNE.Imm(asm.R3, dnsTypeAAAA, notAAAA))
	b.Comment("AAAA: at least 16 bytes of data")
	b.Emit(asm.Mov.Reg(asm.R0, asm.R8), asm.Sub.Reg(asm.R0, asm.R5), asm.JLT.Imm(asm.R0, 16, done))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sRAAAA), asm.DWord), asm.JNE.Imm(asm.R0, 0, done), asm.StoreMem(asm.R9, stF(sRAAAA), asm.R5, asm.DWord), asm.Ja.Label(done))
	b.Label(notAAAA)
	b.Comment("CNAME: the first one's data (its name is decoded after the walk)")
	b.Emit(asm.JNE.Imm(asm.R3, dnsTypeCNAME, done))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sRCName), asm.DWord), asm.JNE.Imm(asm.R0, 0, done), asm.StoreMem(asm.R9, stF(sRCName), asm.R5, asm.DWord))
	b.Label(done)
	b.Emit(asm.Mov.Reg(asm.R1, asm.R8))
	b.Label(next)
	b.Comment("the entry is done: the next one starts with its name")
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), storeDW(asm.R9, stF(sRInName), 1))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sREnt), asm.DWord), asm.Sub.Imm(asm.R3, 1), asm.StoreMem(asm.R9, stF(sREnt), asm.R3, asm.DWord))
	last := b.NewLabel("rr.last")
	b.Emit(asm.JEq.Imm(asm.R3, 0, last))
	g.ret(0)
	b.Label(last)
	b.Comment("the last entry walked: more announced is a limit")
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sRMore), asm.DWord), asm.JEq.Imm(asm.R3, 0, stop))
	g.l7Limit(rules.LimitDNSEntries)
	g.ret(1)
	b.Label(cutR1)
	b.Emit(asm.Mov.Reg(asm.R0, asm.R1), asm.Ja.Label(cutR0))
	b.Label(cutR5)
	b.Emit(asm.Mov.Reg(asm.R0, asm.R5), asm.Ja.Label(cutR0))
	b.Label(cutR8)
	b.Emit(asm.Mov.Reg(asm.R0, asm.R8))
	b.Label(cutR0)
	b.Comment("r0, past the bytes present, is within the message: it goes on past them")
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sDNSEnd), asm.DWord), asm.JGT.Reg(asm.R0, asm.R3, stop))
	g.l7Limit(rules.LimitDNSCut)
	g.ret(1)
	b.Label(steps)
	b.Comment("the walk goes on past %d steps", rules.MaxDNSWalkSteps)
	g.l7Limit(rules.LimitDNSSteps)
	b.Label(stop)
	g.ret(1)
}

// emitDNSName returns the callback for one label at sPos of a name written
// dotted to buf: copy it to buf at sWPos followed by a dot, or end the
// name (sRes = the position after it), or give up (sRes = notFound). With
// pointers, a compression pointer before sRun (the start of the current
// label run) and at or after sDNSBase is followed; without, it ends the
// name as invalid.
func (g *gen) emitDNSName(buf int16, pointers bool) func() {
	return func() {
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
		b.Emit(asm.Mov.Reg(asm.R3, asm.R4), asm.And.Imm(asm.R3, 0xc0))
		if pointers {
			plain := b.NewLabel("label.plain")
			b.Comment("a compression pointer: followed when it points before the current run")
			b.Emit(asm.JNE.Imm(asm.R3, 0xc0, plain))
			b.Emit(asm.Mov.Reg(asm.R5, asm.R1), asm.Add.Imm(asm.R5, 2), asm.JGT.Reg(asm.R5, asm.R2, fail))
			b.Emit(asm.LoadMem(asm.R3, asm.R7, l7Win+1, asm.Byte), asm.And.Imm(asm.R4, 0x3f), asm.LSh.Imm(asm.R4, 8), asm.Or.Reg(asm.R4, asm.R3))
			b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sDNSBase), asm.DWord), asm.Add.Reg(asm.R4, asm.R3))
			b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sRun), asm.DWord), asm.JGE.Reg(asm.R4, asm.R3, fail))
			b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R4, asm.DWord), asm.StoreMem(asm.R9, stF(sRun), asm.R4, asm.DWord))
			g.ret(0)
			b.Label(plain)
		}
		b.Comment("an extended label type%s: no name", map[bool]string{false: " or a compression pointer", true: ""}[pointers])
		b.Emit(asm.JNE.Imm(asm.R3, 0, fail))
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
			b.Emit(asm.LoadMem(asm.R3, asm.R7, l7Win+1+8*k, asm.DWord), asm.StoreMem(asm.R8, buf+8*k, asm.R3, asm.DWord))
		}
		b.Label(copied)
		b.Emit(asm.Add.Reg(asm.R8, asm.R4), asm.StoreImm(asm.R8, buf, '.', asm.Byte))
		b.Emit(asm.Add.Reg(asm.R0, asm.R4), asm.Add.Imm(asm.R0, 1), asm.StoreMem(asm.R9, stF(sWPos), asm.R0, asm.DWord))
		b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R5, asm.DWord))
		g.ret(0)
		b.Label(fail)
		b.Emit(asm.Mov.Imm(asm.R1, notFound), asm.StoreMem(asm.R9, stF(sRes), asm.R1, asm.DWord))
		g.ret(1)
	}
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
