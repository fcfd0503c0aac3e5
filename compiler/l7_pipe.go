package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Pipelined HTTP requests: several requests in one segment (a client that
// pipelines, or a smuggled request behind a first one). After the rules
// have run on the first request, each further one (up to
// rules.MaxHTTPRequests per segment) is decoded in turn, the HTTP part of
// the packet record replaced by its values, and the rules that use HTTP run
// again: one event per request per matching rule. Rules that use no HTTP
// field ran once, on the packet.
//
// A further request starts right after the empty line that ends the
// previous one's headers (sNext, set by the header loop). The segment's
// payload is taken from there: the window is reloaded, so the decoders and
// the string slots work as for a first request. The loop's counter is a
// stack slot holding a constant in each pass, so the verifier walks the
// loop a bounded number of times.

// l7PipeOff is the stack slot of the loop's counter (below the slots of
// l7_asm.go and the held ClientHello's pointer).
func (g *gen) l7PipeOff() int16 { return g.rec.lo - 32 }

// l7BaseOff keeps the record's base register while the decoders run (they
// use R8).
func (g *gen) l7BaseOff() int16 { return g.rec.lo - 40 }

// l7Pipeline emits the loop over further requests; it ends at the
// epilogue. The rules run as units, as on the first request: a group of
// rules is its search (tree or hash map) and its shared functions again, so
// that thousands of rules of one shape that use HTTP cost a group's code
// twice, not a rule's code each.
func (g *gen) l7Pipeline(units []unit, schema *Schema) {
	l := g.l7
	if l == nil || len(l.httpRules) == 0 {
		return
	}
	b := g.b
	head, done := b.NewLabel("pipe.head"), epilogue
	g.markPhase(PhaseL7Pipe)
	b.Comment("HTTP: further requests of the segment, each through the rules that use HTTP")
	b.Emit(storeDW(asm.R10, g.l7PipeOff(), 1))
	b.Label(head)
	bound := done
	if l.httpTx {
		bound = b.NewLabel("pipe.bound")
	}
	b.Emit(asm.LoadMem(asm.R1, asm.R10, g.l7PipeOff(), asm.DWord), asm.JGE.Imm(asm.R1, rules.MaxHTTPRequests, bound))
	b.Emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R10, g.l7PipeOff(), asm.R1, asm.DWord))
	b.Comment("not HTTP: no lookup")
	b.Emit(asm.LoadMem(asm.R1, g.base, presenceOff-g.delta, asm.DWord), asm.And.Imm(asm.R1, 1<<FactHTTP), asm.JEq.Imm(asm.R1, 0, done))
	if g.base != asm.R10 {
		b.Emit(asm.StoreMem(asm.R10, g.l7BaseOff(), g.base, asm.DWord))
	}
	g.l7Lookup(asm.R9, done)
	b.Emit(asm.StoreMem(asm.R10, g.l7CtxOff(), asm.R9, asm.DWord))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sNext), asm.DWord), asm.JEq.Imm(asm.R1, 0, done))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPLen), asm.DWord), asm.JGE.Reg(asm.R1, asm.R2, done))
	b.Comment("the payload from the next request on")
	b.Emit(asm.Sub.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R9, stF(sPLen), asm.R2, asm.DWord))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R9, stF(sPOff), asm.R2, asm.DWord))
	b.Emit(storeDW(asm.R9, stF(sNext), 0), storeDW(asm.R9, stF(sKind), 0), storeDW(asm.R9, stF(sLimits), 0))
	for i, k := range l.strKeys {
		if l7KeyHeader(k) == rules.HdrHTTP {
			b.Emit(storeDW(asm.R9, stF(sStr)+int16(8*i), 0))
		}
	}
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord))
	g.andMask(asm.R1, ^l7Facts[rules.HdrHTTP], asm.R2)
	b.Emit(asm.StoreMem(asm.R9, stF(sFacts), asm.R1, asm.DWord))
	b.Emit(storeDW(asm.R9, stF(sPeek), 0), storeDW(asm.R9, stF(sPeek+8), 0))
	g.l7Peek()
	g.l7HTTPDetect()
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sKind), asm.DWord), asm.JNE.Imm(asm.R1, 1, done))
	g.l7WindowOr(b.NewLabel("pipe.win"), done)
	g.l7HTTP()
	b.Comment("the last request decoded: more after it is cut by the bound (http.truncated on it)")
	within := b.NewLabel("pipe.within")
	b.Emit(asm.LoadMem(asm.R1, asm.R10, g.l7PipeOff(), asm.DWord), asm.JLT.Imm(asm.R1, rules.MaxHTTPRequests, within))
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sNext), asm.DWord), asm.JEq.Imm(asm.R1, 0, within))
	b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sPLen), asm.DWord), asm.JGE.Reg(asm.R1, asm.R2, within))
	g.l7Limit(rules.LimitHTTPRequests)
	b.Label(within)
	g.l7CountLimits()
	b.Comment("the request's facts and strings to the packet record")
	if g.base != asm.R10 {
		b.Emit(asm.LoadMem(g.base, asm.R10, g.l7BaseOff(), asm.DWord))
	}
	pres := presenceOff - g.delta
	b.Emit(asm.LoadMem(rPresence, g.base, pres, asm.DWord))
	g.andMask(rPresence, ^l7Facts[rules.HdrHTTP], asm.R1)
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sFacts), asm.DWord))
	g.andMask(asm.R1, l7Facts[rules.HdrHTTP], asm.R2)
	b.Emit(asm.Or.Reg(rPresence, asm.R1))
	b.Emit(asm.StoreMem(g.base, pres, rPresence, asm.DWord))
	g.l7TruncSlots([]rules.Header{rules.HdrHTTP}, g.base, g.delta)
	if s, ok := g.rec.slots[slotKey{computed: compHTTPReq, size: 1, layer: 1}]; ok {
		b.Emit(asm.RSh.Imm(asm.R1, FactHTTPRequest), asm.And.Imm(asm.R1, 1), asm.StoreMem(g.base, s.off-g.delta, asm.R1, asm.Byte))
	}
	for i, k := range l.strKeys {
		if l7KeyHeader(k) == rules.HdrHTTP {
			s := g.rec.slots[k]
			b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sStr)+int16(8*i), asm.DWord), asm.StoreMem(g.base, s.off-g.delta, asm.R1, asm.DWord))
		}
	}
	if len(l.gated) > 0 {
		s := g.rec.slots[slotKey{computed: compL7Sel, size: 1, layer: int(rules.HdrHTTP)}]
		b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSel)+selIndex(rules.HdrHTTP), asm.Byte), asm.StoreMem(g.base, s.off-g.delta, asm.R1, asm.Byte))
	}
	g.markPhase(PhaseRules)
	for _, u := range units {
		if gr := u.group; gr != nil {
			// A group's rules share their tests and fields: all of them
			// use HTTP or none does.
			if !l.httpRules[gr.rules[0].Index] {
				continue
			}
			end := b.NewLabel(gr.fn + ".pipe.end")
			b.Comment("group %s, on this request", gr.fn)
			g.groupCode(gr, end)
			b.Label(end)
			continue
		}
		r := u.rule
		if !l.httpRules[r.Index] {
			continue
		}
		next := b.NewLabel("pipe." + r.Name + ".next")
		b.Comment("rule %s, on this request", r.Name)
		g.l7RuleEnter(r)
		if r.Match != nil {
			g.branch(r.Match, next, false)
		}
		g.emitRule(r, schema.Rules[r.Index], schema.AggKeySize, next)
		b.Label(next)
		g.l7RuleLeave(r)
	}
	g.markPhase(PhaseL7Pipe)
	b.Emit(asm.Ja.Label(head))
	if l.httpTx {
		b.Label(bound)
		g.httpTxCut(done)
		b.Emit(asm.Ja.Label(done))
	}
}

// l7KeyHeader is the protocol of a string slot.
func l7KeyHeader(k slotKey) rules.Header {
	name := k.computed[len("str:"):]
	if len(name) > 4 && name[:4] == "hdr:" {
		return rules.HdrHTTP
	}
	f, _ := rules.LookupField(name)
	return f.Header
}
