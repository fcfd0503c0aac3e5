package compiler

import (
	"encoding/binary"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Register convention, kept by every part of a program:
//
//	R6  the context (__sk_buff or xdp_md)
//	R7  the presence bitmap (Fact* bits)
//	R8  packet data (during parsing)
//	R9  packet end (during parsing); the event being filled (during emission)
//	R10 frame pointer; the packet record lives below it
//	R1-R5 scratch; during parsing R2 holds the current next-protocol value,
//	      R3 the cursor (start of the current header), R5 the IP payload length
//
// Which phase (parser, L7 stage, rules, subprograms) may write which of them,
// and which stack slots, is the contract of contract.go, checked on every
// program the tests compile.
const (
	rCtx      = asm.R6
	rPresence = asm.R7
	rData     = asm.R8
	rDataEnd  = asm.R9
	rEvent    = asm.R9
	rProto    = asm.R2
	rCursor   = asm.R3
	rPayload  = asm.R5
)

// Header lengths from the header table (rules/headers.go): a header is
// present only when this much of it is in the packet.
var (
	ethLen    = minLen(rules.HdrEth)
	vlanLen   = minLen(rules.HdrVLAN)
	ipv4Len   = minLen(rules.HdrIPv4)
	ipv6Len   = minLen(rules.HdrIPv6)
	tcpLen    = minLen(rules.HdrTCP)
	udpLen    = minLen(rules.HdrUDP)
	extMinLen = int32(rules.IPv6ExtMinLen)
)

// sTagTPID is the TPID of an 802.1ad S-tag: ieee8021ad in Wireshark.
const sTagTPID = 0x88a8

// MaxExtHeaders bounds the IPv6 extension-header walk.
const MaxExtHeaders = rules.MaxExtHeaders

// The computed fields with a presence bit of their own.
var (
	ethTypeField, _   = rules.LookupField("eth.type")
	tcpLenField, _    = rules.LookupField("tcp.len")
	ipVersionField, _ = rules.LookupField("ip.version")
)

func minLen(h rules.Header) int32 { return int32(h.Def().MinLen) }

// dispatch returns the next-protocol value of parent that leads to h, as the
// parser compares it: 16-bit values (EtherTypes) as a host-order load of the
// network-order field reads them.
func dispatch(parent, h rules.Header) int32 {
	v, ok := h.Def().Value(parent)
	if !ok {
		panic("compiler: " + h.String() + " does not follow " + parent.String())
	}
	if parent == rules.HdrEth || parent == rules.HdrVLAN {
		return raw16(uint16(v))
	}
	return int32(v)
}

// label is the parser's label for the start of header h ("ip" is IPv4's
// protocol name; its label says which IP).
func label(h rules.Header) string {
	if h == rules.HdrIPv4 {
		return ".ipv4"
	}
	return "." + h.String()
}

// raw16 returns how a 16-bit network-order value reads when loaded from the
// packet by a host-order load: the form compared without a byte swap.
func raw16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(ByteOrder.Uint16(b[:]))
}

const (
	parseDone = ".parse.done"
	// The IPv6 payload length is known (.ipv6.plen) or not (.ipv6.plen0,
	// out of line: a zero length field).
	ipv6Plen  = ".ipv6.plen"
	ipv6Plen0 = ".ipv6.plen0"
)

// parse emits the header parser. It writes the record slots the hook's rules
// use and sets presence bits in R7; on any header cut short it stops, leaving
// the deeper headers absent.
func (g *gen) parse() {
	b, fl, rec := g.b, g.fl, g.rec
	b.Comment("header parser: record slots and presence bitmap (r7)")
	b.Emit(asm.Mov.Reg(rCtx, asm.R1))
	b.Emit(asm.Mov.Imm(rPresence, 1<<FactFrame))
	if rec.Size() > 0 {
		// The zero is computed from two loads of the same context field: the
		// verifier cannot tell it is zero, so it never decides a later test on
		// an absent field's slot at load time. A decided test would make it
		// track that slot precisely, back through every rule before it
		// (verification time quadratic in the number of rules).
		b.Comment("zero the packet record (%d bytes) with a zero the verifier does not know", rec.Size())
		// (Two loads of the packet pointer: each is a single load after the
		// kernel's context rewrite, unlike skb->ifindex. The parser keeps
		// the first in R8.)
		other := asm.R2
		if g.need.has(rules.HdrEth) {
			other = rData
		}
		b.Emit(asm.LoadMem(other, rCtx, fl.CtxData, asm.Word), asm.LoadMem(asm.R1, rCtx, fl.CtxData, asm.Word), asm.Sub.Reg(asm.R1, other))
		for off := rec.lo; off < rec.hi; off += 8 {
			b.Emit(asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
		}
	}
	if s, ok := rec.slots[slotKey{computed: compFrameLen, size: 4, layer: 1}]; ok {
		b.Comment("frame.len")
		g.frameLen(asm.R1)
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
	}
	if !g.need.has(rules.HdrEth) {
		g.parseEnd()
		return
	}
	if rec.Size() == 0 {
		b.Emit(asm.LoadMem(rData, rCtx, fl.CtxData, asm.Word))
	}
	b.Emit(asm.LoadMem(rDataEnd, rCtx, fl.CtxDataEnd, asm.Word))

	l3 := ".l3"
	if fl.L3Start {
		b.Comment("the frame starts at the network header: skb->protocol says which")
		b.Emit(asm.LoadMem(rProto, rCtx, fl.CtxProtocol, asm.Word), asm.Mov.Reg(rCursor, rData))
	} else {
		g.linkLayer(l3)
	}
	b.Label(l3)
	if !g.need.l3 {
		b.Emit(asm.Ja.Label(g.stop()))
		g.emitCold()
		g.l4()
		return
	}
	b.Comment("network layer by ethertype")
	g.dispatch(rules.HdrEth, rules.HdrIPv4)
	if g.need.has(rules.HdrIPv4) {
		g.ipv4()
	}
	g.linkBlocks()
	if g.need.has(rules.HdrIPv6) && g.need.l4 {
		g.cold = append(g.cold, func() {
			b.Label(ipv6Plen0)
			b.Emit(asm.Mov.Imm(rPayload, payloadUnknown), asm.Ja.Label(ipv6Plen))
		})
	}
	g.emitCold()
	if g.need.has(rules.HdrIPv6) {
		g.ipv6()
	}
	g.l4()
}

// linkLayer parses the Ethernet header and its VLAN tags, leaving the
// EtherType in R2 and the cursor on the network header, for l3.
func (g *gen) linkLayer(l3 string) {
	b, fl, rec := g.b, g.fl, g.rec
	b.Comment("eth: %d bytes", ethLen)
	g.bound(rData, ethLen, g.stop())
	g.setFact(rules.HdrEth.Def().Fact)
	g.storeHeader(rules.HdrEth, rData)
	b.Emit(asm.LoadMem(rProto, rData, 12, asm.Half))
	b.Emit(asm.Mov.Reg(rCursor, rData), asm.Add.Imm(rCursor, ethLen))

	ethType, hasEthType := rec.slots[slotKey{computed: compEthType, size: 2, layer: 1}]
	if fl.VLANInMeta && g.need.has(rules.HdrVLAN) {
		meta := ".eth.meta"
		b.Comment("outer VLAN tag in skb metadata (tc ingress strips it from the frame)")
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANPres, asm.Word))
		b.Emit(asm.JNE.Imm(asm.R1, 0, meta))
		// Out of line, so that untagged frames take no jump here. Its facts
		// are set in line too, before .l3 (see reach.go).
		g.cold = append(g.cold, func() {
			b.Label(meta)
			g.metaVLAN(ethType, hasEthType, l3)
		})
	}
	if hasEthType {
		skip := b.NewLabel("ethtype")
		b.Comment("eth.type (absent below 0x0600: an 802.3 length)")
		b.Emit(asm.Mov.Reg(asm.R1, rProto), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.JLT.Imm(asm.R1, 0x0600, skip))
		b.Emit(asm.StoreMem(asm.R10, ethType.off, asm.R1, asm.Half))
		g.setFact(rules.FieldFact(ethTypeField, 1))
		b.Label(skip)
	}
	if g.need.has(rules.HdrVLAN) {
		g.vlanTag(1, l3)
		g.vlanTag(2, l3)
	}
}

// noFallThrough: no header's code follows the dispatch.
const noFallThrough rules.Header = -1

// dispatch emits the jumps from parent to its needed children on the
// next-protocol value in R2, in table order except last, the one the code
// placed right after falls through to; then a jump to stop for any other
// value.
func (g *gen) dispatch(parent, last rules.Header) {
	b := g.b
	for _, d := range rules.Children(parent) {
		if d.Header != last && d.Header != rules.HdrVLAN && g.need.has(d.Header) {
			b.Emit(asm.JEq.Imm(rProto, dispatch(parent, d.Header), label(d.Header)))
		}
	}
	if last != noFallThrough && g.need.has(last) {
		b.Emit(asm.JEq.Imm(rProto, dispatch(parent, last), label(last)))
	}
	b.Emit(asm.Ja.Label(g.stop()))
}

// emitCold emits the blocks set aside for out of line, after an
// unconditional jump.
func (g *gen) emitCold() {
	for _, f := range g.cold {
		f()
	}
	g.cold = nil
}

// metaVLAN reads the outer VLAN tag the kernel moved to skb metadata, then
// an inline one, and goes on to l3.
func (g *gen) metaVLAN(ethType *slot, hasEthType bool, l3 string) {
	b, fl, rec := g.b, g.fl, g.rec
	b.Comment("outer VLAN tag from skb metadata")
	g.setFact(rules.HdrVLAN.Def().Fact)
	if s, ok := rec.slots[slotKey{computed: compVLANTCI, size: 2, layer: 1}]; ok {
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANTCI, asm.Word))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
	}
	if s, ok := rec.slots[slotKey{computed: compVLANEType, size: 2, layer: 1}]; ok {
		b.Emit(asm.Mov.Reg(asm.R1, rProto), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
	}
	if hasEthType {
		b.Comment("eth.type on the wire is the tag's TPID")
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANProt, asm.Word), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.StoreMem(asm.R10, ethType.off, asm.R1, asm.Half))
		g.setFact(rules.FieldFact(ethTypeField, 1))
	}
	if g.need.has(rules.HdrIEEE8021AD) {
		not := b.NewLabel("ctag")
		b.Comment("an S-tag (TPID 0x88a8) is also ieee8021ad")
		b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANProt, asm.Word), asm.JNE.Imm(asm.R1, raw16(sTagTPID), not))
		g.setFact(rules.HdrIEEE8021AD.Def().Fact)
		if s, ok := rec.slots[slotKey{computed: compSTagTCI, size: 2, layer: 1}]; ok {
			b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxVLANTCI, asm.Word))
			b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
		}
		b.Label(not)
	}
	g.vlanTag(2, l3)
	b.Emit(asm.Ja.Label(l3))
}

// frameLen loads the frame's length on the wire into dst.
func (g *gen) frameLen(dst asm.Register) {
	b, fl := g.b, g.fl
	if g.opts.TestRun {
		g.testRunLen(dst)
		return
	}
	if fl.CtxLen < 0 {
		// XDP: the whole buffer, fragments included.
		b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpGetBuffLen.Call())
		if dst != asm.R0 {
			b.Emit(asm.Mov.Reg(dst, asm.R0))
		}
		return
	}
	b.Emit(asm.LoadMem(dst, rCtx, fl.CtxLen, asm.Word))
	if fl.VLANInMeta {
		// A tag the kernel moved to metadata was on the wire too:
		// vlan_present reads 0 or 1 (the kernel's context rewrite makes it
		// so), so add it times 4, without a jump.
		scratch := asm.R2
		if dst == asm.R2 {
			scratch = asm.R3
		}
		b.Emit(asm.LoadMem(scratch, rCtx, fl.CtxVLANPres, asm.Word))
		b.Emit(asm.LSh.Imm(scratch, 2), asm.Add.Reg(dst, scratch))
	}
}

// testRunLen puts the length on the wire a test run passes in dst (see
// Options.TestRun). It may call a helper: R1-R5 are clobbered.
func (g *gen) testRunLen(dst asm.Register) {
	b, fl := g.b, g.fl
	if fl.CtxWireLen >= 0 {
		// wire_len is 0 in a test run given no context: then skb->len.
		done := b.NewLabel("wirelen")
		b.Comment("frame.len: the test run's wire_len, else skb->len")
		b.Emit(asm.LoadMem(dst, rCtx, fl.CtxWireLen, asm.Word), asm.JNE.Imm(dst, 0, done))
		b.Emit(asm.LoadMem(dst, rCtx, fl.CtxLen, asm.Word))
		b.Label(done)
		return
	}
	if dst >= asm.R2 && dst <= asm.R4 {
		panic("testRunLen: dst must not be R2, R3 or R4")
	}
	noMeta, done := b.NewLabel("nometa"), b.NewLabel("wirelen")
	b.Comment("frame.len: the u32 of metadata a test run passes, else the buffer's length")
	b.Emit(asm.LoadMem(asm.R2, rCtx, fl.CtxDataMeta, asm.Word), asm.LoadMem(asm.R3, rCtx, fl.CtxData, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, 4), asm.JGT.Reg(asm.R4, asm.R3, noMeta))
	b.Emit(asm.LoadMem(dst, asm.R2, 0, asm.Word), asm.Ja.Label(done))
	b.Label(noMeta)
	b.Emit(asm.Mov.Reg(asm.R1, rCtx), asm.FnXdpGetBuffLen.Call())
	if dst != asm.R0 {
		b.Emit(asm.Mov.Reg(dst, asm.R0))
	}
	b.Label(done)
}

// bound emits "if base+n > packet end goto fail".
func (g *gen) bound(base asm.Register, n int32, fail string) {
	g.b.Emit(asm.Mov.Reg(asm.R1, base), asm.Add.Imm(asm.R1, n), asm.JGT.Reg(asm.R1, rDataEnd, fail))
}

// storeHeader copies the raw slots of header h from the packet at base.
func (g *gen) storeHeader(h rules.Header, base asm.Register) { g.storeHeaderAt(h, base, 0) }

// storeHeaderAt copies the raw slots of header h, which starts at base+at.
func (g *gen) storeHeaderAt(h rules.Header, base asm.Register, at int16) {
	for _, s := range g.rec.headerSlots(h) {
		g.copyRaw(base, at+int16(s.key.offset), asm.R10, s.off, s.size)
	}
}

// guards emits the header's guards (rules.Guard) on the header at base+at:
// on a value outside a guard's set, the parser stops. R1 is scratch.
func (g *gen) guards(d *rules.HeaderDef, base asm.Register, at int16) {
	b := g.b
	for _, gd := range d.Guards {
		size := asm.Byte
		raw := func(v uint32) int32 { return int32(v) }
		if gd.Size == 2 {
			size, raw = asm.Half, func(v uint32) int32 { return raw16(uint16(v)) }
		}
		b.Emit(asm.LoadMem(asm.R1, base, at+int16(gd.Offset), size))
		if len(gd.Values) == 1 {
			b.Emit(asm.JNE.Imm(asm.R1, raw(gd.Values[0]), g.stop()))
			continue
		}
		ok := b.NewLabel("guard")
		for _, v := range gd.Values {
			b.Emit(asm.JEq.Imm(asm.R1, raw(v), ok))
		}
		b.Emit(asm.Ja.Label(g.stop()))
		b.Label(ok)
	}
}

// children emits the dispatch from header h (at the cursor) to its needed
// children on its next-protocol fields (rules.HeaderDef.NextAt); on no
// match it falls through. R1 is scratch.
func (g *gen) children(h rules.Header) {
	d, b := h.Def(), g.b
	var kids []*rules.HeaderDef
	for _, c := range rules.Children(h) {
		if g.need.has(c.Header) && c.Len != rules.LenL7 {
			kids = append(kids, c)
		}
	}
	if len(kids) == 0 {
		return
	}
	size, raw := asm.Byte, func(v uint32) int32 { return int32(v) }
	if d.NextSize == 2 {
		size, raw = asm.Half, func(v uint32) int32 { return raw16(uint16(v)) }
	}
	b.Comment("%s: what follows, by %v", h, d.NextAt)
	for _, at := range d.NextAt {
		b.Emit(asm.LoadMem(asm.R1, rCursor, int16(at), size))
		for _, c := range kids {
			for _, l := range c.Under {
				if l.Parent == h {
					b.Emit(asm.JEq.Imm(asm.R1, raw(l.Value), label(c.Header)))
				}
			}
		}
	}
}

// childBlocks emits the blocks of the needed headers found by children,
// each ending where its parent's block would have gone. The cursor stays on
// the transport header (the L7 stage reads it).
func (g *gen) childBlocks() {
	b := g.b
	for _, d := range rules.HeaderDefs() {
		if !g.need.has(d.Header) || len(d.Under) == 0 || d.Len == rules.LenL7 {
			continue
		}
		parent := d.Under[0].Parent
		if len(parent.Def().NextAt) == 0 {
			continue
		}
		h, start := d.Header, int16(d.Start())
		from, _ := d.FromTransport()
		b.Label(label(h))
		b.Comment("%s: %d bytes at +%d, within the IP payload", h, d.MinLen, from)
		g.withinIP(int32(from + d.MinLen))
		g.bound(rCursor, int32(from+d.MinLen), g.stop())
		g.guards(d, rCursor, start)
		g.setFact(d.Fact)
		g.storeHeaderAt(h, rCursor, int16(from))
		b.Emit(asm.Ja.Label(g.l7Next(parent)))
	}
}

// copyRaw copies size bytes from src+soff to dst+doff with loads and stores
// of at most 8 bytes, using R1.
func (g *gen) copyRaw(src asm.Register, soff int16, dst asm.Register, doff int16, size int) {
	for size > 0 {
		n := asm.DWord
		switch {
		case size >= 8:
		case size >= 4:
			n = asm.Word
		case size >= 2:
			n = asm.Half
		default:
			n = asm.Byte
		}
		g.b.Emit(asm.LoadMem(asm.R1, src, soff, n), asm.StoreMem(dst, doff, asm.R1, n))
		k := int16(n.Sizeof())
		soff, doff, size = soff+k, doff+k, size-int(k)
	}
}

// vlanTag parses one inline tag into layer `layer`, if the current ethertype
// is a VLAN TPID; otherwise it jumps to next.
func (g *gen) vlanTag(layer int, next string) {
	b, rec := g.b, g.rec
	tag := b.NewLabel("vlan")
	b.Comment("inline VLAN tag, layer %d", layer)
	parent := rules.HdrEth
	if layer > 1 {
		parent = rules.HdrVLAN
	}
	for _, l := range rules.HdrVLAN.Def().Under {
		if l.Parent == parent {
			b.Emit(asm.JEq.Imm(rProto, raw16(uint16(l.Value)), tag))
		}
	}
	b.Emit(asm.Ja.Label(next))
	b.Label(tag)
	g.bound(rCursor, vlanLen, g.stop())
	g.setFact(rules.HdrVLAN.Def().Fact + layer - 1)
	if layer == 1 && g.need.has(rules.HdrIEEE8021AD) {
		not := b.NewLabel("ctag")
		b.Comment("an S-tag (TPID 0x88a8) is also ieee8021ad")
		b.Emit(asm.JNE.Imm(rProto, raw16(sTagTPID), not))
		g.setFact(rules.HdrIEEE8021AD.Def().Fact)
		if s, ok := rec.slots[slotKey{computed: compSTagTCI, size: 2, layer: 1}]; ok {
			b.Emit(asm.LoadMem(asm.R1, rCursor, 0, asm.Half), asm.HostTo(asm.BE, asm.R1, asm.Half))
			b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
		}
		b.Label(not)
	}
	if s, ok := rec.slots[slotKey{computed: compVLANTCI, size: 2, layer: layer}]; ok {
		b.Emit(asm.LoadMem(asm.R1, rCursor, 0, asm.Half), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
	}
	b.Emit(asm.LoadMem(rProto, rCursor, 2, asm.Half))
	if s, ok := rec.slots[slotKey{computed: compVLANEType, size: 2, layer: layer}]; ok {
		b.Emit(asm.Mov.Reg(asm.R1, rProto), asm.HostTo(asm.BE, asm.R1, asm.Half))
		b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Half))
	}
	b.Emit(asm.Add.Imm(rCursor, vlanLen))
}

func (g *gen) ipv4() {
	b := g.b
	b.Label(label(rules.HdrIPv4))
	b.Comment("ipv4: version 4, header length >= 20, %d bytes present", ipv4Len)
	g.bound(rCursor, ipv4Len, g.stop())
	b.Emit(asm.LoadMem(asm.R4, rCursor, 0, asm.Byte))
	b.Emit(asm.Mov.Reg(asm.R1, asm.R4), asm.And.Imm(asm.R1, 0xf0), asm.JNE.Imm(asm.R1, 0x40, g.stop()))
	b.Emit(asm.And.Imm(asm.R4, 0x0f), asm.JLT.Imm(asm.R4, 5, g.stop()), asm.LSh.Imm(asm.R4, 2))
	g.setFact(rules.HdrIPv4.Def().Fact)
	g.storeHeader(rules.HdrIPv4, rCursor)
	g.ipVersion()
	g.l7L3()
	if !g.need.l4 {
		b.Emit(asm.Ja.Label(g.stop()))
		return
	}
	b.Comment("ip payload length (r5; -1 when ip.len is 0, as TSO captures show); ip.len < header length: no transport layer")
	tso, frag := b.NewLabel("tso"), b.NewLabel("frag")
	b.Emit(asm.LoadMem(rPayload, rCursor, 2, asm.Half), asm.HostTo(asm.BE, rPayload, asm.Half))
	b.Emit(asm.JEq.Imm(rPayload, 0, tso))
	b.Emit(asm.JLT.Reg(rPayload, asm.R4, g.stop()))
	b.Emit(asm.Sub.Reg(rPayload, asm.R4))
	g.cold = append(g.cold, func() {
		b.Label(tso)
		b.Emit(asm.Mov.Imm(rPayload, payloadUnknown), asm.Ja.Label(frag))
	})
	b.Label(frag)
	b.Comment("non-first fragment: no transport layer")
	b.Emit(asm.LoadMem(asm.R1, rCursor, 6, asm.Half), asm.And.Imm(asm.R1, raw16(0x1fff)), asm.JNE.Imm(asm.R1, 0, g.stop()))
	b.Emit(asm.LoadMem(rProto, rCursor, 9, asm.Byte))
	b.Emit(asm.Add.Reg(rCursor, asm.R4))
	// (No fall-through: the transport blocks come after IPv6.)
	g.dispatch(rules.HdrIPv4, noFallThrough)
}

func (g *gen) ipv6() {
	b := g.b
	b.Label(label(rules.HdrIPv6))
	b.Comment("ipv6: version 6, %d bytes present", ipv6Len)
	g.bound(rCursor, ipv6Len, g.stop())
	b.Emit(asm.LoadMem(asm.R1, rCursor, 0, asm.Byte), asm.And.Imm(asm.R1, 0xf0), asm.JNE.Imm(asm.R1, 0x60, g.stop()))
	g.setFact(rules.HdrIPv6.Def().Fact)
	g.storeHeader(rules.HdrIPv6, rCursor)
	g.ipVersion()
	g.l7L3()
	if !g.need.l4 {
		b.Emit(asm.Ja.Label(g.stop()))
		return
	}
	b.Comment("ipv6 payload length (r5); 0 (jumbograms, TSO captures) says nothing: a large negative value")
	b.Emit(asm.LoadMem(rPayload, rCursor, 4, asm.Half), asm.HostTo(asm.BE, rPayload, asm.Half))
	b.Emit(asm.JEq.Imm(rPayload, 0, ipv6Plen0)) // out of line: see parse
	b.Label(ipv6Plen)
	b.Emit(asm.LoadMem(rProto, rCursor, 6, asm.Byte))
	b.Emit(asm.Add.Imm(rCursor, ipv6Len))
	l4 := ".l4v6"
	var extMask int64
	for _, nh := range rules.IPv6ExtHeaders {
		extMask |= 1 << nh
	}
	// A bounded loop (R4 counts the headers walked). The body is branch-free
	// on the header kind, so the verifier carries one state per iteration
	// instead of one per chain shape: the walk costs a few hundred processed
	// instructions, not tens of thousands. R0 and R1 are its scratch.
	loop := ".ext.loop"
	b.Emit(asm.Mov.Imm(asm.R4, 0))
	// Hop-by-hop options may only come first (RFC 8200, 4.1), and they are
	// the extension header most seen: walked straight, before the loop,
	// at the price of one more state into it for the verifier.
	b.Comment("hop-by-hop options: (len+1)*8 bytes")
	b.Emit(asm.JNE.Imm(rProto, 0, loop))
	g.bound(rCursor, extMinLen, g.stop())
	b.Emit(asm.LoadMem(asm.R1, rCursor, 1, asm.Byte), asm.Add.Imm(asm.R1, 1), asm.LSh.Imm(asm.R1, 3))
	b.Emit(asm.LoadMem(rProto, rCursor, 0, asm.Byte))
	b.Emit(asm.Add.Reg(rCursor, asm.R1), asm.Sub.Reg(rPayload, asm.R1), asm.Mov.Imm(asm.R4, 1))
	b.Label(loop)
	b.Comment("ipv6 extension headers, at most %d: hop-by-hop, routing, fragment, AH, destination options", MaxExtHeaders)
	b.Emit(asm.JGE.Imm(asm.R4, MaxExtHeaders, l4), asm.Add.Imm(asm.R4, 1))
	b.Emit(asm.JGT.Imm(rProto, 63, l4))
	b.Emit(asm.Mov.Imm(asm.R1, 1), asm.LSh.Reg(asm.R1, rProto))
	b.Emit(asm.LoadImm(asm.R0, extMask, asm.DWord), asm.And.Reg(asm.R1, asm.R0), asm.JEq.Imm(asm.R1, 0, l4))
	g.bound(rCursor, extMinLen, g.stop())
	b.Comment("r0 = all ones unless a fragment header")
	b.Emit(asm.Mov.Reg(asm.R0, rProto), asm.Xor.Imm(asm.R0, 44), asm.Neg.Imm(asm.R0, 0), asm.RSh.Imm(asm.R0, 63), asm.Neg.Imm(asm.R0, 0))
	b.Comment("a fragment header with a non-zero offset: no transport layer")
	b.Emit(asm.LoadMem(asm.R1, rCursor, 2, asm.Half), asm.And.Imm(asm.R1, raw16(0xfff8)))
	b.Emit(asm.Xor.Imm(asm.R0, -1), asm.And.Reg(asm.R1, asm.R0), asm.JNE.Imm(asm.R1, 0, g.stop()), asm.Xor.Imm(asm.R0, -1))
	b.Comment("length: a fragment header's length byte is reserved (8 bytes); AH (len+2)*4; the others (len+1)*8")
	b.Comment("= (len + 2 - notAH) << (2 + notAH), with len taken as 0 for a fragment header")
	b.Emit(asm.LoadMem(asm.R1, rCursor, 1, asm.Byte), asm.And.Reg(asm.R1, asm.R0))
	b.Emit(asm.Mov.Reg(asm.R0, rProto), asm.Xor.Imm(asm.R0, 51), asm.Neg.Imm(asm.R0, 0), asm.RSh.Imm(asm.R0, 63))
	b.Emit(asm.Add.Imm(asm.R1, 2), asm.Sub.Reg(asm.R1, asm.R0), asm.Add.Imm(asm.R0, 2), asm.LSh.Reg(asm.R1, asm.R0))
	b.Emit(asm.And.Imm(asm.R1, 0xffc))
	b.Emit(asm.LoadMem(rProto, rCursor, 0, asm.Byte))
	b.Emit(asm.Add.Reg(rCursor, asm.R1), asm.Sub.Reg(rPayload, asm.R1))
	b.Emit(asm.Ja.Label(loop))
	// After MaxExtHeaders headers the chain may still end: a chain of exactly
	// MaxExtHeaders has its transport next. A longer one leaves an extension
	// header in r2, which the dispatch below matches to nothing.
	b.Label(l4)
	// TCP last, so that it falls through to .tcp.
	g.dispatch(rules.HdrIPv6, rules.HdrTCP)
}

// payloadUnknown is the IP payload length (R5) when the IP length fields say
// nothing: IPv4 total length 0 and IPv6 payload length 0 (TSO captures,
// jumbograms). Subtracting the extension headers (at most 8 × 2 KiB) leaves
// it below payloadUnknown/2; any larger negative length is a payload shorter
// than its own extension headers.
const payloadUnknown = -1 << 20

// withinIP skips the transport header when the IP length fields say the IP
// payload ends before n bytes of it (what follows is Ethernet padding or
// garbage, as Wireshark also sees it), or ends before the IPv6 extension
// headers do. An unknown length (payloadUnknown) lets the frame's own length
// decide.
func (g *gen) withinIP(n int32) {
	ok := g.b.NewLabel("iplen")
	g.b.Emit(asm.JSLT.Imm(rPayload, payloadUnknown/2, ok), asm.JSLT.Imm(rPayload, n, g.stop()))
	g.b.Label(ok)
}

// l4 emits the transport headers, reached from ipv4() and ipv6() with the
// cursor on the header, and the end of the parser.
func (g *gen) l4() {
	b, rec := g.b, g.rec
	if g.need.has(rules.HdrTCP) {
		b.Label(label(rules.HdrTCP))
		b.Comment("tcp: %d bytes, within the IP payload", tcpLen)
		g.withinIP(tcpLen)
		g.bound(rCursor, tcpLen, g.stop())
		g.setFact(rules.HdrTCP.Def().Fact)
		g.storeHeader(rules.HdrTCP, rCursor)
		g.l7Enter(rules.HdrTCP)
		g.payEnter(rules.HdrTCP)
		next := g.l7Next(rules.HdrTCP)
		if s, ok := rec.slots[slotKey{computed: compTCPLen, size: 4, layer: 1}]; ok {
			// As in Wireshark, whose IP dissector cuts its payload to the IP
			// length but never beyond the frame's length on the wire: an IP
			// length longer than the frame counts the frame's bytes only
			// (54-byte frame, ip.len 65535: 0).
			b.Comment("tcp.len: the ip payload length, at most the frame's bytes on the wire from the tcp header, less the tcp header length")
			fl := rec.slots[slotKey{computed: compFrameLen, size: 4, layer: 1}]
			b.Emit(asm.LoadMem(asm.R4, rCursor, 12, asm.Byte), asm.RSh.Imm(asm.R4, 4), asm.LSh.Imm(asm.R4, 2))
			b.Emit(asm.JLT.Imm(asm.R4, tcpLen, next))
			b.Emit(asm.LoadMem(asm.R1, asm.R10, fl.off, asm.Word))
			if g.fl.VLANInMeta {
				b.Comment("frame.len counts a tag the kernel moved to metadata: not in the bytes from the packet's start")
				b.Emit(asm.LoadMem(asm.R0, rCtx, g.fl.CtxVLANPres, asm.Word), asm.LSh.Imm(asm.R0, 2), asm.Sub.Reg(asm.R1, asm.R0))
			}
			b.Emit(asm.Mov.Reg(asm.R0, rCursor), asm.Sub.Reg(asm.R0, rData), asm.Sub.Reg(asm.R1, asm.R0))
			keep := b.NewLabel("tcplen")
			b.Emit(asm.JSGE.Reg(rPayload, asm.R1, keep), asm.Mov.Reg(asm.R1, rPayload))
			b.Label(keep)
			b.Emit(asm.JSLT.Reg(asm.R1, asm.R4, next))
			b.Emit(asm.Sub.Reg(asm.R1, asm.R4))
			b.Emit(asm.StoreMem(asm.R10, s.off, asm.R1, asm.Word))
			g.setFact(rules.FieldFact(tcpLenField, 1))
		}
		b.Emit(asm.Ja.Label(next))
	}
	// The other transports have a fixed length: one block each, from the
	// table.
	for _, d := range rules.HeaderDefs() {
		if d.Len != rules.LenFixed || !d.IsTransport() || !g.need.has(d.Header) {
			continue
		}
		h, n := d.Header, int32(d.MinLen)
		b.Label(label(h))
		b.Comment("%s: %d bytes, within the IP payload", h, n)
		g.withinIP(n)
		g.bound(rCursor, n, g.stop())
		g.guards(d, rCursor, 0)
		g.setFact(d.Fact)
		g.storeHeader(h, rCursor)
		g.l7Enter(h)
		g.payEnter(h)
		g.children(h)
		b.Emit(asm.Ja.Label(g.l7Next(h)))
	}
	g.childBlocks()
	if g.l7 != nil {
		g.markPhase(PhaseL7)
	}
	g.l7Blocks()
	g.markPhase(PhaseParser) // the presence spill ends the parser
	g.parseEnd()
}

// spillLen is the instructions of the presence spill.
const spillLen = 2

// parseEnd ends the parser. It keeps a copy of the presence bitmap on the
// stack that the verifier cannot track: each parser path leaves a different
// constant in R7, and a test the verifier can decide from a known value makes
// it track that value precisely, back through every instruction before it;
// with many rules re-testing the same facts, verification time would grow
// with the square of the rule count. Overwriting one byte of the spill (the
// top byte, always zero: facts stay below bit 56) turns the slot into plain
// memory; every load from it is a fresh unknown value, so no test on it is
// ever decided at load time. That is safe because rules read only the record.
func (g *gen) parseEnd() {
	b := g.b
	b.Label(parseDone)
	g.procFind()
	g.payCopy()
	top := int16(presenceOff)
	if ByteOrder.Uint16([]byte{1, 0}) == 1 {
		top = presenceOff + 7 // little endian: the most significant byte is the last
	}
	b.Comment("presence bitmap, opaque to the verifier (see parseEnd)")
	g.spillAt = b.Len()
	b.Emit(asm.StoreMem(asm.R10, presenceOff, rPresence, asm.DWord))
	b.Emit(asm.StoreImm(asm.R10, top, 0, asm.Byte))
	// R7 keeps its value for the events; it is stored, never tested, so the
	// verifier does not track it precisely. (No reload here: reading the
	// slot right after two overlapping stores would stall store forwarding.)
}

// linkBlocks emits the blocks of the fixed-length headers that follow the
// link layer directly (other than VLAN tags and IP), from the table.
func (g *gen) linkBlocks() {
	b := g.b
	for _, d := range rules.Children(rules.HdrEth) {
		if d.Len != rules.LenFixed || d.Header == rules.HdrVLAN || !g.need.has(d.Header) {
			continue
		}
		h := d.Header
		b.Label(label(h))
		b.Comment("%s: %d bytes", h, d.MinLen)
		g.bound(rCursor, int32(d.MinLen), g.stop())
		g.guards(d, rCursor, 0)
		g.setFact(d.Fact)
		g.storeHeader(h, rCursor)
		b.Emit(asm.Ja.Label(g.stop()))
	}
}

// ipVersion stores ip.version, which IPv4 and IPv6 headers both carry (as in
// Wireshark), from the header at the cursor.
func (g *gen) ipVersion() {
	s, ok := g.rec.slots[slotKey{computed: compIPVersion, size: 1, layer: 1}]
	if !ok {
		return
	}
	g.b.Emit(asm.LoadMem(asm.R1, rCursor, 0, asm.Byte), asm.StoreMem(asm.R10, s.off, asm.R1, asm.Byte))
	g.setFact(rules.FieldFact(ipVersionField, 1))
}
