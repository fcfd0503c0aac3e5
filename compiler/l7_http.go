package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// HTTP/1.x in the kernel: recognise the start of a message from the peeked
// bytes, then, in the window, the request line and the header lines, each
// counted only when its line feed lies within the segment.

// MaxHTTPLines bounds the header lines examined per request.
const MaxHTTPLines = rules.MaxHTTPLines

// l7HTTPDetect sets sKind (1 request, 2 status line, 0 neither) and sM (the
// method's length) from the peeked bytes, and the HTTP selection: a request
// is HTTP on any port (its method says so), a status line only on a port
// that selects HTTP.
func (g *gen) l7HTTPDetect() {
	b := g.b
	b.Comment("HTTP: a method and a space, or HTTP/1., starts the payload")
	found, sel := b.NewLabel("http.method"), b.NewLabel("http.sel")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPeek), asm.DWord))
	prefix := func(p string) {
		var mask [8]byte
		for i := range p {
			mask[i] = 0xff
		}
		b.Emit(asm.Mov.Reg(asm.R2, asm.R1))
		if len(p) < 8 {
			b.Emit(asm.LoadImm(asm.R3, int64(nativeWord(mask[:])), asm.DWord), asm.And.Reg(asm.R2, asm.R3))
		}
		b.Emit(asm.LoadImm(asm.R3, int64(nativeWord([]byte(p))), asm.DWord))
	}
	for _, m := range rules.HTTPMethods {
		prefix(m + " ")
		next := b.NewLabel("http.m")
		b.Emit(asm.JNE.Reg(asm.R2, asm.R3, next), asm.Mov.Imm(asm.R4, int32(len(m))), asm.Ja.Label(found))
		b.Label(next)
	}
	prefix("HTTP/1.")
	none := b.NewLabel("http.none")
	b.Emit(asm.JNE.Reg(asm.R2, asm.R3, none))
	b.Emit(storeDW(asm.R9, stF(sKind), 2), storeDW(asm.R9, stF(sM), 0), asm.Ja.Label(sel))
	b.Label(found)
	b.Emit(storeDW(asm.R9, stF(sKind), 1), asm.StoreMem(asm.R9, stF(sM), asm.R4, asm.DWord))
	b.Label(sel)
	b.Comment("a request is HTTP on any port, for every rule (bit 0); a status line only on a port that selects HTTP")
	selOff := stF(sSel) + selIndex(rules.HdrHTTP)
	done, status := b.NewLabel("http.detected"), b.NewLabel("http.status")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, selOff, asm.Byte), asm.LoadMem(asm.R2, asm.R9, stF(sKind), asm.DWord))
	b.Emit(asm.JNE.Imm(asm.R2, 1, status), asm.Or.Imm(asm.R1, 1), asm.StoreMem(asm.R9, selOff, asm.R1, asm.Byte), asm.Ja.Label(done))
	b.Label(status)
	b.Emit(asm.JNE.Imm(asm.R1, 0, done))
	b.Label(none)
	b.Emit(storeDW(asm.R9, stF(sKind), 0), asm.StoreImm(asm.R9, selOff, 0, asm.Byte))
	b.Label(done)
}

// l7HTTP decodes the start line and the headers in the window.
func (g *gen) l7HTTP() {
	b, l := g.b, g.l7
	end := b.NewLabel("http.end")
	b.Comment("HTTP: the start line ends at the first line feed of the window")
	b.Emit(storeDW(asm.R9, stF(sNext), 0))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JEq.Imm(asm.R1, 0, end))
	g.l7SetFact(FactHTTP)
	b.Emit(storeDW(asm.R9, stF(sPos), 0), asm.LoadMem(asm.R1, asm.R9, stF(sAvail), asm.DWord), asm.StoreMem(asm.R9, stF(sLim), asm.R1, asm.DWord))
	g.find('\n', false)
	startCut := b.NewLabel("http.start.cut")
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, startCut), asm.Mov.Reg(asm.R8, asm.R1))
	g.stripCR(asm.R8, asm.R8, false)
	hdrs, status := b.NewLabel("http.headers"), b.NewLabel("http.status")
	if l.httpReq {
		b.Comment("request line: METHOD SP target SP HTTP/d.d, or METHOD SP target (HTTP/0.9)")
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JNE.Imm(asm.R1, 1, status))
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sM), asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sE), asm.DWord), asm.StoreMem(asm.R9, stF(sLim), asm.R1, asm.DWord))
		g.find(' ', false)
		v09 := b.NewLabel("http.v09")
		b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, v09))
		b.Comment("a target of one byte or more; after the second space exactly 8 bytes")
		b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sM), asm.DWord), asm.Mov.Reg(asm.R3, asm.R2), asm.Add.Imm(asm.R3, 1))
		b.Emit(asm.JLE.Reg(asm.R1, asm.R3, hdrs))
		b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sE), asm.DWord), asm.Sub.Reg(asm.R4, asm.R1), asm.JNE.Imm(asm.R4, 9, hdrs))
		b.Emit(asm.Mov.Reg(asm.R4, asm.R9), asm.Add.Reg(asm.R4, asm.R1))
		g.matchBytes(asm.R4, l7Win+1, "HTTP/", nil, hdrs)
		for _, at := range []int16{6, 8} {
			b.Emit(asm.LoadMem(asm.R0, asm.R4, l7Win+at, asm.Byte), asm.JLT.Imm(asm.R0, '0', hdrs), asm.JGT.Imm(asm.R0, '9', hdrs))
		}
		b.Emit(asm.LoadMem(asm.R0, asm.R4, l7Win+7, asm.Byte), asm.JNE.Imm(asm.R0, '.', hdrs))
		b.Comment("method, target, version")
		b.Emit(asm.Mov.Reg(asm.R8, asm.R1)) // the second space
		b.Emit(asm.Mov.Imm(asm.R3, l7Win))
		g.strResult(strKeyOf("http.request.method"), asm.R3, asm.R2)
		b.Emit(asm.Mov.Reg(asm.R3, asm.R2), asm.Add.Imm(asm.R3, l7Win+1), asm.Mov.Reg(asm.R4, asm.R8), asm.Sub.Reg(asm.R4, asm.R2), asm.Sub.Imm(asm.R4, 1))
		g.strResult(strKeyOf("http.request.uri"), asm.R3, asm.R4)
		b.Emit(asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, l7Win+1), asm.Mov.Imm(asm.R4, 8))
		g.strResult(strKeyOf("http.request.version"), asm.R3, asm.R4)
		g.l7SetFact(FactHTTPRequest)
		b.Emit(asm.Ja.Label(hdrs))
		b.Label(v09)
		b.Comment("no second space: METHOD SP target, a version-less (HTTP/0.9) request line")
		b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sM), asm.DWord), asm.Mov.Reg(asm.R3, asm.R2), asm.Add.Imm(asm.R3, 1))
		b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sE), asm.DWord), asm.JLE.Reg(asm.R4, asm.R3, hdrs), asm.Sub.Reg(asm.R4, asm.R3))
		b.Emit(asm.Add.Imm(asm.R3, l7Win))
		g.strResult(strKeyOf("http.request.uri"), asm.R3, asm.R4)
		b.Emit(asm.Mov.Imm(asm.R3, l7Win))
		g.strResult(strKeyOf("http.request.method"), asm.R3, asm.R2)
		b.Comment("the version is empty, as Wireshark shows it")
		b.Emit(asm.LoadMem(asm.R3, asm.R9, stF(sE), asm.DWord), asm.Add.Imm(asm.R3, l7Win), asm.Mov.Imm(asm.R4, 0))
		g.strResult(strKeyOf("http.request.version"), asm.R3, asm.R4)
		g.l7SetFact(FactHTTPRequest)
	}
	b.Label(status)
	if l.httpResp {
		g.l7HTTPStatus(hdrs)
	}
	b.Label(hdrs)
	if len(l.headers) > 0 || len(l.httpRules) > 0 {
		b.Comment("header lines after the start line, to the empty line: %v (one more pass than the bound tells whether they go on)", l.headers)
		g.l7Loop(MaxHTTPLines+1, g.l7CtxOff(), "hdrlog_l7_http_line", g.emitHTTPLine)
	}
	if l.httpTx {
		g.httpTxRequest()
		g.httpTxResponse()
	}
	b.Emit(asm.Ja.Label(end))
	b.Label(startCut)
	b.Comment("no line feed in the bytes decoded: the start line goes on past them")
	g.l7Limit(rules.LimitHTTPCut)
	b.Label(end)
}

// l7HTTPStatus decodes a status line (sKind 2), whose end is in sE:
// HTTP/1.d SP three digits, then SP and the phrase, or the line's end.
func (g *gen) l7HTTPStatus(hdrs string) {
	b := g.b
	b.Comment("status line: HTTP/1.d SP code [SP phrase]")
	phrase := b.NewLabel("http.phrase")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JNE.Imm(asm.R1, 2, hdrs))
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sE), asm.DWord), asm.JLT.Imm(asm.R4, 12, hdrs))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, l7Win+7, asm.Byte), asm.JLT.Imm(asm.R0, '0', hdrs), asm.JGT.Imm(asm.R0, '9', hdrs))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, l7Win+8, asm.Byte), asm.JNE.Imm(asm.R0, ' ', hdrs))
	b.Emit(asm.Mov.Imm(asm.R2, 0))
	for at := int16(9); at < 12; at++ {
		b.Emit(asm.LoadMem(asm.R0, asm.R9, l7Win+at, asm.Byte), asm.JLT.Imm(asm.R0, '0', hdrs), asm.JGT.Imm(asm.R0, '9', hdrs))
		b.Emit(asm.Mul.Imm(asm.R2, 10), asm.Add.Reg(asm.R2, asm.R0), asm.Sub.Imm(asm.R2, '0'))
	}
	b.Emit(asm.JEq.Imm(asm.R4, 12, phrase))
	b.Emit(asm.LoadMem(asm.R0, asm.R9, l7Win+12, asm.Byte), asm.JNE.Imm(asm.R0, ' ', hdrs))
	b.Label(phrase)
	b.Emit(asm.StoreMem(asm.R9, stF(sTxCode), asm.R2, asm.DWord))
	if s, ok := g.rec.slots[slotKey{computed: compHTTPCode, size: 2, layer: 1}]; ok {
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R2, asm.Half))
	}
	b.Comment("the phrase: after the code's space, to the line's end (empty without one)")
	b.Emit(asm.Mov.Imm(asm.R3, l7Win+12), asm.Mov.Imm(asm.R1, 0))
	none := b.NewLabel("http.nophrase")
	b.Emit(asm.JEq.Imm(asm.R4, 12, none), asm.Mov.Imm(asm.R3, l7Win+13), asm.Mov.Reg(asm.R1, asm.R4), asm.Sub.Imm(asm.R1, 13))
	b.Label(none)
	g.strResult(strKeyOf("http.response.phrase"), asm.R3, asm.R1)
	b.Emit(asm.Mov.Imm(asm.R3, l7Win), asm.Mov.Imm(asm.R4, 8))
	g.strResult(strKeyOf("http.response.version"), asm.R3, asm.R4)
	g.l7SetFact(FactHTTPResponse)
}

// stripCR stores in sE the end of the line whose line feed is at lf (a
// register), without a CR before it; a CR counts only after the line's
// start (from). It also stores sLS = lf + 1, the next line's start.
func (g *gen) stripCR(lf asm.Register, from asm.Register, hasFrom bool) {
	b := g.b
	b.Emit(asm.Mov.Reg(asm.R2, lf), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R9, stF(sLS), asm.R2, asm.DWord))
	b.Emit(asm.StoreMem(asm.R9, stF(sE), lf, asm.DWord))
	done := b.NewLabel("cr")
	if hasFrom {
		b.Emit(asm.JLE.Reg(lf, from, done))
	} else {
		b.Emit(asm.JEq.Imm(lf, 0, done))
	}
	b.Emit(asm.JGT.Imm(lf, l7WinSize-1, done), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, lf))
	b.Emit(asm.LoadMem(asm.R3, asm.R2, l7Win-1, asm.Byte), asm.JNE.Imm(asm.R3, '\r', done))
	b.Emit(asm.Mov.Reg(asm.R2, lf), asm.Sub.Imm(asm.R2, 1), asm.StoreMem(asm.R9, stF(sE), asm.R2, asm.DWord))
	b.Label(done)
}

// emitHTTPLine is the callback for one header line, from sLS: find its line
// feed, stop at the empty line, and take the value of each wanted header
// the first time it appears.
func (g *gen) emitHTTPLine() {
	b, l := g.b, g.l7
	stop := b.NewLabel("line.stop")
	next := b.NewLabel("line.next")
	cut, lines := b.NewLabel("line.cut"), b.NewLabel("line.bound")
	b.Emit(asm.Mov.Reg(asm.R3, asm.R1)) // the pass
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLS), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sAvail), asm.DWord))
	b.Emit(asm.JGE.Reg(asm.R1, asm.R2, cut), asm.JGE.Imm(asm.R3, MaxHTTPLines, lines))
	read := b.NewLabel("line.read")
	b.Label(read)
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), asm.StoreMem(asm.R9, stF(sLim), asm.R2, asm.DWord))
	g.find('\n', true)
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, cut), asm.Mov.Reg(asm.R8, asm.R1))
	b.Emit(asm.LoadMem(asm.R7, asm.R9, stF(sLS), asm.DWord), asm.JGT.Imm(asm.R7, l7WinSize-1, stop))
	g.splitCR()
	b.Comment("the empty line ends the headers; a request may follow it (pipelining)")
	empty := b.NewLabel("line.empty")
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sE), asm.DWord), asm.JLE.Reg(asm.R4, asm.R7, empty))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R4), asm.Sub.Reg(asm.R3, asm.R7)) // line length
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R7)) // the line in the value, less l7Win
	for _, h := range l.headers {
		k := slotKey{computed: "str:hdr:" + h, size: 8, layer: 1}
		i := l.strings[k]
		skip := b.NewLabel("hdr.skip")
		b.Comment("header %s", h)
		b.Emit(asm.JLT.Imm(asm.R3, int32(len(h)+1), skip))
		b.Emit(asm.LoadMem(asm.R0, asm.R9, stF(sStr)+int16(8*i)+4, asm.Byte), asm.JNE.Imm(asm.R0, 0, skip))
		fold := make([]bool, len(h)+1)
		for j := range fold {
			fold[j] = true
		}
		g.matchBytes(asm.R2, l7Win, h+":", fold, skip)
		b.Comment("value: after the colon and the spaces and tabs that follow it")
		b.Emit(asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, int32(len(h)+1)))
		b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord), asm.StoreMem(asm.R9, stF(sLim), asm.R4, asm.DWord))
		g.l7LoopFromCallback(l7WinSize, fnHTTPOWS, g.emitHTTPOWS)
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R4, asm.R9, stF(sE), asm.DWord))
		b.Emit(asm.JGT.Reg(asm.R1, asm.R4, next))
		b.Emit(asm.Mov.Reg(asm.R3, asm.R4), asm.Sub.Reg(asm.R3, asm.R1), asm.Add.Imm(asm.R1, l7Win))
		g.strResult(k, asm.R1, asm.R3)
		b.Emit(asm.Ja.Label(next))
		b.Label(skip)
	}
	b.Label(next)
	g.ret(0)
	b.Label(empty)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JNE.Imm(asm.R1, 1, stop))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sLS), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sAvail), asm.DWord), asm.JGE.Reg(asm.R1, asm.R2, stop))
	b.Emit(asm.StoreMem(asm.R9, stF(sNext), asm.R1, asm.DWord))
	b.Label(stop)
	g.ret(1)
	b.Label(cut)
	b.Comment("the headers go on past the bytes decoded, without their empty line")
	g.l7Limit(rules.LimitHTTPCut)
	g.ret(1)
	b.Label(lines)
	b.Comment("after %d header lines, the empty line is still read; another line is the bound", MaxHTTPLines)
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, stop), asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Reg(asm.R3, asm.R1), asm.LoadMem(asm.R3, asm.R3, l7Win, asm.Byte))
	b.Emit(asm.JEq.Imm(asm.R3, '\n', read), asm.JEq.Imm(asm.R3, '\r', read))
	g.l7Limit(rules.LimitHTTPLines)
	g.ret(1)
}

// splitCR ends the header line from R7 (its start) whose line feed is R8
// at its first CR, as servers (Python's http.server, through its e-mail
// parser) and Wireshark do: a bare CR ends a header line, and the next line
// starts after it; a CR right before the line feed ends it with the line
// feed. It stores sE (the line's end) and sLS (the next line's start).
// R7 and R8 are kept; R0-R5 are clobbered.
func (g *gen) splitCR() {
	b := g.b
	b.Comment("a CR (bare, or before the line feed) ends a header line")
	b.Emit(asm.StoreMem(asm.R9, stF(sPos), asm.R7, asm.DWord), asm.StoreMem(asm.R9, stF(sLim), asm.R8, asm.DWord))
	g.find('\r', true)
	nocr, done := b.NewLabel("cr.none"), b.NewLabel("cr.done")
	b.Emit(asm.JGT.Imm(asm.R1, l7WinSize-1, nocr), asm.JGE.Reg(asm.R1, asm.R8, nocr))
	b.Emit(asm.StoreMem(asm.R9, stF(sE), asm.R1, asm.DWord), asm.Add.Imm(asm.R1, 1))
	crlf := b.NewLabel("cr.lf")
	b.Emit(asm.JNE.Reg(asm.R1, asm.R8, crlf), asm.Add.Imm(asm.R1, 1))
	b.Label(crlf)
	b.Emit(asm.StoreMem(asm.R9, stF(sLS), asm.R1, asm.DWord), asm.Ja.Label(done))
	b.Label(nocr)
	b.Emit(asm.StoreMem(asm.R9, stF(sE), asm.R8, asm.DWord), asm.Mov.Reg(asm.R1, asm.R8), asm.Add.Imm(asm.R1, 1))
	b.Emit(asm.StoreMem(asm.R9, stF(sLS), asm.R1, asm.DWord))
	b.Label(done)
}

const fnHTTPOWS = "hdrlog_l7_http_ows"

// emitHTTPOWS is the callback for one byte of white space after a header's
// colon: it moves sPos past a space or tab before sLim (the line's end), or
// stops.
func (g *gen) emitHTTPOWS() {
	b := g.b
	stop := b.NewLabel("ows.stop")
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sPos), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sLim), asm.DWord))
	b.Emit(asm.JGE.Reg(asm.R1, asm.R2, stop), asm.JGT.Imm(asm.R1, l7WinSize-1, stop))
	ws := b.NewLabel("ows.ws")
	b.Emit(asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Reg(asm.R2, asm.R1), asm.LoadMem(asm.R0, asm.R2, l7Win, asm.Byte))
	b.Emit(asm.JEq.Imm(asm.R0, ' ', ws), asm.JNE.Imm(asm.R0, '\t', stop))
	b.Label(ws)
	b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R9, stF(sPos), asm.R1, asm.DWord))
	g.ret(0)
	b.Label(stop)
	g.ret(1)
}
