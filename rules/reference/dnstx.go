package reference

import (
	"encoding/binary"

	"github.com/hdrlog/hdrlog/rules"
)

// DNS transactions, as rules/dnstx.go states them.

type dnsTxKey struct {
	flow txFlowKey
	tcp  bool
	id   uint16
}

// dnsTxEntry is a flow's query of one id: waiting until answered.
type dnsTxEntry struct {
	side    int // 1 + the direction of the query's sender
	hash    uint64
	time    uint64
	waiting bool
}

// questionHash is the FNV-1a hash of the first question's bytes (name,
// type, class) of the message at w[base:], and whether it was decoded.
func questionHash(w []byte, base, lim int) (uint64, bool) {
	if lim < base+12 || binary.BigEndian.Uint16(w[base+4:]) == 0 {
		return 0, false
	}
	_, end, ok := dnsName(w, base+12, base, lim, false)
	if !ok || end+4 > lim {
		return 0, false
	}
	h := uint64(rules.FNVOffset64)
	for _, c := range w[base+12 : end+4] {
		h = (h ^ uint64(c)) * rules.FNVPrime64
	}
	return h, true
}

// dnsTx pairs a DNS response with its query, or keeps a query, and adds
// dns.time to a paired response.
func (e *Evaluator) dnsTx(p *Packet, l *l7Packet, w []byte, base int) {
	m := l.dns
	if m == nil {
		return
	}
	lim := len(w)
	if base == 2 && len(w) >= 2 {
		lim = min(lim, int(binary.BigEndian.Uint16(w))+2)
	}
	hash, ok := questionHash(w, base, lim)
	flow, dir, fok := flowOf(p, l.sport, l.dport)
	if !ok || !fok {
		return
	}
	key := dnsTxKey{flow: flow, tcp: l.tcp, id: uint16(m.values["dns.id"].U)}
	if us, ok := e.txSingle(e.tx.dns, key, dir, hash, m.values["dns.flags.response"].U == 1); ok {
		m.set("dns.time", num(us))
	}
}

// tlsTx keeps a ClientHello or pairs a ServerHello (rules/dnstx.go).
func (e *Evaluator) tlsTx(p *Packet, l *l7Packet) {
	m := l.tls
	typ := m.values["tls.handshake.type"].U
	if !m.values["tls.handshake.version"].Present || typ != 1 && typ != 2 || m.values["tls.record.version"].U == 2 {
		return // no hello decoded in the window (an SSLv2 ClientHello is not)
	}
	flow, dir, ok := flowOf(p, l.sport, l.dport)
	if !ok {
		return
	}
	if us, ok := e.txSingle(e.tx.tls, dnsTxKey{flow: flow, tcp: true}, dir, 0, typ == 2); ok {
		m.set("tls.handshake.time", num(us))
	}
}

// txSingle keeps a request or pairs a response, one per key: the time of
// a paired response, in microseconds.
func (e *Evaluator) txSingle(st map[dnsTxKey]*dnsTxEntry, key dnsTxKey, dir int, hash uint64, response bool) (uint32, bool) {
	ent := st[key]
	now := e.tx.now
	if !response {
		if ent != nil && ent.waiting && ent.side == dir+1 && ent.hash == hash && int64(now-ent.time) <= rules.DNSTxTimeoutNanos {
			return 0, false // the same request again: the first one's time
		}
		st[key] = &dnsTxEntry{side: dir + 1, hash: hash, time: now, waiting: true}
		return 0, false
	}
	if ent == nil || ent.side == 0 || ent.side == dir+1 || ent.hash != hash {
		return 0, false
	}
	if int64(now-ent.time) > rules.DNSTxTimeoutNanos {
		ent.waiting, ent.side = false, 0
		return 0, false
	}
	ent.waiting = false
	us := uint64(0)
	if now >= ent.time {
		us = min((now-ent.time)/1000, 0xffffffff)
	}
	return uint32(us), true
}
