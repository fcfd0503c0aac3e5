package compiler

import (
	"unsafe"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// DNS transactions (tx.go, rules/dnstx.go): a query waits in dns_tx under
// its flow, id and transport; a response from the other side with the same
// question (a 64-bit FNV-1a hash of its bytes) takes it and gets dns.time.

// DNSTxMap holds each flow and id's query (LRU).
const DNSTxMap = "dns_tx"

// txDNSFlow is a dns_tx value.
type txDNSFlow struct {
	Head, Tail uint32 // 0, 1 while the query waits; equal once answered or given up
	Side       uint32 // 1 + the direction (sTxDir) of the query's sender; 0: none
	_          uint32
	Time       uint64 // the query's time (txNow)
	Hash       uint64 // the question's hash
}

const (
	txDNSFlowSize = int(unsafe.Sizeof(txDNSFlow{}))
	tdHead        = int16(unsafe.Offsetof(txDNSFlow{}.Head))
	tdTail        = int16(unsafe.Offsetof(txDNSFlow{}.Tail))
	tdSide        = int16(unsafe.Offsetof(txDNSFlow{}.Side))
	tdTime        = int16(unsafe.Offsetof(txDNSFlow{}.Time))
	tdHash        = int16(unsafe.Offsetof(txDNSFlow{}.Hash))

	compDNSTime = "dns.time"           // u32 microseconds
	compTLSTime = "tls.handshake.time" // u32 microseconds
	fnDNSHash   = "hdrlog_l7_dns_hash"
)

var _ [txFlowMax - txDNSFlowSize]byte // a new entry is created from l7TxZero

var (
	keyDNSTime = slotKey{computed: compDNSTime, size: 4, layer: 1}
	keyTLSTime = slotKey{computed: compTLSTime, size: 4, layer: 1}
)

// TLSTxMap holds each flow's ClientHello (LRU), with dns_tx's layout.
const TLSTxMap = "tls_tx"

// dnsTx keeps a query or pairs a response (the first question decoded:
// sRes is where its name ends).
func (g *gen) dnsTx(tcp bool, base int32) {
	b := g.b
	done := b.NewLabel("dnstx.done")
	b.Comment("DNS transaction: the question's hash, then the query kept or the response paired")
	g.unlessFact(FactDNSQuery, done)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sRes), asm.DWord), asm.Add.Imm(asm.R1, 4), asm.StoreMem(asm.R9, stF(sLEnd), asm.R1, asm.DWord))
	b.Emit(asm.Mov.Imm(asm.R1, base+12), asm.StoreMem(asm.R9, stF(sLPos), asm.R1, asm.DWord))
	b.Emit(asm.LoadImm(asm.R1, rules.FNVOffset64-1<<64, asm.DWord), asm.StoreMem(asm.R9, stF(sLOut), asm.R1, asm.DWord))
	g.l7Loop(rules.MaxDNSName+5, g.l7CtxOff(), fnDNSHash, g.emitDNSHash)
	g.txKey(TxDNS, done)
	b.Comment("the key's id: the DNS id, and the transport (UDP and TCP apart)")
	g.be16At(asm.R1, asm.R9, l7Win+int16(base))
	if tcp {
		b.Emit(asm.Or.Imm(asm.R1, 1<<16))
	}
	b.Emit(asm.StoreMem(asm.R9, stF(sTxKey)+tkID, asm.R1, asm.Word))
	g.txNow()
	g.txSingle(TxDNS, DNSTxMap, keyDNSTime, FactDNSTx, done, func(response string) {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord), asm.JSet.Imm(asm.R1, 1<<FactDNSResponse, response))
	})
	b.Label(done)
}

// tlsTx keeps a ClientHello or pairs a ServerHello (rules/dnstx.go): as
// DNS, with the flow alone as the key and no question.
func (g *gen) tlsTx() {
	b := g.b
	done := b.NewLabel("tlstx.done")
	b.Comment("TLS handshake transaction: the ClientHello kept, the ServerHello paired")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord), asm.JSet.Imm(asm.R1, 1<<FactTLSHello, done+".hello"), asm.Ja.Label(done))
	b.Label(done + ".hello")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JEq.Imm(asm.R1, 0, done), asm.JGT.Imm(asm.R1, 2, done))
	b.Emit(storeDW(asm.R9, stF(sLOut), 0))
	g.txKey(TxTLS, done)
	g.txNow()
	g.txSingle(TxTLS, TLSTxMap, keyTLSTime, FactTLSTx, done, func(response string) {
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sHello), asm.DWord), asm.JEq.Imm(asm.R1, 2, response))
	})
	b.Label(done)
}

// txSingle keeps a request or pairs a response, one per key (sTxKey, the
// time at sTxNow, a hash of the message at sLOut): isResponse jumps to its
// label on a response. The response gets the time (slot key, fact).
func (g *gen) txSingle(p TxProto, m string, key slotKey, fact int, done string, isResponse func(string)) {
	b := g.b
	response, orphan := b.NewLabel("tx1.resp"), b.NewLabel("tx1.orphan")
	isResponse(response)

	b.Comment("a query: the same one again (same side and question, waiting, in time) keeps the first one's time")
	replace, fresh, expired := b.NewLabel("dnstx.replace"), b.NewLabel("dnstx.fresh"), b.NewLabel("dnstx.expired")
	g.txLookupOrCreate(m, done)
	b.Emit(asm.LoadMem(asm.R1, asm.R8, tdHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, tdTail, asm.Word), asm.JEq.Reg(asm.R1, asm.R2, fresh))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, tdSide, asm.Word), asm.LoadMem(asm.R3, asm.R9, stF(sTxDir), asm.DWord), asm.Add.Imm(asm.R3, 1), asm.JNE.Reg(asm.R2, asm.R3, replace))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, tdHash, asm.DWord), asm.LoadMem(asm.R3, asm.R9, stF(sLOut), asm.DWord), asm.JNE.Reg(asm.R2, asm.R3, replace))
	g.dnsTxAge(replace)
	b.Emit(asm.Ja.Label(done))
	b.Label(replace)
	b.Comment("another query of the id replaces the waiting one (counted: timed out, or pushed out)")
	g.dnsTxAge(expired)
	g.txAdd(p, TxOverflow, false)
	b.Emit(asm.Ja.Label(fresh))
	b.Label(expired)
	g.txAdd(p, TxTimeouts, false)
	b.Label(fresh)
	b.Emit(asm.StoreImm(asm.R8, tdHead, 0, asm.Word), asm.StoreImm(asm.R8, tdTail, 1, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxDir), asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R8, tdSide, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.StoreMem(asm.R8, tdTime, asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLOut), asm.DWord), asm.StoreMem(asm.R8, tdHash, asm.R1, asm.DWord))
	g.txAdd(p, TxRequests, false)
	b.Emit(asm.Ja.Label(done))

	b.Label(response)
	b.Comment("a response: from the other side than the query's, with its question")
	late, again, timeout, given := b.NewLabel("dnstx.late"), b.NewLabel("dnstx.again"), b.NewLabel("dnstx.timeout"), b.NewLabel("dnstx.given")
	g.txLookup(m, orphan)
	b.Emit(asm.LoadMem(asm.R2, asm.R8, tdSide, asm.Word), asm.JEq.Imm(asm.R2, 0, orphan))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sTxDir), asm.DWord), asm.Add.Imm(asm.R3, 1), asm.JEq.Reg(asm.R2, asm.R3, orphan))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, tdHash, asm.DWord), asm.LoadMem(asm.R3, asm.R9, stF(sLOut), asm.DWord), asm.JNE.Reg(asm.R2, asm.R3, orphan))
	g.dnsTxAge(timeout)
	b.Comment("the first response takes the query (counted); the same one again gets the same time")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, tdHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, tdTail, asm.Word), asm.JEq.Reg(asm.R1, asm.R2, again))
	b.Emit(asm.StoreMem(asm.R8, tdHead, asm.R2, asm.Word))
	g.txAdd(p, TxPaired, false)
	b.Label(again)
	b.Comment("dns.time: microseconds from the query (0 when the clock went back)")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.LoadMem(asm.R2, asm.R8, tdTime, asm.DWord))
	b.Emit(asm.Mov.Imm(asm.R0, 0), asm.JLT.Reg(asm.R1, asm.R2, late), asm.Sub.Reg(asm.R1, asm.R2), asm.Div.Imm(asm.R1, 1000), asm.Mov.Reg(asm.R0, asm.R1))
	b.Emit(asm.LoadImm(asm.R1, 0xffffffff, asm.DWord), asm.JLE.Reg(asm.R0, asm.R1, late), asm.Mov.Reg(asm.R0, asm.R1))
	b.Label(late)
	if s, ok := g.rec.slots[key]; ok {
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R0, asm.Word))
	}
	g.l7SetFact(fact)
	b.Emit(asm.Ja.Label(done))
	b.Label(timeout)
	b.Comment("waited too long: not paired (counted once), and the entry answers nothing more")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, tdHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, tdTail, asm.Word), asm.JEq.Reg(asm.R1, asm.R2, given))
	b.Emit(asm.StoreMem(asm.R8, tdHead, asm.R2, asm.Word))
	g.txAdd(p, TxTimeouts, false)
	b.Label(given)
	b.Emit(asm.StoreImm(asm.R8, tdSide, 0, asm.Word), asm.Ja.Label(done))
	b.Label(orphan)
	g.txAdd(p, TxOrphans, false)
}

// dnsTxAge jumps to old when the query in R8 waited longer than
// rules.DNSTxTimeoutNanos (signed: a clock gone back is not old).
func (g *gen) dnsTxAge(old string) {
	b := g.b
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.LoadMem(asm.R2, asm.R8, tdTime, asm.DWord), asm.Sub.Reg(asm.R1, asm.R2))
	b.Emit(asm.LoadImm(asm.R2, rules.DNSTxTimeoutNanos, asm.DWord), asm.JSGT.Reg(asm.R1, asm.R2, old))
}

// emitDNSHash is the callback for one byte of the question, at sLPos
// before sLEnd: FNV-1a into sLOut.
func (g *gen) emitDNSHash() {
	b := g.b
	more := b.NewLabel("hash.more")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLEnd), asm.DWord))
	b.Emit(asm.JGE.Reg(asm.R1, asm.R2, more+".end"), asm.JGT.Imm(asm.R1, l7WinSize-1, more+".end"), asm.Ja.Label(more))
	b.Label(more + ".end")
	g.ret(1)
	b.Label(more)
	b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1), asm.LoadMem(asm.R4, asm.R3, l7Win, asm.Byte))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sLOut), asm.DWord), asm.Xor.Reg(asm.R0, asm.R4))
	b.Emit(asm.LoadImm(asm.R5, rules.FNVPrime64, asm.DWord), asm.Mul.Reg(asm.R0, asm.R5), asm.StoreMem(asm.R9, stF(sLOut), asm.R0, asm.DWord))
	b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sLPos), asm.R1, asm.DWord))
	g.ret(0)
}
