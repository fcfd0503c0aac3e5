package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// HTTP transactions in the kernel: requests and responses of crafted flows,
// each frame with its time (as a replay passes a capture's), through tc
// ingress and XDP test runs; the response events carry the pair, and the
// counters account for every request.

// txMsg is one frame of a transaction case: from the client (a request) or
// the server, its sequence number and time (milliseconds).
type txMsg struct {
	client  bool
	seq     uint32
	ms      uint64
	payload string
	v6      bool
	// want: the response event's http.response.code, http.time and
	// http.response_for.uri ("" : no event; "-" for time and uri: absent).
	code      int
	time, uri string
}

func txReq(seq uint32, ms uint64, target string) txMsg {
	return txMsg{client: true, seq: seq, ms: ms, payload: string(testpkt.HTTPRequest("GET", target, "HTTP/1.1", "Host: api.example"))}
}

func txResp(seq uint32, ms uint64, code int, time, uri string) txMsg {
	return txMsg{seq: seq, ms: ms, payload: fmt.Sprintf("HTTP/1.1 %d Phrase\r\nServer: t\r\n\r\n", code), code: code, time: time, uri: uri}
}

func (m txMsg) frame(port uint16) []byte {
	cli, srv := "10.0.0.1", "10.0.0.2"
	f := testpkt.New()
	if m.v6 {
		cli, srv = "2001:db8::1", "2001:db8::2"
	}
	var sport, dport uint16 = port, 80
	if !m.client {
		cli, srv, sport, dport = srv, cli, 80, port
	}
	if m.v6 {
		return f.IPv6(cli, srv).TCP(sport, dport).Seq(m.seq).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(m.payload)).Bytes()
	}
	return f.IPv4(cli, srv).TCP(sport, dport).Seq(m.seq).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(m.payload)).Bytes()
}

var txCases = []struct {
	name string
	msgs []txMsg
	// counters after the case: requests, paired, timeouts, overflow,
	// orphans, interim, waiting
	counts [7]uint64
}{
	{"keep-alive in order", []txMsg{
		txReq(100, 1000, "/a"), txResp(500, 1250, 200, "0.250000", "/a"),
		txReq(200, 2000, "/b"), txResp(600, 2000, 404, "0.000000", "/b"),
		txReq(300, 3000, "/c"), txResp(700, 3500, 500, "0.500000", "/c"),
	}, [7]uint64{3, 3, 0, 0, 0, 0, 0}},
	{"pipelined: first in, first out", []txMsg{
		txReq(100, 1000, "/1"), txReq(200, 1001, "/2"), txReq(300, 1002, "/3"),
		txResp(500, 1010, 200, "0.010000", "/1"), txResp(600, 1020, 201, "0.019000", "/2"), txResp(700, 1030, 202, "0.028000", "/3"),
	}, [7]uint64{3, 3, 0, 0, 0, 0, 0}},
	{"two requests in one segment", []txMsg{
		{client: true, seq: 100, ms: 1000, payload: string(testpkt.HTTPRequest("GET", "/x", "HTTP/1.1", "Host: h")) + string(testpkt.HTTPRequest("GET", "/y", "HTTP/1.1", "Host: h"))},
		txResp(500, 1100, 200, "0.100000", "/x"), txResp(600, 1200, 200, "0.200000", "/y"),
	}, [7]uint64{2, 2, 0, 0, 0, 0, 0}},
	{"responses without requests", []txMsg{
		txResp(500, 1000, 200, "-", "-"), txResp(600, 1001, 503, "-", "-"),
	}, [7]uint64{0, 0, 0, 0, 2, 0, 0}},
	{"requests without responses", []txMsg{
		txReq(100, 1000, "/a"), txReq(200, 1001, "/b"),
	}, [7]uint64{2, 0, 0, 0, 0, 0, 2}},
	{"a response from the client's side pairs with nothing", []txMsg{
		txReq(100, 1000, "/a"),
		{client: true, seq: 900, ms: 1001, payload: "HTTP/1.1 200 OK\r\n\r\n", code: 200, time: "-", uri: "-"},
		txResp(500, 1002, 200, "0.002000", "/a"),
	}, [7]uint64{1, 1, 0, 0, 1, 0, 0}},
	{"a retransmitted request is queued once, a retransmitted response pairs again", []txMsg{
		txReq(100, 1000, "/a"), txReq(100, 1200, "/a"),
		txResp(500, 1300, 200, "0.300000", "/a"), txResp(500, 1400, 200, "0.400000", "/a"),
		txResp(600, 1500, 200, "-", "-"),
	}, [7]uint64{1, 1, 0, 0, 1, 0, 0}},
	{"a request past the timeout is not paired", []txMsg{
		txReq(100, 1000, "/slow"), txResp(500, 1000+rules.HTTPTxTimeoutNanos/1e6+1, 200, "-", "-"),
		txReq(200, 70000, "/fast"), txResp(600, 70001, 200, "0.001000", "/fast"),
	}, [7]uint64{2, 1, 1, 0, 0, 0, 0}},
	{"a full queue pushes the oldest request out", []txMsg{
		txReq(100, 1000, "/1"), txReq(200, 1001, "/2"), txReq(300, 1002, "/3"), txReq(400, 1003, "/4"), txReq(450, 1004, "/5"),
		txResp(500, 1010, 200, "0.009000", "/2"),
	}, [7]uint64{5, 1, 0, 1, 0, 0, 3}},
	{"100 Continue leaves the request waiting for its response", []txMsg{
		txReq(100, 1000, "/upload"), txResp(500, 1001, 100, "0.001000", "/upload"), txResp(600, 1100, 201, "0.100000", "/upload"),
		txResp(700, 1200, 200, "-", "-"),
	}, [7]uint64{1, 1, 0, 0, 1, 1, 0}},
	{"five requests in one segment: past the bound, the flow pairs nothing more", []txMsg{
		txReq(50, 900, "/before"),
		{client: true, seq: 100, ms: 1000, payload: strings.Repeat(string(testpkt.HTTPRequest("GET", "/p", "HTTP/1.1", "Host: h")), 5)},
		txResp(500, 1100, 200, "-", "-"), txResp(600, 1200, 200, "-", "-"),
		txReq(300, 1300, "/after"), txResp(700, 1400, 200, "-", "-"),
	}, [7]uint64{5, 0, 0, 5, 3, 0, 0}},
	{"IPv6", []txMsg{
		{client: true, v6: true, seq: 100, ms: 1000, payload: string(testpkt.HTTPRequest("GET", "/six", "HTTP/1.1", "Host: h"))},
		{v6: true, seq: 500, ms: 1007, payload: "HTTP/1.1 302 Found\r\nLocation: /seven\r\n\r\n", code: 302, time: "0.007000", uri: "/six"},
	}, [7]uint64{1, 1, 0, 0, 0, 0, 0}},
}

func TestKernelL7HTTPTransactions(t *testing.T) {
	kerneltest.Require(t)
	for _, h := range ktHooks {
		for i, c := range txCases {
			t.Run(h.Suffix+"/"+c.name, func(t *testing.T) {
				out := ktCompileWith(t, "tx.rules", l7Source([]l7Rule{{Name: "resp", Match: "http.response",
					Log: []string{"http.response.code", "http.time", "http.response_for.uri", "http.response_for.method", "http.response_for.host"}}}, []ktHook{h}), compiler.Options{TestRun: true})
				coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
				if err != nil {
					t.Fatal(err)
				}
				defer coll.Close()
				k := &ktLoaded{coll: coll, hooks: []ktHook{h}}
				for j, m := range c.msgs {
					frame := m.frame(uint16(40000 + i))
					if err := coll.RunAt(h.Hook, frame, len(frame), m.ms*1_000_000); err != nil {
						t.Fatal(err)
					}
					evs, err := k.drain()
					if err != nil {
						t.Fatal(err)
					}
					got := evs["resp"]
					if m.code == 0 {
						if len(got) != 0 {
							t.Errorf("frame %d: want no response event, got %s", j, got[0].Line)
						}
						continue
					}
					if len(got) != 1 {
						t.Errorf("frame %d: want one response event, got %d", j, len(got))
						continue
					}
					want := fmt.Sprintf(`{"http.response.code":%d,"http.time":%s,"http.response_for.uri":%s}`, m.code, orNull(m.time, false), orNull(m.uri, true))
					ktCheckFields(t, fmt.Sprintf("frame %d", j), got[0], []string{"http.response.code", "http.time", "http.response_for.uri"}, ktWant(want))
					if m.uri != "-" {
						ktCheckFields(t, fmt.Sprintf("frame %d", j), got[0], []string{"http.response_for.method"}, ktWant(`{"http.response_for.method":"GET"}`))
					}
				}
				st, err := coll.TxStats()
				if err != nil || len(st) != 1 {
					t.Fatalf("TxStats: %v, %v", st, err)
				}
				s := st[0]
				got := [7]uint64{s.Requests, s.Paired, s.Timeouts, s.Overflow, s.Orphans, s.Interim, s.Waiting}
				if got != c.counts || s.Evicted != 0 {
					t.Errorf("counters (requests, paired, timeouts, overflow, orphans, interim, waiting) = %v, evicted %d; want %v, 0", got, s.Evicted, c.counts)
				}
			})
		}
	}
}

func orNull(v string, quote bool) string {
	switch {
	case v == "-":
		return "null"
	case quote:
		return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
	}
	return v
}

// A flood of HTTP connections with a request waiting each fills the flow
// map: the flows pushed out lose their requests (counted as evicted), and
// their responses pair with nothing, never with another flow's request; the
// flows still kept pair with their own, with their own target and time.
func TestKernelL7HTTPTransactionFlood(t *testing.T) {
	kerneltest.Require(t)
	h := ktHooks[0]
	const flows, conns = 64, 1000
	out := ktCompileWith(t, "txflood.rules", l7Source([]l7Rule{{Name: "resp", Match: "http.response",
		Log: []string{"http.time", "http.response_for.uri"}}}, []ktHook{h}), compiler.Options{TestRun: true, TxFlows: flows})
	coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	k := &ktLoaded{coll: coll, hooks: []ktHook{h}}
	run := func(m txMsg, port uint16) []ktEvent {
		t.Helper()
		frame := m.frame(port)
		if err := coll.RunAt(h.Hook, frame, len(frame), m.ms*1_000_000); err != nil {
			t.Fatal(err)
		}
		evs, err := k.drain()
		if err != nil {
			t.Fatal(err)
		}
		return evs["resp"]
	}
	for i := range conns {
		if evs := run(txReq(100, 1000, fmt.Sprintf("/r%d", i)), uint16(20000+i)); len(evs) != 0 {
			t.Fatalf("request %d made a response event", i)
		}
	}
	paired := 0
	for i := range conns {
		evs := run(txResp(500, 1500, 200, "", ""), uint16(20000+i))
		if len(evs) != 1 {
			t.Fatalf("response %d: %d events, want 1", i, len(evs))
		}
		if string(evs[0].Fields["http.time"]) == "null" {
			if uri := string(evs[0].Fields["http.response_for.uri"]); uri != "null" {
				t.Errorf("response %d: no http.time but http.response_for.uri %s", i, uri)
			}
			continue
		}
		paired++
		ktCheckFields(t, fmt.Sprintf("response %d", i), evs[0], []string{"http.time", "http.response_for.uri"},
			ktWant(fmt.Sprintf(`{"http.time":0.500000,"http.response_for.uri":"/r%d"}`, i)))
	}
	st, err := coll.TxStats()
	if err != nil || len(st) != 1 {
		t.Fatalf("TxStats: %v, %v", st, err)
	}
	s := st[0]
	if s.Requests != conns || s.Paired != uint64(paired) || s.Orphans != uint64(conns-paired) || s.Evicted != uint64(conns-paired) || s.Waiting != 0 {
		t.Errorf("counters %+v; want %d requests, %d paired, the rest orphans and evicted", s, conns, paired)
	}
	if paired == 0 || paired > flows {
		t.Errorf("%d requests paired after a flood of %d connections into %d flows", paired, conns, flows)
	}
	t.Logf("%d of %d connections kept in a map of %d flows; evicted %d", paired, conns, flows, s.Evicted)
}

// Interleaved keep-alive connections between the same two hosts (ports
// apart, one of them over IPv6 too): each response carries its own
// connection's request, whatever came in between on the others.
func TestKernelL7HTTPInterleavedConnections(t *testing.T) {
	kerneltest.Require(t)
	for _, h := range ktHooks {
		t.Run(h.Suffix, func(t *testing.T) {
			out := ktCompileWith(t, "txmix.rules", l7Source([]l7Rule{{Name: "resp", Match: "http.response",
				Log: []string{"http.response.code", "http.time", "http.response_for.uri"}}}, []ktHook{h}), compiler.Options{TestRun: true})
			coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			k := &ktLoaded{coll: coll, hooks: []ktHook{h}}
			v6 := func(m txMsg) txMsg { m.v6 = true; return m }
			steps := []struct {
				port uint16
				m    txMsg
			}{
				{41000, txReq(100, 1000, "/a1")},
				{41001, txReq(100, 1001, "/b1")},
				{41000, v6(txReq(100, 1002, "/c1"))},
				{41001, txResp(500, 1011, 201, "0.010000", "/b1")},
				{41001, txReq(200, 1012, "/b2")},
				{41000, v6(txResp(500, 1020, 404, "0.018000", "/c1"))},
				{41000, txResp(500, 1030, 200, "0.030000", "/a1")},
				{41000, txReq(200, 1031, "/a2")},
				{41001, txResp(600, 1040, 500, "0.028000", "/b2")},
				{41000, txResp(600, 1041, 202, "0.010000", "/a2")},
				{41000, v6(txResp(600, 1050, 200, "-", "-"))},
			}
			for j, s := range steps {
				frame := s.m.frame(s.port)
				if err := coll.RunAt(h.Hook, frame, len(frame), s.m.ms*1_000_000); err != nil {
					t.Fatal(err)
				}
				evs, err := k.drain()
				if err != nil {
					t.Fatal(err)
				}
				got := evs["resp"]
				if s.m.code == 0 {
					if len(got) != 0 {
						t.Errorf("step %d: a request made a response event", j)
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("step %d: %d response events, want 1", j, len(got))
				}
				want := fmt.Sprintf(`{"http.response.code":%d,"http.time":%s,"http.response_for.uri":%s}`, s.m.code, orNull(s.m.time, false), orNull(s.m.uri, true))
				ktCheckFields(t, fmt.Sprintf("step %d", j), got[0], []string{"http.response.code", "http.time", "http.response_for.uri"}, ktWant(want))
			}
			st, err := coll.TxStats()
			if err != nil || len(st) != 1 {
				t.Fatalf("TxStats: %v, %v", st, err)
			}
			if s := st[0]; s.Requests != 5 || s.Paired != 5 || s.Orphans != 1 || s.Waiting != 0 || s.Evicted != 0 {
				t.Errorf("counters %+v; want 5 requests paired, 1 orphan", s)
			}
		})
	}
}
