package compiler

import (
	"unsafe"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// HTTP transactions (tx.go, rules/transactions.go): each request is queued
// on its flow in http_tx, each response takes the oldest waiting request
// and gets http.time and the request's values.

// txHTTPFlow is an http_tx value: a queue of rules.TxDepth requests
// (txHTTPReq, each txHTTPReqSize bytes, or txHTTPReqFull with the
// request's values) after this header.
type txHTTPFlow struct {
	Head, Tail uint32 // requests waiting: Tail - Head; the oldest in slot Head % TxDepth
	Side       uint32 // 1 + the direction (sTxDir) of the endpoint that sends the requests; 0: none yet
	LastResp   uint32 // id of the last response paired
	LastSlot   uint32 // 1 + the slot of its request; 0: none
	_          [3]uint32
}

// txHTTPReq is a waiting request. A length of txAbsent: the value was
// missing, or longer than kept.
type txHTTPReq struct {
	Time             uint64 // nanoseconds (txNow)
	ID               uint32 // sTxID
	MLen, ULen, HLen uint16
	_                [6]byte
	Method           [rules.TxMethodLen]byte
	URI              [rules.TxURILen]byte
	Host             [rules.TxHostLen]byte
}

const (
	txAbsent      = 0xffff
	txHTTPHead    = int16(unsafe.Sizeof(txHTTPFlow{}))
	txHTTPReqFull = int16(unsafe.Sizeof(txHTTPReq{}))
	txHTTPReqSize = int16(unsafe.Offsetof(txHTTPReq{}.Method))
	txStrBytes    = rules.TxMethodLen + rules.TxURILen + rules.TxHostLen
	// txFlowMax is the largest http_tx value (untyped, for the l7 layout;
	// checked against the structs below).
	txFlowMax = 32 + rules.TxDepth*(24+txStrBytes)

	thHead     = int16(unsafe.Offsetof(txHTTPFlow{}.Head))
	thTail     = int16(unsafe.Offsetof(txHTTPFlow{}.Tail))
	thSide     = int16(unsafe.Offsetof(txHTTPFlow{}.Side))
	thLastResp = int16(unsafe.Offsetof(txHTTPFlow{}.LastResp))
	thLastSlot = int16(unsafe.Offsetof(txHTTPFlow{}.LastSlot))
	trTime     = int16(unsafe.Offsetof(txHTTPReq{}.Time))
	trID       = int16(unsafe.Offsetof(txHTTPReq{}.ID))
)

var _ [txFlowMax - int(txHTTPHead) - rules.TxDepth*int(txHTTPReqFull)]byte
var _ [int(txHTTPHead) + rules.TxDepth*int(txHTTPReqFull) - txFlowMax]byte

// txHTTPStrings are the request's values a response carries: the field on
// the response, the request's field, where the length and the bytes sit in
// a queue slot, how many bytes are kept, and where they go in the l7 value.
var txHTTPStrings = []struct {
	resp, req    string
	lenAt, valAt int16
	size         int
	win          int16
}{
	{"http.response_for.method", "http.request.method", int16(unsafe.Offsetof(txHTTPReq{}.MLen)), int16(unsafe.Offsetof(txHTTPReq{}.Method)), rules.TxMethodLen, l7Tx},
	{"http.response_for.uri", "http.request.uri", int16(unsafe.Offsetof(txHTTPReq{}.ULen)), int16(unsafe.Offsetof(txHTTPReq{}.URI)), rules.TxURILen, l7Tx + rules.TxMethodLen},
	{"http.response_for.host", "http.host", int16(unsafe.Offsetof(txHTTPReq{}.HLen)), int16(unsafe.Offsetof(txHTTPReq{}.Host)), rules.TxHostLen, l7Tx + rules.TxMethodLen + rules.TxURILen},
}

// httpTxValue is the size of an http_tx value.
func (o Options) httpTxValue() int {
	return int(txHTTPHead) + rules.TxDepth*int(o.txReqSize())
}

func (o Options) txReqSize() int16 {
	if o.txStrings {
		return txHTTPReqFull
	}
	return txHTTPReqSize
}

// usesTxStrings reports whether a rule uses a request's values on its
// response.
func usesTxStrings(rs *rules.RuleSet) bool {
	used := false
	for _, r := range rs.Rules {
		check := func(ref rules.FieldRef) { _, ok := rules.TxStringFields[ref.Field.Name]; used = used || ok }
		walkRefs(r.Match, check)
		for _, lf := range r.Log {
			check(lf.Ref)
		}
	}
	return used
}

// txSlotPtr sets R5 to the queue slot whose index is at sTxSlot, from the
// flow's value in R8.
func (g *gen) txSlotPtr() {
	b := g.b
	b.Emit(asm.LoadMem(asm.R5, asm.R9, stF(sTxSlot), asm.DWord), asm.And.Imm(asm.R5, rules.TxDepth-1))
	b.Emit(asm.Mul.Imm(asm.R5, int32(g.opts.txReqSize())), asm.Add.Imm(asm.R5, int32(txHTTPHead)), asm.Add.Reg(asm.R5, asm.R8))
}

// hasFact jumps to no unless the decoders found fact.
func (g *gen) unlessFact(fact int, no string) {
	g.b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord), asm.And.Imm(asm.R1, 1<<fact), asm.JEq.Imm(asm.R1, 0, no))
}

// httpTxRequest queues the decoded request on its flow.
func (g *gen) httpTxRequest() {
	b := g.b
	done := b.NewLabel("txreq.done")
	b.Comment("HTTP transaction: queue the request on its flow")
	g.unlessFact(FactHTTPRequest, done)
	g.txKey(TxHTTP, done)
	g.txLookupOrCreate(HTTPTxMap, done)
	g.txNow()
	g.txID()
	b.Comment("requests from the other endpoint than before: the waiting ones are dropped (counted)")
	same := b.NewLabel("txreq.same")
	b.Emit(asm.LoadMem(asm.R2, asm.R8, thSide, asm.Word), asm.JEq.Imm(asm.R2, txCutSide, done))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sTxDir), asm.DWord), asm.Add.Imm(asm.R3, 1))
	b.Emit(asm.JEq.Reg(asm.R2, asm.R3, same), asm.StoreMem(asm.R8, thSide, asm.R3, asm.Word), asm.JEq.Imm(asm.R2, 0, same))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, thTail, asm.Word), asm.StoreMem(asm.R8, thHead, asm.R2, asm.Word))
	b.Emit(asm.Sub.Reg32(asm.R2, asm.R1), asm.JEq.Imm(asm.R2, 0, same), asm.StoreMem(asm.R9, stF(sTxTmp), asm.R2, asm.DWord))
	g.txAdd(TxHTTP, TxOverflow, true)
	b.Label(same)
	b.Comment("the same request seen again (a retransmission, another hook) is queued once")
	fresh := b.NewLabel("txreq.fresh")
	for k := range rules.TxDepth {
		b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, thTail, asm.Word))
		b.Emit(asm.Sub.Reg32(asm.R2, asm.R1), asm.JLE.Imm(asm.R2, int32(k), fresh))
		b.Emit(asm.Add.Imm(asm.R1, int32(k)), asm.StoreMem(asm.R9, stF(sTxSlot), asm.R1, asm.DWord))
		g.txSlotPtr()
		b.Emit(asm.LoadMem(asm.R1, asm.R5, trID, asm.Word), asm.LoadMem(asm.R2, asm.R9, stF(sTxID), asm.DWord), asm.JEq.Reg(asm.R1, asm.R2, done))
	}
	b.Label(fresh)
	b.Comment("a full queue: the oldest request goes (counted)")
	room := b.NewLabel("txreq.room")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, thTail, asm.Word))
	b.Emit(asm.Sub.Reg32(asm.R2, asm.R1), asm.JLT.Imm(asm.R2, rules.TxDepth, room))
	b.Emit(asm.Add.Imm32(asm.R1, 1), asm.StoreMem(asm.R8, thHead, asm.R1, asm.Word))
	g.txAdd(TxHTTP, TxOverflow, false)
	b.Label(room)
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thTail, asm.Word), asm.StoreMem(asm.R9, stF(sTxSlot), asm.R1, asm.DWord))
	b.Emit(asm.Add.Imm32(asm.R1, 1), asm.StoreMem(asm.R8, thTail, asm.R1, asm.Word))
	b.Comment("the slot's old request is gone: a repeat of the response that took it pairs no more")
	kept := b.NewLabel("txreq.kept")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxSlot), asm.DWord), asm.And.Imm(asm.R1, rules.TxDepth-1), asm.Add.Imm(asm.R1, 1))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, thLastSlot, asm.Word), asm.JNE.Reg(asm.R1, asm.R2, kept), asm.StoreImm(asm.R8, thLastSlot, 0, asm.Word))
	b.Label(kept)
	g.txSlotPtr()
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.StoreMem(asm.R5, trTime, asm.R1, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxID), asm.DWord), asm.StoreMem(asm.R5, trID, asm.R1, asm.Word))
	if g.opts.txStrings {
		for _, s := range txHTTPStrings {
			g.txKeepString(s.req, s.lenAt, s.valAt, s.size)
		}
	}
	g.txAdd(TxHTTP, TxRequests, false)
	b.Label(done)
}

// txKeepString copies string result req (at most size bytes) into the
// queue slot at R5; a missing or longer value is kept as txAbsent.
func (g *gen) txKeepString(req string, lenAt, valAt int16, size int) {
	b := g.b
	i, ok := g.l7.strings[strKeyOf(req)]
	if !ok {
		b.Emit(asm.StoreImm(asm.R5, lenAt, txAbsent, asm.Half))
		return
	}
	absent, done := b.NewLabel("txkeep.absent"), b.NewLabel("txkeep.done")
	b.Comment("keep %s for the response", req)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sStr)+int16(8*i)+4, asm.Byte), asm.JEq.Imm(asm.R1, 0, absent))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sStr)+int16(8*i)+2, asm.Half), asm.JGT.Imm(asm.R2, int32(size), absent))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sStr)+int16(8*i), asm.Half), asm.JGT.Imm(asm.R3, l7OffMax, absent), asm.Add.Reg(asm.R3, asm.R9))
	src, tmp := asm.R3, asm.R1
	if req == "http.request.uri" {
		// The target waits in the map for its response: kept masked
		// (its userinfo, the values of secret query parameters), as
		// every URL field is in events, so that the map holds no
		// secret. R5 (the slot) is clobbered by the masking's calls.
		b.Comment("mask the target before it is kept")
		lost := b.NewLabel("txkeep.lost")
		g.maskURLFrom(asm.R9, stF(sStr)+int16(8*i), FieldSlot{MaxLen: size, MaskQuery: g.txMask}, lost)
		b.Emit(asm.Mov.Reg(asm.R0, asm.R1))
		g.txSlotPtr()
		b.Emit(asm.Mov.Reg(asm.R1, asm.R0))
		// R2: min(length, size), the length itself (it is at most size).
		src, tmp = asm.R1, asm.R3
		skip := b.NewLabel("txkeep.masked")
		b.Emit(asm.Ja.Label(skip))
		b.Label(lost)
		g.txSlotPtr()
		b.Emit(asm.Ja.Label(absent))
		b.Label(skip)
	}
	b.Emit(asm.StoreMem(asm.R5, lenAt, asm.R2, asm.Half))
	// Only the value's bytes: the window's bytes after it (the next
	// header lines, an Authorization among them) must not outlive the
	// packet in the map; the slot's words past the value are zeroed.
	for off := 0; off < size; off += 8 {
		whole, zero, next := b.NewLabel("txkeep.word"), b.NewLabel("txkeep.zero"), b.NewLabel("txkeep.next")
		b.Emit(asm.JLE.Imm(asm.R2, int32(off), zero))
		b.Emit(asm.LoadMem(asm.R4, src, int16(off), asm.DWord), asm.JGE.Imm(asm.R2, int32(off+8), whole))
		b.Emit(asm.Mov.Reg(tmp, asm.R2), asm.Sub.Imm(tmp, int32(off)), asm.LSh.Imm(tmp, 3))
		b.Emit(asm.Mov.Imm(asm.R0, 1), asm.LSh.Reg(asm.R0, tmp), asm.Sub.Imm(asm.R0, 1), asm.And.Reg(asm.R4, asm.R0))
		b.Label(whole)
		b.Emit(asm.StoreMem(asm.R5, valAt+int16(off), asm.R4, asm.DWord), asm.Ja.Label(next))
		b.Label(zero)
		b.Emit(storeDW(asm.R5, valAt+int16(off), 0))
		b.Label(next)
	}
	b.Emit(asm.Ja.Label(done))
	b.Label(absent)
	b.Emit(asm.StoreImm(asm.R5, lenAt, txAbsent, asm.Half))
	b.Label(done)
}

// httpTxResponse pairs the decoded response with the oldest waiting
// request of its flow.
func (g *gen) httpTxResponse() {
	b := g.b
	done, orphan, pair := b.NewLabel("txresp.done"), b.NewLabel("txresp.orphan"), b.NewLabel("txresp.pair")
	b.Comment("HTTP transaction: pair the response with its request")
	g.unlessFact(FactHTTPResponse, done)
	g.txKey(TxHTTP, done)
	g.txLookup(HTTPTxMap, orphan)
	g.txNow()
	g.txID()
	b.Comment("only from the other endpoint than the requests'")
	b.Emit(asm.LoadMem(asm.R2, asm.R8, thSide, asm.Word), asm.JEq.Imm(asm.R2, 0, orphan), asm.JEq.Imm(asm.R2, txCutSide, orphan))
	b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sTxDir), asm.DWord), asm.Add.Imm(asm.R3, 1), asm.JEq.Reg(asm.R2, asm.R3, orphan))
	b.Comment("the same response seen again pairs with the same request")
	fresh := b.NewLabel("txresp.fresh")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thLastSlot, asm.Word), asm.JEq.Imm(asm.R1, 0, fresh))
	b.Emit(asm.LoadMem(asm.R2, asm.R8, thLastResp, asm.Word), asm.LoadMem(asm.R3, asm.R9, stF(sTxID), asm.DWord), asm.JNE.Reg(asm.R2, asm.R3, fresh))
	b.Emit(asm.Sub.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sTxSlot), asm.R1, asm.DWord), asm.Ja.Label(pair))
	b.Label(fresh)
	b.Comment("the oldest waiting request")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, thTail, asm.Word), asm.JEq.Reg(asm.R1, asm.R2, orphan))
	b.Emit(asm.StoreMem(asm.R9, stF(sTxSlot), asm.R1, asm.DWord))
	g.txSlotPtr()
	expired, keep := b.NewLabel("txresp.expired"), b.NewLabel("txresp.keep")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.LoadMem(asm.R2, asm.R5, trTime, asm.DWord), asm.Sub.Reg(asm.R1, asm.R2))
	b.Emit(asm.LoadImm(asm.R2, rules.HTTPTxTimeoutNanos, asm.DWord), asm.JSGT.Reg(asm.R1, asm.R2, expired))
	b.Comment("an interim response (1xx but 101) leaves the request waiting for the final one")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxCode), asm.DWord), asm.JEq.Imm(asm.R1, 101, ".pop"+pair))
	b.Emit(asm.JLT.Imm(asm.R1, 100, ".pop"+pair), asm.JLT.Imm(asm.R1, 200, keep))
	b.Label(".pop" + pair)
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.Add.Imm32(asm.R1, 1), asm.StoreMem(asm.R8, thHead, asm.R1, asm.Word))
	g.txAdd(TxHTTP, TxPaired, false)
	last := b.NewLabel("txresp.last")
	b.Emit(asm.Ja.Label(last))
	b.Label(keep)
	g.txAdd(TxHTTP, TxInterim, false)
	b.Label(last)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxID), asm.DWord), asm.StoreMem(asm.R8, thLastResp, asm.R1, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxSlot), asm.DWord), asm.And.Imm(asm.R1, rules.TxDepth-1), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R8, thLastSlot, asm.R1, asm.Word))

	b.Label(pair)
	g.txSlotPtr()
	b.Comment("http.time: microseconds from the request (0 when the clock went back)")
	late := b.NewLabel("txresp.late")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sTxNow), asm.DWord), asm.LoadMem(asm.R2, asm.R5, trTime, asm.DWord))
	b.Emit(asm.Mov.Imm(asm.R0, 0), asm.JLT.Reg(asm.R1, asm.R2, late), asm.Sub.Reg(asm.R1, asm.R2), asm.Div.Imm(asm.R1, 1000), asm.Mov.Reg(asm.R0, asm.R1))
	b.Emit(asm.LoadImm(asm.R1, 0xffffffff, asm.DWord), asm.JLE.Reg(asm.R0, asm.R1, late), asm.Mov.Reg(asm.R0, asm.R1))
	b.Label(late)
	if s, ok := g.rec.slots[slotKey{computed: compHTTPTime, size: 4, layer: 1}]; ok {
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R0, asm.Word))
	}
	for _, s := range txHTTPStrings {
		if !g.opts.txStrings || !g.l7.hasString(strKeyOf(s.resp)) {
			continue
		}
		skip := b.NewLabel("txgive.skip")
		b.Comment("%s from the request", s.resp)
		g.txSlotPtr() // strResult clobbers R5
		b.Emit(asm.LoadMem(asm.R4, asm.R5, s.lenAt, asm.Half), asm.JEq.Imm(asm.R4, txAbsent, skip), asm.JGT.Imm(asm.R4, int32(s.size), skip))
		for off := 0; off < s.size; off += 8 {
			b.Emit(asm.LoadMem(asm.R1, asm.R5, s.valAt+int16(off), asm.DWord), asm.StoreMem(asm.R9, s.win+int16(off), asm.R1, asm.DWord))
		}
		b.Emit(asm.Mov.Imm(asm.R3, int32(s.win)))
		g.strResult(strKeyOf(s.resp), asm.R3, asm.R4)
		b.Label(skip)
	}
	g.l7SetFact(FactHTTPTx)
	b.Emit(asm.Ja.Label(done))

	b.Label(expired)
	b.Comment("waited too long: not paired (counted)")
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.Add.Imm32(asm.R1, 1), asm.StoreMem(asm.R8, thHead, asm.R1, asm.Word))
	g.txAdd(TxHTTP, TxTimeouts, false)
	b.Emit(asm.Ja.Label(done))
	b.Label(orphan)
	g.txAdd(TxHTTP, TxOrphans, false)
	b.Label(done)
}

// txCutSide marks a flow whose requests hdrlog lost count of (thSide): it
// pairs nothing more.
const txCutSide = 3

// httpTxCut: more requests follow the last one decoded in the segment
// (past rules.MaxHTTPRequests): they are not queued, so the flow's later
// responses could not be told apart. Its waiting requests are dropped
// (counted as overflow) and it pairs nothing more.
func (g *gen) httpTxCut(done string) {
	b := g.b
	b.Comment("HTTP transaction: requests past the bound; the flow pairs nothing more")
	g.l7Lookup(asm.R9, done)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sNext), asm.DWord), asm.JEq.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPLen), asm.DWord), asm.JGE.Reg(asm.R1, asm.R2, done))
	g.txKey(TxHTTP, done)
	g.txLookup(HTTPTxMap, done)
	b.Emit(asm.StoreImm(asm.R8, thSide, txCutSide, asm.Word))
	b.Emit(asm.LoadMem(asm.R1, asm.R8, thHead, asm.Word), asm.LoadMem(asm.R2, asm.R8, thTail, asm.Word), asm.StoreMem(asm.R8, thHead, asm.R2, asm.Word))
	b.Emit(asm.Sub.Reg32(asm.R2, asm.R1), asm.JEq.Imm(asm.R2, 0, done), asm.StoreMem(asm.R9, stF(sTxTmp), asm.R2, asm.DWord))
	g.txAdd(TxHTTP, TxOverflow, true)
}
