package reference

import (
	"bytes"
	"slices"

	"github.com/hdrlog/hdrlog/rules"
)

// Transactions, as rules/transactions.go states them: each request queued
// on its flow (both directions one flow), each response from the other
// endpoint paired with the oldest waiting request. The kernel keeps flows
// in a bounded LRU map; this evaluator keeps every flow (tests stay below
// the kernel's bound, where no flow is pushed out).

// txFlowKey is a flow: its endpoints, the lower (address, port) first.
type txFlowKey struct {
	a, b         string
	portA, portB uint16
}

type txReq struct {
	time              uint64
	id                uint32
	method, uri, host Value
}

// txHTTPFlow mirrors the kernel's queue: requests are numbered by head and
// tail counters, request n in slot n % TxDepth; the last paired response's
// request is forgotten when its slot takes a new request.
type txHTTPFlow struct {
	side       int // 1 + the direction of the requests' sender; 0: none yet
	head, tail uint32
	queue      []txReq // requests head .. tail-1
	last       *txReq  // the request the last paired response answered
	lastSlot   uint32
	lastResp   uint32
}

func (f *txHTTPFlow) pop() { f.queue, f.head = f.queue[1:], f.head+1 }

type txState struct {
	now   uint64 // the frame's time, nanoseconds (SetTime)
	http  map[txFlowKey]*txHTTPFlow
	hooks map[rules.Hook]bool // hooks whose rules use an HTTP transaction field
	dns   map[dnsTxKey]*dnsTxEntry
	// dnsHooks are the hooks whose rules use dns.time.
	dnsHooks map[rules.Hook]bool
	tls      map[dnsTxKey]*dnsTxEntry
	// tlsHooks are the hooks whose rules use tls.handshake.time.
	tlsHooks map[rules.Hook]bool
}

func newTxState(rs *rules.RuleSet) txState {
	st := txState{http: map[txFlowKey]*txHTTPFlow{}, hooks: map[rules.Hook]bool{}, dns: map[dnsTxKey]*dnsTxEntry{}, dnsHooks: map[rules.Hook]bool{},
		tls: map[dnsTxKey]*dnsTxEntry{}, tlsHooks: map[rules.Hook]bool{}}
	for _, r := range rs.Rules {
		check := func(ref rules.FieldRef) {
			tx := rules.TxFields[ref.Field.Name]
			st.hooks[r.Hook] = st.hooks[r.Hook] || tx && ref.Field.Header == rules.HdrHTTP
			st.dnsHooks[r.Hook] = st.dnsHooks[r.Hook] || tx && ref.Field.Header == rules.HdrDNS
			st.tlsHooks[r.Hook] = st.tlsHooks[r.Hook] || tx && ref.Field.Header == rules.HdrTLS
		}
		walk(r.Match, check)
		for _, lf := range r.Log {
			check(lf.Ref)
		}
	}
	return st
}

// SetTime sets the time of the frames evaluated next (nanoseconds), as a
// test run passes it to the kernel programs.
func (e *Evaluator) SetTime(ns uint64) { e.tx.now = ns }

// usesTx reports whether the rules of hook h use a transaction field.
func (e *Evaluator) usesTx(h rules.Hook) bool { return e.tx.hooks[h] }

// flowOf returns the packet's flow and direction (0: from endpoint a).
func flowOf(p *Packet, sport, dport uint16) (txFlowKey, int, bool) {
	var src, dst []byte
	switch {
	case p.IPv4 != nil:
		src, dst = p.IPv4.SrcIP.To4(), p.IPv4.DstIP.To4()
	case p.IPv6 != nil:
		src, dst = p.IPv6.SrcIP.To16(), p.IPv6.DstIP.To16()
	default:
		return txFlowKey{}, 0, false
	}
	c := bytes.Compare(src, dst)
	if c < 0 || c == 0 && sport <= dport {
		return txFlowKey{string(src), string(dst), sport, dport}, 0, true
	}
	return txFlowKey{string(dst), string(src), dport, sport}, 1, true
}

// kept is a request's value as a response gets it: absent when missing or
// longer than the bound kept.
func kept(m *l7Msg, name string, bound int) Value {
	v := m.values[name]
	if !v.Present || len(v.Bytes) > bound {
		return Value{}
	}
	return v
}

// maskedKept is kept for a URL: its userinfo and secret query values
// masked (rules.MaskURL), as the kernel keeps it, so that the transaction
// map holds no secret while the request waits.
func (e *Evaluator) maskedKept(m *l7Msg, name string, bound int) Value {
	v := kept(m, name, bound)
	if v.Present {
		v.Bytes = rules.MaskURL(v.Bytes, e.rs.SecretQuery)
	}
	return v
}

// httpTx queues the segment's requests, or pairs its response, and adds
// the transaction fields to the response.
func (e *Evaluator) httpTx(p *Packet, l *l7Packet) {
	key, dir, ok := flowOf(p, l.sport, l.dport)
	if !ok || l.http == nil {
		return
	}
	payloadOff := p.L4Off + int(p.TCP.DataOffset)*4
	if l.request {
		for _, m := range append([]*l7Msg{l.http}, l.more...) {
			if m.values["http.request"].Present {
				e.httpTxRequest(key, dir, p.TCP.Seq+uint32(payloadOff+m.start), m)
			}
		}
		if l.cut {
			// Requests past the bound are not queued: the flow pairs
			// nothing more.
			if f := e.tx.http[key]; f != nil {
				f.side, f.queue, f.head = txCutSide, nil, f.tail
			}
		}
		return
	}
	if l.http.values["http.response"].Present {
		e.httpTxResponse(key, dir, p.TCP.Seq+uint32(payloadOff), l.http)
	}
}

// txCutSide marks a flow whose requests were cut by the bound.
const txCutSide = 3

func (e *Evaluator) httpTxRequest(key txFlowKey, dir int, id uint32, m *l7Msg) {
	f := e.tx.http[key]
	if f == nil {
		f = &txHTTPFlow{}
		e.tx.http[key] = f
	}
	if f.side == txCutSide {
		return
	}
	if f.side != dir+1 {
		f.side, f.queue, f.head = dir+1, nil, f.tail
	}
	if slices.ContainsFunc(f.queue, func(r txReq) bool { return r.id == id }) {
		return
	}
	if len(f.queue) == rules.TxDepth {
		f.pop()
	}
	if f.last != nil && f.lastSlot == f.tail%rules.TxDepth {
		f.last = nil
	}
	f.tail++
	f.queue = append(f.queue, txReq{time: e.tx.now, id: id,
		method: kept(m, "http.request.method", rules.TxMethodLen),
		uri:    e.maskedKept(m, "http.request.uri", rules.TxURILen),
		host:   kept(m, "hdr:host", rules.TxHostLen)})
}

func (e *Evaluator) httpTxResponse(key txFlowKey, dir int, id uint32, m *l7Msg) {
	f := e.tx.http[key]
	if f == nil || f.side == 0 || f.side == txCutSide || f.side == dir+1 {
		return
	}
	var r txReq
	switch {
	case f.last != nil && f.lastResp == id:
		r = *f.last
	case len(f.queue) == 0:
		return
	default:
		r = f.queue[0]
		if int64(e.tx.now-r.time) > rules.HTTPTxTimeoutNanos {
			f.pop()
			return
		}
		f.last, f.lastSlot, f.lastResp = &r, f.head%rules.TxDepth, id
		if code := m.values["http.response.code"].U; code < 100 || code >= 200 || code == 101 {
			f.pop()
		}
	}
	us := uint64(0)
	if e.tx.now >= r.time {
		us = min((e.tx.now-r.time)/1000, 0xffffffff)
	}
	m.set("http.time", num(uint32(us)))
	for name, v := range map[string]Value{"http.response_for.method": r.method, "http.response_for.uri": r.uri, "http.response_for.host": r.host} {
		if v.Present {
			m.set(name, v)
		}
	}
}
