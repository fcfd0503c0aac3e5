package compiler

import (
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/rules"
)

// Transaction state: what a request leaves for its response, per flow, in
// bounded LRU maps shared by every hook of a rule set (rules/transactions.go
// states the semantics, docs/transactions.md explains them).
//
// A flow's key names its two endpoints in a canonical order (txKey), so
// that both directions find one entry; the packet's direction relative to
// that order is left in sTxDir. Each protocol has its own map and value
// layout; the counters of every protocol share tx_stats.
//
// Packet times (txNow) come from the kernel's clock live and from the
// capture in a test run (Options.TestRun): tc reads __sk_buff.tstamp, which
// the test run sets, XDP a u64 at 8 in the metadata the test run passes.

// TxProto indexes the transaction protocols (a row of tx_stats, the Proto
// of a flow key).
type TxProto int32

const (
	TxHTTP TxProto = iota
	TxDNS
	TxTLS
	NumTxProtos
)

// Counters of a protocol's row in tx_stats (u64 each, per CPU).
const (
	TxRequests    = iota // requests stored
	TxPaired             // requests answered: taken off their flow's queue by their (final) response
	TxTimeouts           // requests too old for the response that found them: taken off, not paired
	TxOverflow           // requests pushed out of their flow's full queue, or dropped when the other endpoint started sending requests
	TxOrphans            // responses with no waiting request (none seen, evicted, or the flow unknown)
	TxInterim            // HTTP: interim (1xx) responses paired, the request left waiting
	NumTxCounters = 8    // the rest are free for a protocol's own
)

// Every stored request ends as exactly one of: paired, timed out, pushed
// out (overflow), still waiting in its flow's entry, or lost with its entry
// when the LRU map evicted it. User space reads the first four and the
// waiting ones, and counts the rest as evicted (runtime.TxStats).

// Map names.
const (
	// TxStatsMap holds the counters: per CPU, one row per TxProto.
	TxStatsMap = "tx_stats"
	// HTTPTxMap holds each HTTP flow's waiting requests (LRU).
	HTTPTxMap = "http_tx"
)

// txKey is a flow's key. Endpoint A is the lower of the two (address, then
// port; any fixed order does): both directions build the same key.
type txKey struct {
	Proto  uint16 // TxProto
	Family uint16 // 4 or 6
	ID     uint32 // a protocol's own part of the key (0 for HTTP)
	A, B   [16]byte
	PortA  uint16
	PortB  uint16
	_      uint32
}

const (
	txKeySize = int16(unsafe.Sizeof(txKey{}))
	tkID      = int16(unsafe.Offsetof(txKey{}.ID))
	tkA       = int16(unsafe.Offsetof(txKey{}.A))
	tkB       = int16(unsafe.Offsetof(txKey{}.B))
	tkPortA   = int16(unsafe.Offsetof(txKey{}.PortA))
	tkPortB   = int16(unsafe.Offsetof(txKey{}.PortB))
)

// txKey builds the flow key of protocol proto at sTxKey, and sTxDir, or
// jumps to fail. The packet's network header offset is in the record
// (compL7L3Off), the ports in sSport and sDport. Clobbers R1-R5.
func (g *gen) txKey(proto TxProto, fail string) {
	b, fl := g.b, g.fl
	k := stF(sTxKey)
	b.Comment("transaction flow key: protocol, family, the endpoints in canonical order")
	for off := int16(0); off < txKeySize; off += 8 {
		b.Emit(storeDW(asm.R9, k+off, 0))
	}
	l3 := g.rec.slots[slotKey{computed: compL7L3Off, size: 2, layer: 1}]
	b.Emit(asm.LoadMem(asm.R2, asm.R10, l3.off, asm.Half), asm.JGT.Imm(asm.R2, 0x3ff, fail))
	b.Emit(asm.LoadMem(asm.R1, rCtx, fl.CtxData, asm.Word), asm.Add.Reg(asm.R1, asm.R2))
	b.Emit(asm.LoadMem(asm.R3, rCtx, fl.CtxDataEnd, asm.Word))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, ipv4Len), asm.JGT.Reg(asm.R4, asm.R3, fail))
	v6, ports := b.NewLabel("txkey.v6"), b.NewLabel("txkey.ports")
	srcLow, dstLow := b.NewLabel("txkey.src"), b.NewLabel("txkey.dst")
	dirA, dirB := b.NewLabel("txkey.dirA"), b.NewLabel("txkey.dirB")
	b.Emit(asm.LoadMem(asm.R4, asm.R1, 0, asm.Byte), asm.RSh.Imm(asm.R4, 4), asm.JNE.Imm(asm.R4, 4, v6))
	b.Emit(asm.StoreImm(asm.R9, k, int64(proto)|4<<16, asm.Word))
	b.Emit(asm.LoadMem(asm.R4, asm.R1, 12, asm.Word), asm.LoadMem(asm.R5, asm.R1, 16, asm.Word))
	b.Emit(asm.JLT.Reg(asm.R4, asm.R5, srcLow+".4"), asm.JGT.Reg(asm.R4, asm.R5, dstLow+".4"))
	b.Emit(asm.Ja.Label(ports))
	b.Label(srcLow + ".4")
	b.Emit(asm.StoreMem(asm.R9, k+tkA, asm.R4, asm.Word), asm.StoreMem(asm.R9, k+tkB, asm.R5, asm.Word), asm.Ja.Label(dirA))
	b.Label(dstLow + ".4")
	b.Emit(asm.StoreMem(asm.R9, k+tkA, asm.R5, asm.Word), asm.StoreMem(asm.R9, k+tkB, asm.R4, asm.Word), asm.Ja.Label(dirB))

	b.Label(v6)
	b.Emit(asm.JNE.Imm(asm.R4, 6, fail))
	b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, ipv6Len), asm.JGT.Reg(asm.R4, asm.R3, fail))
	b.Emit(asm.StoreImm(asm.R9, k, int64(proto)|6<<16, asm.Word))
	for i := int16(0); i < 16; i += 8 {
		b.Emit(asm.LoadMem(asm.R4, asm.R1, 8+i, asm.DWord), asm.LoadMem(asm.R5, asm.R1, 24+i, asm.DWord))
		b.Emit(asm.JLT.Reg(asm.R4, asm.R5, srcLow+".6"), asm.JGT.Reg(asm.R4, asm.R5, dstLow+".6"))
	}
	b.Comment("the same address both ways: the ports decide")
	b.Label(ports)
	b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(sSport), asm.DWord), asm.LoadMem(asm.R5, asm.R9, stF(sDport), asm.DWord))
	b.Emit(asm.JLE.Reg(asm.R4, asm.R5, srcLow), asm.Ja.Label(dstLow))
	for _, side := range []struct {
		label    string
		src, dst int16
		dir      string
	}{{srcLow + ".6", tkA, tkB, dirA}, {dstLow + ".6", tkB, tkA, dirB}} {
		b.Label(side.label)
		for i := int16(0); i < 32; i += 8 {
			b.Emit(asm.LoadMem(asm.R4, asm.R1, 8+i, asm.DWord))
			at := side.src + i
			if i >= 16 {
				at = side.dst + i - 16
			}
			b.Emit(asm.StoreMem(asm.R9, k+at, asm.R4, asm.DWord))
		}
		b.Emit(asm.Ja.Label(side.dir))
	}
	b.Comment("a tie on the addresses: the lower port is endpoint A")
	for _, l := range []string{srcLow, dstLow} {
		v4 := b.NewLabel("txkey.tie4")
		b.Label(l)
		b.Emit(asm.LoadMem(asm.R4, asm.R1, 0, asm.Byte), asm.RSh.Imm(asm.R4, 4), asm.JNE.Imm(asm.R4, 6, v4))
		b.Emit(asm.Mov.Reg(asm.R4, asm.R1), asm.Add.Imm(asm.R4, ipv6Len), asm.JGT.Reg(asm.R4, asm.R3, fail), asm.Ja.Label(l+".6"))
		b.Label(v4)
		b.Emit(asm.LoadMem(asm.R4, asm.R1, 12, asm.Word), asm.LoadMem(asm.R5, asm.R1, 16, asm.Word), asm.Ja.Label(l+".4"))
	}
	done := b.NewLabel("txkey.done")
	for _, d := range []struct {
		label    string
		a, bport int16
		dir      int32
	}{{dirA, sSport, sDport, 0}, {dirB, sDport, sSport, 1}} {
		b.Label(d.label)
		b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(d.a), asm.DWord), asm.StoreMem(asm.R9, k+tkPortA, asm.R4, asm.Half))
		b.Emit(asm.LoadMem(asm.R4, asm.R9, stF(d.bport), asm.DWord), asm.StoreMem(asm.R9, k+tkPortB, asm.R4, asm.Half))
		b.Emit(asm.Mov.Imm(asm.R4, d.dir), asm.StoreMem(asm.R9, stF(sTxDir), asm.R4, asm.DWord), asm.Ja.Label(done))
	}
	b.Label(done)
}

// txNow stores the packet's time, in nanoseconds, at sTxNow: the kernel's
// clock, or in a test run the capture's (Options.TestRun). Clobbers R0-R3.
func (g *gen) txNow() {
	b, fl := g.b, g.fl
	switch {
	case !g.opts.TestRun:
		b.Emit(asm.FnKtimeGetNs.Call())
	case fl.CtxTstamp >= 0:
		b.Comment("a test run's time: __sk_buff.tstamp")
		b.Emit(asm.LoadMem(asm.R0, rCtx, fl.CtxTstamp, asm.DWord))
	default:
		done := b.NewLabel("txnow")
		b.Comment("a test run's time: the u64 at 8 in the metadata, else 0")
		b.Emit(asm.Mov.Imm(asm.R0, 0), asm.LoadMem(asm.R2, rCtx, fl.CtxDataMeta, asm.Word), asm.LoadMem(asm.R3, rCtx, fl.CtxData, asm.Word))
		b.Emit(asm.Mov.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R1, 16), asm.JGT.Reg(asm.R1, asm.R3, done))
		b.Emit(asm.LoadMem(asm.R0, asm.R2, 8, asm.DWord))
		b.Label(done)
	}
	b.Emit(asm.StoreMem(asm.R9, stF(sTxNow), asm.R0, asm.DWord))
}

// txID stores the message's id in its flow at sTxID: the segment's
// sequence number plus the payload's offset in the frame (pipelined
// requests of one segment differ by it), 32 bits.
func (g *gen) txID() {
	b := g.b
	b.Emit(asm.LoadMem(asm.R1, asm.R9, stF(sSeq), asm.DWord), asm.LoadMem(asm.R2, asm.R9, stF(sPOff), asm.DWord))
	b.Emit(asm.Add.Reg32(asm.R1, asm.R2), asm.StoreMem(asm.R9, stF(sTxID), asm.R1, asm.DWord))
}

// txLookup sets R8 to the flow's entry in map m (key at sTxKey), or jumps
// to miss. Clobbers R0-R5.
func (g *gen) txLookup(m string, miss string) {
	b := g.b
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, int32(stF(sTxKey))))
	b.Emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, miss), asm.Mov.Reg(asm.R8, asm.R0))
}

// txLookupOrCreate is txLookup creating a zero entry when there is none
// (from l7TxZero, which nothing writes), or jumps to fail.
func (g *gen) txLookupOrCreate(m string, fail string) {
	b := g.b
	found, create := b.NewLabel("tx.found"), b.NewLabel("tx.create")
	g.txLookup(m, create)
	b.Emit(asm.Ja.Label(found))
	b.Label(create)
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m), asm.Mov.Reg(asm.R2, asm.R9), asm.Add.Imm(asm.R2, int32(stF(sTxKey))))
	b.Emit(asm.Mov.Reg(asm.R3, asm.R9), asm.Add.Imm(asm.R3, l7TxZero), asm.Mov.Imm(asm.R4, 1)) // BPF_NOEXIST
	b.Emit(asm.FnMapUpdateElem.Call())
	g.txLookup(m, fail)
	b.Label(found)
}

// txAdd adds the u64 at sTxTmp (tmp) or 1 to counter c of protocol p in
// tx_stats. Clobbers R0-R5.
func (g *gen) txAdd(p TxProto, c int, tmp bool) {
	b := g.b
	done := b.NewLabel("txcount")
	b.Emit(asm.StoreImm(asm.R10, keyOff, int64(p), asm.Word), asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, keyOff))
	b.Emit(asm.LoadMapPtr(asm.R1, 0).WithReference(TxStatsMap), asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, done))
	b.Emit(asm.LoadMem(asm.R1, asm.R0, int16(8*c), asm.DWord))
	if tmp {
		b.Emit(asm.LoadMem(asm.R2, asm.R9, stF(sTxTmp), asm.DWord), asm.Add.Reg(asm.R1, asm.R2))
	} else {
		b.Emit(asm.Add.Imm(asm.R1, 1))
	}
	b.Emit(asm.StoreMem(asm.R0, int16(8*c), asm.R1, asm.DWord))
	b.Label(done)
}

// txMaps adds the transaction maps the programs refer to.
func (o *Output) txMaps(spec *ebpf.CollectionSpec, uses map[string]bool) {
	flows := uint32(o.Options.TxFlows)
	if uses[TxStatsMap] {
		spec.Maps[TxStatsMap] = &ebpf.MapSpec{Name: TxStatsMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8 * NumTxCounters, MaxEntries: uint32(NumTxProtos)}
	}
	if uses[TLSTxMap] {
		spec.Maps[TLSTxMap] = &ebpf.MapSpec{Name: TLSTxMap, Type: ebpf.LRUHash, KeySize: uint32(txKeySize), ValueSize: uint32(txDNSFlowSize), MaxEntries: flows}
	}
	if uses[DNSTxMap] {
		spec.Maps[DNSTxMap] = &ebpf.MapSpec{Name: DNSTxMap, Type: ebpf.LRUHash, KeySize: uint32(txKeySize), ValueSize: uint32(txDNSFlowSize), MaxEntries: flows}
	}
	if uses[HTTPTxMap] {
		spec.Maps[HTTPTxMap] = &ebpf.MapSpec{Name: HTTPTxMap, Type: ebpf.LRUHash, KeySize: uint32(txKeySize), ValueSize: uint32(o.Options.httpTxValue()), MaxEntries: flows}
	}
}

// TxMaps are the names of the maps holding flows, by protocol.
var TxMaps = map[TxProto]string{TxHTTP: HTTPTxMap, TxDNS: DNSTxMap, TxTLS: TLSTxMap}

// IsTxMap reports whether a map of the collection holds transaction state.
func IsTxMap(name string) bool {
	if name == TxStatsMap {
		return true
	}
	for _, m := range TxMaps {
		if m == name {
			return true
		}
	}
	return false
}

// UsesTx reports whether the programs keep transaction state.
func (o *Output) UsesTx() bool {
	for _, p := range o.Programs {
		for _, ins := range p.Insns {
			if ins.Reference() == TxStatsMap {
				return true
			}
		}
	}
	return false
}

var _ = rules.TxDepth
