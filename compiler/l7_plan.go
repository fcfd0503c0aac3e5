package compiler

import (
	"fmt"
	"slices"
	"sort"

	"github.com/hdrlog/hdrlog/rules"
)

// L7 decoding in the kernel: what a hook's rules need, and where it lives.
//
// The header parser stops at the transport header. When the rules of a hook
// use HTTP, DNS or TLS fields, the transport blocks continue into the L7
// stage (l7_parse.go): a gate on the ports (and, for HTTP, on a method token
// at the start of the payload) decides, per protocol, whether the segment is
// decoded at all, so other traffic pays a few compares; only then is the
// payload copied, with bpf_skb_load_bytes or bpf_xdp_load_bytes (payload is
// mostly not in the linear part at tc), into a per-CPU window in the l7 map,
// where the decoders run: bounded loops through bpf_loop callbacks (l7_asm.go).
//
// String values never go on the stack: a string slot of the packet record
// (8 bytes) says where the value lies in the l7 map value and how long it is:
//
//	u16 offset in the l7 value, u16 length, u8 present (1), 3 bytes zero
//
// Values are complete or absent (an HTTP line must end within the segment),
// so comparisons are exact; only events cut them (maxlen). Predicates and
// events read the bytes from the l7 map (l7_text.go, l7_emit.go).

// l7Fact returns the fact of an L7 field. String fields have their own
// presence in their slot as well: an HTTP header is present when its
// message is (FactHTTP) and the header was found.
func l7Fact(ref rules.FieldRef) int {
	f := ref.Field
	switch f.Header {
	case rules.HdrHTTP:
		switch f.Name {
		case "http.request", "http.request.method", "http.request.uri", "http.request.version":
			return FactHTTPRequest
		case "http.response", "http.response.code", "http.response.phrase", "http.response.version":
			return FactHTTPResponse
		}
		if rules.TxFields[f.Name] {
			return FactHTTPTx
		}
		if f.Name == "http.truncated" {
			return FactHTTPLimit
		}
		return FactHTTP
	case rules.HdrDNS:
		switch f.Name {
		case "dns.qry.name", "dns.qry.type", "dns.qry.class":
			return FactDNSQuery
		case "dns.flags.rcode":
			return FactDNSResponse
		case "dns.a":
			return FactDNSA
		case "dns.aaaa":
			return FactDNSAAAA
		case "dns.resp.ttl":
			return FactDNSTTL
		case "dns.time":
			return FactDNSTx
		case "dns.truncated":
			return FactDNSLimit
		case "dns":
			return FactDNSProto
		case "mdns":
			return FactMDNS
		case "llmnr":
			return FactLLMNR
		}
		return FactDNS
	case rules.HdrTLS:
		switch f.Name {
		case "tls", "tls.record.version":
			return FactTLS
		case "tls.handshake.type":
			return FactTLSHandshake
		case "tls.handshake.ciphersuite":
			return FactTLSCipher
		case "tls.handshake.extensions.supported_version":
			return FactTLSSupVer
		case "tls.handshake.time":
			return FactTLSTx
		case "tls.truncated":
			return FactTLSLimit
		}
		return FactTLSHello
	}
	panic("compiler: no L7 fact for " + ref.String())
}

// l7Facts are the facts of one protocol (cleared together when a rule does
// not see the protocol on a packet's ports).
var l7Facts = map[rules.Header]uint64{
	rules.HdrHTTP: 1<<FactHTTP | 1<<FactHTTPRequest | 1<<FactHTTPResponse | 1<<FactHTTPTx | 1<<FactHTTPLimit,
	rules.HdrDNS: 1<<FactDNS | 1<<FactDNSQuery | 1<<FactDNSResponse | 1<<FactDNSProto | 1<<FactMDNS | 1<<FactLLMNR |
		1<<FactDNSA | 1<<FactDNSAAAA | 1<<FactDNSTTL | 1<<FactDNSTx | 1<<FactDNSLimit,
	rules.HdrTLS: 1<<FactTLS | 1<<FactTLSHandshake | 1<<FactTLSHello | 1<<FactTLSCipher | 1<<FactTLSSupVer | 1<<FactTLSTx | 1<<FactTLSLimit,
}

// Map names of the L7 stage.
const (
	// L7Map is the per-CPU window and decoder state, one value per hook.
	L7Map = "l7"
	// TLSHeldMap keeps the first segment of ClientHellos cut before their
	// server_name, by flow (LRU).
	TLSHeldMap = "tls_held"
	// TLSPendingMap counts held ClientHellos per hash bucket of flows, so
	// that a segment looks the LRU map up only when its bucket has one.
	TLSPendingMap = "tls_pending"
)

const (
	l7MaxStrings  = 32
	l7KeySize     = 48 // hook u32, family u32, source and destination addresses 16+16, ports u32, 4 zero
	l7HeldValue   = 16 + rules.TLSHoldBytes
	l7HeldEntries = 1024
	l7Buckets     = 4096
)

// Record slots the L7 stage adds (computed, host order).
const (
	compL7L4Off  = "l7.l4off" // u16: transport header offset from the frame's start
	compL7L3Off  = "l7.l3off" // u16: network header offset (TLS flow keys)
	compL7IPLen  = "l7.iplen" // s32: IP payload length; negative: unknown
	compL7Sel    = "l7.sel"   // 1 byte per protocol (layer = protocol)
	compHTTPReq  = "http.request"
	compHTTPResp = "http.response"
	compHTTPCode = "http.response.code" // u16
	compHTTPTime = "http.time"          // u32 microseconds
	compDNSQType = "dns.qry.type"
	compDNSQCls  = "dns.qry.class"
	compDNSTTL   = "dns.resp.ttl"
	compTLSCS    = "tls.handshake.ciphersuite"
	compTLSSV    = "tls.handshake.extensions.supported_version"
	// The first A and AAAA records' addresses: raw (network order), as
	// addresses are everywhere.
	compDNSA    = "dns.a"
	compDNSAAAA = "dns.aaaa"
)

// rawComputed are the computed slots that hold network-order bytes.
var rawComputed = map[string]bool{compDNSA: true, compDNSAAAA: true}

// stringKey is the record slot of a string field: HTTP headers by name, so
// that http.host and http.header["Host"] share one.
func stringKey(f *rules.Field) slotKey {
	name := f.Name
	if f.L7.Header != "" {
		name = "hdr:" + f.L7.Header
	}
	return slotKey{computed: "str:" + name, size: 8, layer: 1}
}

// l7KeyOf is keyOf for L7 fields.
func l7KeyOf(ref rules.FieldRef) slotKey {
	f := ref.Field
	switch {
	case f.Type == rules.TypeString:
		return stringKey(f)
	case f.Name == "http.request":
		return slotKey{computed: compHTTPReq, size: 1, layer: 1}
	case f.Name == "http.response":
		return slotKey{computed: compHTTPResp, size: 1, layer: 1}
	case f.Name == "http.truncated" || f.Name == "dns.truncated" || f.Name == "tls.truncated":
		return truncKey(f.Header)
	case f.Name == "http.response.code":
		return slotKey{computed: compHTTPCode, size: 2, layer: 1}
	case f.Name == "http.time":
		return slotKey{computed: compHTTPTime, size: 4, layer: 1}
	case f.Name == "dns.qry.type":
		return slotKey{computed: compDNSQType, size: 2, layer: 1}
	case f.Name == "dns.qry.class":
		return slotKey{computed: compDNSQCls, size: 2, layer: 1}
	case f.Name == "dns.a":
		return keyDNSA
	case f.Name == "dns.aaaa":
		return keyDNSAAAA
	case f.Name == "dns.resp.ttl":
		return keyDNSTTL
	case f.Name == "dns.time":
		return keyDNSTime
	case f.Name == "tls.handshake.time":
		return keyTLSTime
	case f.Name == compTLSCS:
		return keyTLSCS
	case f.Name == compTLSSV:
		return keyTLSSV
	}
	return slotKey{header: f.Header, offset: f.Offset, size: f.Size, layer: 1}
}

// l7gen is the L7 part of a hook's code generation.
type l7gen struct {
	protos  map[rules.Header]bool
	headers []string                       // HTTP headers to find, lower case, sorted
	strings map[slotKey]int                // string slot -> index of its result in the l7 state
	strKeys []slotKey                      // by index
	lists   map[rules.Header][][]uint16    // extra port lists; list k has selection bit k+1
	ruleSel map[int]map[rules.Header]uint8 // rule index -> protocol -> selection mask
	gated   map[int]bool                   // rules whose view of a protocol depends on their ports
	tlsHold bool                           // finish ClientHellos with the next segment
	httpReq bool                           // the request line is needed (request fields)
	// httpResp: the status line is needed (response or transaction
	// fields); httpTx: requests are queued on their flow and responses
	// paired with them (l7_httptx.go).
	httpResp, httpTx bool
	// dnsTx: queries wait on their flow for their responses (l7_dnstx.go).
	dnsTx bool
	// tlsTx: ClientHellos wait on their flow for the ServerHello.
	tlsTx bool
	// httpRules are the rules that use HTTP: they run again for each
	// further request of a segment (l7_pipe.go).
	httpRules map[int]bool
	tcp       bool // some protocol runs over TCP / UDP
	udp       bool

	rulePres int16 // when not 0, the stack slot of the current rule's presence bitmap
	funcs    []l7Func
	funcSeen map[string]bool
}

// l7Func is a subprogram of the L7 stage (a bpf_loop callback), emitted
// after the program.
type l7Func struct {
	name string
	emit func()
	// contains callbacks, shared by the tests of one literal; list
	// callbacks (l7_list.go), by the tests of one operator and literal
	contains bool
	list     bool
	op       rules.TextOp
	lit      string
	fold     bool
	all      bool
}

// planL7 works out what the rules of one hook need from the L7 stage; nil
// when they use no L7 field.
func planL7(rr []*rules.Rule, txStrings bool) (*l7gen, error) {
	l := &l7gen{protos: map[rules.Header]bool{}, strings: map[slotKey]int{}, lists: map[rules.Header][][]uint16{},
		ruleSel: map[int]map[rules.Header]uint8{}, gated: map[int]bool{}, funcSeen: map[string]bool{}}
	headers := map[string]bool{}
	ruleProtos := map[int]map[rules.Header]bool{}
	use := func(r *rules.Rule, ref rules.FieldRef) {
		f := ref.Field
		if !f.Header.IsL7() {
			return
		}
		l.protos[f.Header] = true
		if ruleProtos[r.Index] == nil {
			ruleProtos[r.Index] = map[rules.Header]bool{}
		}
		ruleProtos[r.Index][f.Header] = true
		if f.L7 != nil && f.L7.Header != "" {
			headers[f.L7.Header] = true
		}
		switch f.Name {
		case "http.request", "http.request.method", "http.request.uri", "http.request.version":
			l.httpReq = true
		case "http.response", "http.response.code", "http.response.phrase", "http.response.version":
			l.httpResp = true
		case "tls.handshake.extensions_server_name":
			l.tlsHold = true
		}
		if rules.TxFields[f.Name] && f.Header == rules.HdrHTTP {
			l.httpReq, l.httpResp, l.httpTx = true, true, true
		}
		if rules.TxFields[f.Name] && f.Header == rules.HdrDNS {
			l.dnsTx = true
		}
		if rules.TxFields[f.Name] && f.Header == rules.HdrTLS {
			l.tlsTx = true
		}
		if f.Type == rules.TypeString {
			k := stringKey(f)
			if _, ok := l.strings[k]; !ok {
				l.strings[k] = len(l.strKeys)
				l.strKeys = append(l.strKeys, k)
			}
		}
	}
	for _, r := range rr {
		walkRefs(r.Match, func(ref rules.FieldRef) { use(r, ref) })
		for _, lf := range r.Log {
			use(r, lf.Ref)
		}
	}
	if len(l.protos) == 0 {
		return nil, nil
	}
	if l.httpTx && txStrings {
		// Every hook keeps the request's values: the response may be seen
		// at another one.
		for _, s := range txHTTPStrings {
			f, _ := rules.LookupField(s.req)
			k := stringKey(f)
			if _, ok := l.strings[k]; !ok {
				l.strings[k] = len(l.strKeys)
				l.strKeys = append(l.strKeys, k)
			}
			if f.L7.Header != "" {
				headers[f.L7.Header] = true
			}
		}
	}
	l.httpRules = map[int]bool{}
	for i, hs := range ruleProtos {
		if hs[rules.HdrHTTP] {
			l.httpRules[i] = true
		}
	}
	if len(l.strKeys) > l7MaxStrings {
		return nil, fmt.Errorf("the rules of one hook use %d different L7 strings; at most %d are supported", len(l.strKeys), l7MaxStrings)
	}
	for h := range headers {
		l.headers = append(l.headers, h)
	}
	sort.Strings(l.headers)
	l.tcp = l.protos[rules.HdrHTTP] || l.protos[rules.HdrTLS] || l.protos[rules.HdrDNS]
	l.udp = l.protos[rules.HdrDNS]

	// Port lists: each distinct list of a protocol gets a selection bit.
	for _, r := range rr {
		for _, pp := range r.Ports {
			if !l.protos[pp.Proto] {
				continue
			}
			k := -1
			for i, list := range l.lists[pp.Proto] {
				if slices.Equal(list, pp.Ports) {
					k = i
				}
			}
			if k < 0 {
				k = len(l.lists[pp.Proto])
				if k == 7 {
					return nil, fmt.Errorf("the rules of one hook declare more than 7 different `ports %s` lists; give rules the same list", pp.Proto)
				}
				l.lists[pp.Proto] = append(l.lists[pp.Proto], pp.Ports)
			}
			if l.ruleSel[r.Index] == nil {
				l.ruleSel[r.Index] = map[rules.Header]uint8{}
			}
			l.ruleSel[r.Index][pp.Proto] = 1 | 1<<(k+1)
		}
	}
	// A rule's view of a protocol needs a test on the packet's ports when
	// other rules of the hook declare ports it does not.
	for _, r := range rr {
		for h := range ruleProtos[r.Index] {
			lists := l.lists[h]
			mine := l.ruleSel[r.Index][h]
			if len(lists) > 1 || len(lists) == 1 && mine == 0 {
				l.gated[r.Index] = true
			}
		}
	}
	return l, nil
}

// slotKeys are the record slots the L7 stage itself needs.
func (l *l7gen) slotKeys() []slotKey {
	keys := []slotKey{
		{computed: compL7L4Off, size: 2, layer: 1},
		{computed: compL7IPLen, size: 4, layer: 1},
	}
	if l.tlsHold || l.httpTx || l.dnsTx || l.tlsTx {
		keys = append(keys, slotKey{computed: compL7L3Off, size: 2, layer: 1})
	}
	for _, k := range l.strKeys {
		keys = append(keys, k) // strings the rules do not use themselves (kept for transactions)
	}
	if len(l.gated) > 0 {
		for _, h := range rules.L7Protocols {
			keys = append(keys, slotKey{computed: compL7Sel, size: 1, layer: int(h)})
		}
	}
	return keys
}

// l7GatedRules returns the rules whose view of an L7 protocol depends on
// the packet's ports: they run in the plain chain, never in a group.
func l7GatedRules(rr []*rules.Rule) map[int]bool {
	l, err := planL7(rr, false)
	if err != nil || l == nil {
		return nil
	}
	return l.gated
}
