package compiler

import (
	"unsafe"

	"github.com/hdrlog/hdrlog/rules"
)

// Layout of an l7 map value (one per hook and CPU): the held ClientHello's
// header, the payload window, the buffers decoders write strings into, and
// the decoder state. Offsets stored in string slots are from the value's
// start; every string lies below l7OffMax, and at least MaxMaxLen + 64
// bytes follow l7OffMax, so a read of up to MaxMaxLen bytes (plus a word)
// from any valid offset stays inside the value.
const (
	l7Held     = 0                       // 16 bytes: a held ClientHello's header (time u64, next seq u32, length u32), then its bytes (the window's start)
	l7Win      = l7Held + 16             // the payload window
	l7WinSize  = rules.L7Window          // 4096
	l7Name     = l7Win + l7WinSize + 512 // the dotted DNS name (512: slack for word reads past the window)
	l7NameSize = 256
	l7CName    = l7Name + l7NameSize + 64  // the dotted name of the first CNAME record
	l7List     = l7CName + l7NameSize + 64 // a list rendered as text (ALPN protocols, comma-joined)
	// l7ListSize: the MaxMaxLen bytes an event can show, and room for the
	// word-wise copy of one more element (at most 255 bytes) past them.
	l7ListSize = rules.MaxMaxLen + 256 + 64
	// l7Tx holds a paired request's values for its response (method, URI,
	// host: txStrings), l7TxZero a zero flow value to create entries from
	// (never written).
	l7Tx     = l7List + l7ListSize
	l7TxSize = txStrBytes + 64
	l7TxZero = l7Tx + l7TxSize
	l7State  = l7TxZero + txFlowMax // the decoder state, l7Scratch
	l7OffMax = l7State
	// l7Mask holds the state of the URL masking (l7_mask.go), eight words,
	// then the masked copy of a value (l7MaskBuf), read word-wise into the
	// event.
	l7Mask     = l7State + int(unsafe.Sizeof(l7Scratch{}))
	l7MaskBuf  = l7Mask + 64
	l7MaskSize = rules.MaxMaxLen + 64
	l7Size     = l7MaskBuf + l7MaskSize
)

// l7Scratch is the decoder state at l7State in the l7 value: the results of
// the callbacks, and what the main program and the callbacks share. Every
// field is a word (or words), so that 8-byte loads and stores at its offset
// are aligned; the s* offsets below are computed from it.
type l7Scratch struct {
	POff, PLen uint64   // the payload's offset from the frame's start, and its length
	Avail      uint64   // payload bytes in the window
	FLen       uint64   // frame bytes from the start of the packet data
	Sport      uint64   // transport ports, host order
	Dport      uint64   //
	Seq        uint64   // TCP sequence number, host order
	Peek       [16]byte // the first 16 payload bytes (zero past the payload)
	Pos, Lim   uint64   // byte finder: position and limit (window offsets), pattern, result
	Pat, Res   uint64   //
	LS, E      uint64   // HTTP: start of the next line; end of the current line, before its CR LF
	M, Kind    uint64   // HTTP: method length (request) or 0; 1 request, 2 status line
	SP         uint64   // HTTP: the space after the request target; TLS: the hello message's end
	WPos, Wire uint64   // DNS: write position in the name, name bytes on the wire; TLS: walk position, end of the extensions
	Sel        uint64   // 3 bytes: ports that selected HTTP, DNS, TLS (bit 0 default, bit k list k)
	Cont       uint64   // 1: this segment continues a held ClientHello
	Hash       uint64   // TLS: the flow's bucket in tls_pending (or more than l7Buckets: none)
	Hello      uint64   // TLS: the hello's handshake type (1, 2) when the window must be decoded
	DNSMDNS    uint64   // DNS: 1 in an mDNS message
	TLSBase    uint64   // TLS: where the handshake record starts (after a ChangeCipherSpec record: tlsCCSLen)
	RecEnd     uint64   // TLS: the handshake record's end (window offset)
	Next       uint64   // HTTP: where the next request of the segment starts (window offset), 0 when none
	TmpLen     uint64   // TLS: a continuation's length
	Key        [l7KeySize]byte
	TxKey      [txKeySize]byte // a transaction's flow key (tx.go)
	TxDir      uint64          // 0: this packet is from the key's endpoint A, 1: from B
	TxCode     uint64          // HTTP: the response's status code
	TxID       uint64          // the message's id in its flow: TCP sequence number plus the payload's offset (u32)
	TxNow      uint64          // the packet's time, nanoseconds (txNow)
	TxSlot     uint64          // the queue slot of the request being stored or paired
	TxTmp      uint64          // an amount for txAdd
	Facts      uint64          // the facts the decoders found, ORed into R7 at the commit (so every L7 path leaves one verifier state)
	// A list walk (ALPN): the next element's length byte and the list's
	// end (window offsets), the text written so far, the result of a test.
	LPos, LEnd, LOut, LRes uint64
	// DNS names: the message's start in the window, the start of the
	// current label run (a pointer must point before it).
	DNSBase, Run uint64
	// The DNS record walk (dnsRecords): entries left to walk, questions
	// left among them, 1 while in an entry's name; what it found: window
	// offsets of the first A and AAAA records' data and of the first CNAME
	// record's (0: none), the first TTL with bit 32 set (0: none).
	REntries, RQuestions, RInName uint64
	RMore                         uint64 // 1: the message announces more entries than the walk takes
	DNSEnd                        uint64 // where the message ends by its length (TCP) or the payload's (UDP), window offset
	RA, RAAAA, RCName, RTTL       uint64
	// TLS: a ServerHello's selected version (bit 16: found).
	TLSSupVer uint64
	// Dirty: the window bytes filled since the last clearing (the highest
	// sAvail, or a held ClientHello's copy), which l7Clear zeroes.
	Dirty uint64
	// The limits the decoders gave up at on this message (bit l:
	// rules.L7Limit l), counted at the commit (l7_limit.go).
	Limits uint64
	// The key of a string set's lookup (l7_textset.go): a length, then the
	// value's bytes.
	SetKey [8 + maxTextKey]byte
	Str    [l7MaxStrings]uint64 // string results, one slot each (see l7_plan.go)
}

// Offsets of the decoder state's fields, from l7State (stF adds it).
const (
	sPOff    = int16(unsafe.Offsetof(l7Scratch{}.POff))
	sPLen    = int16(unsafe.Offsetof(l7Scratch{}.PLen))
	sAvail   = int16(unsafe.Offsetof(l7Scratch{}.Avail))
	sFLen    = int16(unsafe.Offsetof(l7Scratch{}.FLen))
	sSport   = int16(unsafe.Offsetof(l7Scratch{}.Sport))
	sDport   = int16(unsafe.Offsetof(l7Scratch{}.Dport))
	sSeq     = int16(unsafe.Offsetof(l7Scratch{}.Seq))
	sPeek    = int16(unsafe.Offsetof(l7Scratch{}.Peek))
	sPos     = int16(unsafe.Offsetof(l7Scratch{}.Pos))
	sLim     = int16(unsafe.Offsetof(l7Scratch{}.Lim))
	sPat     = int16(unsafe.Offsetof(l7Scratch{}.Pat))
	sRes     = int16(unsafe.Offsetof(l7Scratch{}.Res))
	sLS      = int16(unsafe.Offsetof(l7Scratch{}.LS))
	sE       = int16(unsafe.Offsetof(l7Scratch{}.E))
	sM       = int16(unsafe.Offsetof(l7Scratch{}.M))
	sKind    = int16(unsafe.Offsetof(l7Scratch{}.Kind))
	sSP      = int16(unsafe.Offsetof(l7Scratch{}.SP))
	sWPos    = int16(unsafe.Offsetof(l7Scratch{}.WPos))
	sWire    = int16(unsafe.Offsetof(l7Scratch{}.Wire))
	sSel     = int16(unsafe.Offsetof(l7Scratch{}.Sel))
	sCont    = int16(unsafe.Offsetof(l7Scratch{}.Cont))
	sHash    = int16(unsafe.Offsetof(l7Scratch{}.Hash))
	sHello   = int16(unsafe.Offsetof(l7Scratch{}.Hello))
	sTmpLen  = int16(unsafe.Offsetof(l7Scratch{}.TmpLen))
	sDNSMDNS = int16(unsafe.Offsetof(l7Scratch{}.DNSMDNS))
	sTLSBase = int16(unsafe.Offsetof(l7Scratch{}.TLSBase))
	sRecEnd  = int16(unsafe.Offsetof(l7Scratch{}.RecEnd))
	sNext    = int16(unsafe.Offsetof(l7Scratch{}.Next))
	sKey     = int16(unsafe.Offsetof(l7Scratch{}.Key))
	sTxKey   = int16(unsafe.Offsetof(l7Scratch{}.TxKey))
	sTxDir   = int16(unsafe.Offsetof(l7Scratch{}.TxDir))
	sTxCode  = int16(unsafe.Offsetof(l7Scratch{}.TxCode))
	sTxID    = int16(unsafe.Offsetof(l7Scratch{}.TxID))
	sTxNow   = int16(unsafe.Offsetof(l7Scratch{}.TxNow))
	sTxSlot  = int16(unsafe.Offsetof(l7Scratch{}.TxSlot))
	sTxTmp   = int16(unsafe.Offsetof(l7Scratch{}.TxTmp))
	sFacts   = int16(unsafe.Offsetof(l7Scratch{}.Facts))
	sDirty   = int16(unsafe.Offsetof(l7Scratch{}.Dirty))
	sLPos    = int16(unsafe.Offsetof(l7Scratch{}.LPos))
	sLEnd    = int16(unsafe.Offsetof(l7Scratch{}.LEnd))
	sLOut    = int16(unsafe.Offsetof(l7Scratch{}.LOut))
	sLRes    = int16(unsafe.Offsetof(l7Scratch{}.LRes))
	sStr     = int16(unsafe.Offsetof(l7Scratch{}.Str))
	sSetKey  = int16(unsafe.Offsetof(l7Scratch{}.SetKey))
	sDNSBase = int16(unsafe.Offsetof(l7Scratch{}.DNSBase))
	sRun     = int16(unsafe.Offsetof(l7Scratch{}.Run))
	sREnt    = int16(unsafe.Offsetof(l7Scratch{}.REntries))
	sRQ      = int16(unsafe.Offsetof(l7Scratch{}.RQuestions))
	sRInName = int16(unsafe.Offsetof(l7Scratch{}.RInName))
	sRMore   = int16(unsafe.Offsetof(l7Scratch{}.RMore))
	sDNSEnd  = int16(unsafe.Offsetof(l7Scratch{}.DNSEnd))
	sRA      = int16(unsafe.Offsetof(l7Scratch{}.RA))
	sRAAAA   = int16(unsafe.Offsetof(l7Scratch{}.RAAAA))
	sRCName  = int16(unsafe.Offsetof(l7Scratch{}.RCName))
	sRTTL    = int16(unsafe.Offsetof(l7Scratch{}.RTTL))
	sTLSSV   = int16(unsafe.Offsetof(l7Scratch{}.TLSSupVer))
	sLimits  = int16(unsafe.Offsetof(l7Scratch{}.Limits))
)

// stF addresses a field of the decoder state from R9.
func stF(f int16) int16 { return l7State + f }
