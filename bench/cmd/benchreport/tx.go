package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cilium/ebpf/asm"
	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// The transactions section prices pairing responses with requests
// (docs/transactions.md):
//
//   (a) the response stage per packet: the same requests and responses
//       through request-only rules, through rules that also decode the
//       responses' fields, and through rules that also pair them
//       (http.time with http.response_for.*, dns.time, tls.handshake.time);
//   (b) the flow map at a million concurrent flows: requests and responses
//       of random flows among 1,000,000 live ones, each packet of another
//       flow, through request-only rules (no map), through the pairing rules
//       on 1,000 flows only (entries in the caches), with a map of 1,048,576
//       flows that holds them all, and with the default map (16,384 flows),
//       which they overflow.
//
// No rule matches the measured packets (each ends with a test that cannot
// hold, after its L7 fields): the cost is the L7 stage's, without events.

const (
	implTxReq  = "request only"
	implTxResp = "+ responses"
	implTxPair = "+ pairing"
	implTxMap  = "pairing, 1 M-flow map"
	implTxDef  = "pairing, 16,384-flow map"
	implTxHot  = "pairing, 1,000 flows"
)

// txHotFlows is how many flows the hot variant of part (b) draws from.
const txHotFlows = 1000

const txReqRules = `rule web { match http.request.uri == "/never" log ip.src, http.host }
rule dns { match dns.qry.name == "never.example" log ip.src }
rule tls { match tls.handshake.extensions_server_name == "never.example" log ip.src }
`

const txRespRules = txReqRules + `rule web_resp { match http.response.code == 999 log http.server, http.response.phrase }
rule dns_resp { match dns.flags.rcode == 15 log dns.a, dns.cname, dns.resp.ttl }
rule tls_resp { match tls.handshake.ciphersuite == 0x0001 log tls.handshake.extensions.supported_version }
`

const txPairRules = txRespRules + `rule web_tx { match http.time > 4000 log http.response_for.method, http.response_for.uri, http.response_for.host }
rule dns_tx { match dns.time > 4000 log dns.qry.name }
rule tls_tx { match tls.handshake.time > 4000 log ip.src }
`

// The flow-map part: HTTP only.
const txMapReqRules = `rule web { match http.request.uri == "/never" log ip.src, http.host }
rule web_resp { match http.response.code == 999 log http.server }
`

const txMapPairRules = txMapReqRules + `rule web_tx { match http.time > 4000 log ip.src }
`

type txResult struct {
	Cells   []*cell
	Insns   map[string]int
	Repeat  int
	Flows   int // concurrent flows of part (b)
	Batch   int // packets per trial of part (b)
	Map     []txMapRow
	Counts  map[string]string // the pairing programs' counters after part (b)
	FillSec float64
	Err     string
}

// txMapRow is one packet class of part (b): ns per packet per variant,
// trial medians.
type txMapRow struct {
	Class  string
	Trials map[string][]float64
}

// txClasses are the packets of part (a): each request, then its response
// (the same flow, the other way), so that the response finds its request.
func txClasses() []suite.Class {
	cli, srv := "10.1.2.3", "10.1.2.4"
	tcp := func(src, dst string, sport, dport uint16, payload []byte) []byte {
		return testpkt.New().IPv4(src, dst).TCP(sport, dport).Seq(1000).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
	}
	req := testpkt.HTTPRequest("GET", "/api/v1/users/7", "HTTP/1.1", "Host: api.example.com", "User-Agent: curl/8.0", "Accept: */*")
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	q := testpkt.DNSMessage(0x1234, 0x0100, 1, 0, testpkt.DNSName("www.example.com"), 1, 1)
	a := append(testpkt.DNSMessage(0x1234, 0x8180, 1, 1, testpkt.DNSName("www.example.com"), 1, 1),
		testpkt.DNSRR([]byte{0xc0, 12}, 1, 1, 300, []byte{192, 0, 2, 7})...)
	ch := testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("www.example.com"), testpkt.ALPNExt("h2", "http/1.1")}}.Bytes()
	sh := testpkt.TLSHello{Type: 2, CipherSuites: []uint16{0x1301}, Extensions: []testpkt.TLSExt{{Type: 43, Data: []byte{3, 4}}}}.Bytes()
	return []suite.Class{
		{Name: "tcpdata", Title: "TCP data on port 9999", Frame: tcp(cli, srv, 40000, 9999, []byte(strings.Repeat("x", 100)))},
		{Name: "http-req", Title: "HTTP GET, three headers", Frame: tcp(cli, srv, 40000, 80, req)},
		{Name: "http-resp", Title: "its 200 response", Frame: tcp(srv, cli, 80, 40000, resp)},
		{Name: "dns-query", Title: "DNS query, UDP", Frame: testpkt.New().IPv4(cli, srv).UDP(40001, 53).Payload(q).Bytes()},
		{Name: "dns-resp", Title: "its response, one A record", Frame: testpkt.New().IPv4(srv, cli).UDP(53, 40001).Payload(a).Bytes()},
		{Name: "hello", Title: "ClientHello, SNI and ALPN", Frame: tcp(cli, srv, 40002, 443, ch)},
		{Name: "server-hello", Title: "its ServerHello, TLS 1.3", Frame: tcp(srv, cli, 443, 40002, sh)},
	}
}

// txLoad compiles and loads rules at tc ingress, keeping the collection
// for its counters.
func txLoad(name, src string, flows int) (*impl, *runtime.Collection, error) {
	set, err := suite.Check(name, src)
	if err != nil {
		return nil, nil, err
	}
	out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup, TxFlows: flows})
	if err != nil {
		return nil, nil, err
	}
	c, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 64 << 10})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	n := 0
	for _, p := range out.Programs {
		for _, ins := range p.Insns {
			n += int(ins.Size() / asm.InstructionSize)
		}
	}
	return &impl{name: name, prog: c.Programs[rules.HookTCIngress], events: c.Events, lost: c.Lost, insns: n, closer: func() { c.Close() }}, c, nil
}

func (b *bench) benchTx() *txResult {
	res := &txResult{Insns: map[string]int{}, Repeat: b.repeat, Counts: map[string]string{}}
	fail := func(err error) *txResult {
		res.Err = err.Error()
		b.logf("tx: %v", err)
		return res
	}
	var impls []*impl
	defer func() {
		for _, im := range impls {
			im.Close()
		}
	}()
	for _, v := range []struct{ name, src string }{{implTxReq, txReqRules}, {implTxResp, txRespRules}, {implTxPair, txPairRules}} {
		im, _, err := txLoad(v.name, v.src, 0)
		if err != nil {
			return fail(err)
		}
		impls = append(impls, im)
		res.Insns[v.name] = im.insns
	}
	for _, cl := range txClasses() {
		b.logf("tx %s", cl.Name)
		c, err := runCell("TX", cl.Name, append([]*impl{b.emptyTC}, impls...), cl.Frame, b.repeat, b.trials)
		if err != nil {
			return fail(err)
		}
		for _, im := range impls {
			if c.EventsRun[im.name] != 0 {
				return fail(fmt.Errorf("%s logged events on %s: the section measures the stage alone", im.name, cl.Name))
			}
		}
		res.Cells = append(res.Cells, c)
	}
	if err := b.benchTxMap(res); err != nil {
		return fail(err)
	}
	return res
}

// txFlowFrames returns flow i's request (sequence number seq) and response.
type txFlowFrames struct{ req, resp []byte }

const (
	txFlowSrcAt = 14 + 12 // the request's source address (the client)
	txFlowDstAt = 14 + 16 // the response's destination address (the client)
	txFlowSeqAt = 14 + 20 + 4
)

func newTxFlowFrames() txFlowFrames {
	req := testpkt.New().IPv4("10.0.0.0", "192.0.2.80").TCP(40000, 80).Seq(0).Flags(testpkt.ACK | testpkt.PSH).
		Payload(testpkt.HTTPRequest("GET", "/api/v1/users/7", "HTTP/1.1", "Host: api.example.com")).Bytes()
	resp := testpkt.New().IPv4("192.0.2.80", "10.0.0.0").TCP(80, 40000).Seq(0).Flags(testpkt.ACK | testpkt.PSH).
		Payload([]byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n")).Bytes()
	return txFlowFrames{req, resp}
}

// set makes the frames flow i's (client 10.0.0.0 + i), at sequence number
// seq.
func (f txFlowFrames) set(i int, seq uint32) {
	binary.BigEndian.PutUint32(f.req[txFlowSrcAt:], 0x0a000000+uint32(i))
	binary.BigEndian.PutUint32(f.resp[txFlowDstAt:], 0x0a000000+uint32(i))
	binary.BigEndian.PutUint32(f.req[txFlowSeqAt:], seq)
	binary.BigEndian.PutUint32(f.resp[txFlowSeqAt:], seq)
}

// benchTxMap is part (b).
func (b *bench) benchTxMap(res *txResult) error {
	res.Flows, res.Batch = 1_000_000, 20_000
	if b.quick {
		res.Flows, res.Batch = 50_000, 2_000
	}
	req, _, err := txLoad(implTxReq, txMapReqRules, 0)
	if err != nil {
		return err
	}
	defer req.Close()
	big, bigC, err := txLoad(implTxMap, txMapPairRules, 1<<20)
	if err != nil {
		return err
	}
	defer big.Close()
	def, defC, err := txLoad(implTxDef, txMapPairRules, 0)
	if err != nil {
		return err
	}
	defer def.Close()
	hot, _, err := txLoad(implTxHot, txMapPairRules, 0)
	if err != nil {
		return err
	}
	defer hot.Close()
	impls := []*impl{req, hot, big, def}
	fr := newTxFlowFrames()
	b.logf("tx: filling the map with %d flows", res.Flows)
	start := time.Now()
	for i := range res.Flows {
		fr.set(i, 1)
		for _, im := range []*impl{big, def} {
			if _, err := measure.Run(im.prog, fr.req, 1); err != nil {
				return err
			}
		}
	}
	res.FillSec = time.Since(start).Seconds()
	for i := range txHotFlows {
		fr.set(i, 1)
		if _, err := measure.Run(hot.prog, fr.req, 1); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(16, 1))
	rows := []*txMapRow{{Class: "request", Trials: map[string][]float64{}}, {Class: "response", Trials: map[string][]float64{}}}
	flows := make([]int, res.Batch)
	for t := range b.trials {
		for k := range flows {
			flows[k] = rng.IntN(res.Flows)
		}
		order := append([]*impl(nil), impls...)
		if t%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		// Every flow's new request, then every flow's response: each
		// response finds a request of its flow waiting (in the map that
		// holds them all).
		for ci, row := range rows {
			for _, im := range order {
				sum := 0.0
				for _, i := range flows {
					if im == hot {
						i %= txHotFlows
					}
					fr.set(i, uint32(2+t))
					frame := fr.req
					if ci == 1 {
						frame = fr.resp
					}
					s, err := measure.Run(im.prog, frame, 1)
					if err != nil {
						return err
					}
					sum += s.Kernel
				}
				row.Trials[im.name] = append(row.Trials[im.name], sum/float64(len(flows)))
			}
		}
	}
	for _, r := range rows {
		res.Map = append(res.Map, *r)
	}
	for name, c := range map[string]*runtime.Collection{implTxMap: bigC, implTxDef: defC} {
		st, err := c.TxStats()
		if err != nil {
			return err
		}
		for _, s := range st {
			if s.Proto == "http" {
				res.Counts[name] = fmt.Sprintf("%d requests: %d paired, %d timed out, %d pushed out, %d waiting, %d evicted; %d responses without a request",
					s.Requests, s.Paired, s.Timeouts, s.Overflow, s.Waiting, s.Evicted, s.Orphans)
			}
		}
	}
	return nil
}

func (r *report) tx(p func(string, ...any)) {
	x := r.Tx
	if x == nil {
		return
	}
	p("### (5b) Transactions: pairing responses with requests")
	p("")
	p("(a) The response stage: the same packets at tc through request-only rules (HTTP target, DNS name, SNI), through those plus rules on the responses' fields (status, Server, DNS answers, cipher suite), and through those plus rules that pair (`http.time` with `http.response_for.*`, `dns.time`, `tls.handshake.time`; docs/transactions.md). No rule matches (each ends with a test that cannot hold), so no event is written: the L7 stage alone. %d runs per call of one packet: a request seen again is queued once, a response seen again pairs again with its request. ns per packet above the empty program, median [min–max] of the trials.", x.Repeat)
	p("")
	if x.Err != "" {
		p("**Error:** `%s`", x.Err)
		p("")
		return
	}
	p("Instructions: request only %d, + responses %d, + pairing %d.", x.Insns[implTxReq], x.Insns[implTxResp], x.Insns[implTxPair])
	p("")
	p("| packet | request only | + responses | + pairing | pairing − responses |")
	p("|---|---|---|---|---|")
	classes := txClasses()
	for i, c := range x.Cells {
		a, b, d := c.net(implTxReq, implEmpty, true), c.net(implTxResp, implEmpty, true), c.net(implTxPair, implEmpty, true)
		p("| %s (%s) | %s | %s | %s | %.0f |", c.Class, classes[i].Title, ns(a), ns(b), ns(d), d.Median-b.Median)
	}
	p("")
	p("(b) The flow map at %s concurrent flows: HTTP requests and responses of %s flows, each packet of another flow drawn at random, one test run each (the kernel's time of one run: each includes the run's own overhead and a cold cache, the same for every column); per trial %s new requests (one per flow drawn), then their responses. *Request only*: no transaction rule, no map. *1,000 flows*: the pairing rules (default map), the flow drawn among 1,000 only, whose entries stay in the caches: the pairing's own cost. *1 M-flow map*: the pairing rules with a map of 1,048,576 flows, filled first with a request of every flow (in %.1f s). *16,384-flow map*: the same rules and flows with the default map, which they overflow (the counters below say what became of the requests). ns per packet, median [min–max] of %d trials; ÷: against the 1,000 flows.",
		fmtInt(x.Flows), fmtInt(x.Flows), fmtInt(x.Batch), x.FillSec, len(x.Map[0].Trials[implTxReq]))
	p("")
	p("| packet | request only | 1,000 flows | 1 M-flow map | ÷ | 16,384-flow map | ÷ |")
	p("|---|---|---|---|---|---|---|")
	for _, row := range x.Map {
		a, h := measure.Summarise(row.Trials[implTxReq]), measure.Summarise(row.Trials[implTxHot])
		b, c := measure.Summarise(row.Trials[implTxMap]), measure.Summarise(row.Trials[implTxDef])
		p("| %s | %s | %s | %s | %.2f | %s | %.2f |", row.Class, ns(a), ns(h), ns(b), b.Median/h.Median, ns(c), c.Median/h.Median)
	}
	p("")
	for _, name := range []string{implTxMap, implTxDef} {
		p("- %s, its counters afterwards: %s.", name, x.Counts[name])
	}
	p("")
}

func fmtInt(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
