package compiler_test

import (
	"fmt"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// DNS transactions in the kernel: queries and responses with their times,
// through tc ingress and XDP test runs; a response event carries dns.time
// only when it answers a query of its flow, id and question, and the
// counters account for every query.

type dnsTxMsg struct {
	resp bool
	id   uint16
	name string
	ms   uint64
	tcp  bool
	time string // the response's dns.time; "-": absent; "" for queries
}

func dq(id uint16, name string, ms uint64) dnsTxMsg { return dnsTxMsg{id: id, name: name, ms: ms} }
func dr(id uint16, name string, ms uint64, time string) dnsTxMsg {
	return dnsTxMsg{resp: true, id: id, name: name, ms: ms, time: time}
}

func (m dnsTxMsg) frame(port uint16) []byte {
	flags := uint16(0x0100)
	if m.resp {
		flags = 0x8180
	}
	msg := testpkt.DNSMessage(m.id, flags, 1, 0, testpkt.DNSName(m.name), 1, 1)
	src, dst, sport, dport := "10.0.0.1", "10.0.0.53", port, uint16(53)
	if m.resp {
		src, dst, sport, dport = dst, src, dport, sport
	}
	if m.tcp {
		return testpkt.New().IPv4(src, dst).TCP(sport, dport).Seq(7).Flags(testpkt.ACK | testpkt.PSH).Payload(testpkt.DNSOverTCP(msg)).Bytes()
	}
	return testpkt.New().IPv4(src, dst).UDP(sport, dport).Payload(msg).Bytes()
}

var dnsTxCases = []struct {
	name string
	msgs []dnsTxMsg
	// requests, paired, timeouts, overflow, orphans, waiting
	counts [6]uint64
}{
	{"query and response", []dnsTxMsg{dq(1, "a.example", 1000), dr(1, "a.example", 1012, "0.012000")}, [6]uint64{1, 1, 0, 0, 0, 0}},
	{"interleaved ids", []dnsTxMsg{dq(1, "a.example", 1000), dq(2, "b.example", 1001), dr(2, "b.example", 1003, "0.002000"), dr(1, "a.example", 1010, "0.010000")},
		[6]uint64{2, 2, 0, 0, 0, 0}},
	{"a retransmitted query keeps the first one's time; a repeated response gets it again", []dnsTxMsg{
		dq(5, "r.example", 1000), dq(5, "r.example", 2000), dr(5, "r.example", 2100, "1.100000"), dr(5, "r.example", 2200, "1.200000")},
		[6]uint64{1, 1, 0, 0, 0, 0}},
	{"id reused for another question: the old question's late response pairs with nothing", []dnsTxMsg{
		dq(9, "old.example", 1000), dq(9, "new.example", 1500), dr(9, "old.example", 1600, "-"), dr(9, "new.example", 1700, "0.200000")},
		[6]uint64{2, 1, 0, 1, 1, 0}},
	{"responses without queries", []dnsTxMsg{dr(3, "x.example", 1000, "-"), dr(4, "y.example", 1001, "-")}, [6]uint64{0, 0, 0, 0, 2, 0}},
	{"queries without responses", []dnsTxMsg{dq(3, "x.example", 1000), dq(4, "y.example", 1001)}, [6]uint64{2, 0, 0, 0, 0, 2}},
	{"a response past the timeout is not paired", []dnsTxMsg{
		dq(6, "slow.example", 1000), dr(6, "slow.example", 1000+rules.DNSTxTimeoutNanos/1e6+1, "-"), dr(6, "slow.example", 20000, "-")},
		[6]uint64{1, 0, 1, 0, 1, 0}},
	{"a query from the server's side is not answered by the client", []dnsTxMsg{
		{id: 8, name: "rev.example", ms: 1000, resp: true, time: "-"}, dq(8, "rev.example", 1001), dr(8, "rev.example", 1002, "0.001000")},
		[6]uint64{1, 1, 0, 0, 1, 0}},
	{"UDP and TCP apart", []dnsTxMsg{dq(7, "t.example", 1000), {tcp: true, resp: true, id: 7, name: "t.example", ms: 1004, time: "-"},
		dr(7, "t.example", 1005, "0.005000")}, [6]uint64{1, 1, 0, 0, 1, 0}},
}

func TestKernelL7DNSTransactions(t *testing.T) {
	kerneltest.Require(t)
	for _, h := range ktHooks {
		for i, c := range dnsTxCases {
			t.Run(h.Suffix+"/"+c.name, func(t *testing.T) {
				coll, k := dnsTxLoad(t, h, 0)
				defer coll.Close()
				for j, m := range c.msgs {
					dnsTxRun(t, coll, k, h, m, uint16(40000+i), j)
				}
				dnsTxCounts(t, coll, c.counts)
			})
		}
	}
}

// A flood of unanswered queries fills the flow map: the queries pushed
// out are counted as evicted and their responses pair with nothing; the
// ones still kept pair with their own.
func TestKernelL7DNSTransactionFlood(t *testing.T) {
	kerneltest.Require(t)
	h := ktHooks[0]
	const flows, queries = 64, 1000
	coll, k := dnsTxLoad(t, h, flows)
	defer coll.Close()
	name := func(i int) string { return fmt.Sprintf("q%d.flood.example", i) }
	for i := range queries {
		dnsTxRun(t, coll, k, h, dq(uint16(i), name(i), 1000), uint16(20000+i), i)
	}
	paired := 0
	for i := range queries {
		f := dr(uint16(i), name(i), 1500, "-")
		fr := f.frame(uint16(20000 + i))
		if err := coll.RunAt(h.Hook, fr, len(fr), f.ms*1_000_000); err != nil {
			t.Fatal(err)
		}
		evs, err := k.drain()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs["resp"] {
			if got := string(ev.Fields["dns.time"]); got != "null" {
				if got != "0.500000" {
					t.Errorf("query %d: dns.time %s, want 0.500000 or none", i, got)
				}
				paired++
			}
		}
	}
	st, err := coll.TxStats()
	if err != nil {
		t.Fatal(err)
	}
	var s runtime.TxStats
	for _, x := range st {
		if x.Proto == "dns" {
			s = x
		}
	}
	if s.Requests != queries || s.Paired != uint64(paired) || s.Orphans != uint64(queries-paired) || s.Evicted != uint64(queries-paired) || s.Waiting != 0 {
		t.Errorf("counters %+v; want %d requests, %d paired, the rest orphans and evicted", s, queries, paired)
	}
	if paired == 0 || paired > flows {
		t.Errorf("%d queries paired after a flood of %d into %d flows", paired, queries, flows)
	}
	t.Logf("%d of %d queries kept in a map of %d flows; evicted %d", paired, queries, flows, s.Evicted)
}

func dnsTxLoad(t *testing.T, h ktHook, flows int) (*runtime.Collection, *ktLoaded) {
	t.Helper()
	out := ktCompileWith(t, "dnstx.rules", l7Source([]l7Rule{{Name: "resp", Match: "dns.flags.response == 1",
		Log: []string{"dns.id", "dns.time"}}}, []ktHook{h}), compiler.Options{TestRun: true, TxFlows: flows})
	coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return coll, &ktLoaded{coll: coll, hooks: []ktHook{h}}
}

func dnsTxRun(t *testing.T, coll *runtime.Collection, k *ktLoaded, h ktHook, m dnsTxMsg, port uint16, j int) {
	t.Helper()
	frame := m.frame(port)
	if err := coll.RunAt(h.Hook, frame, len(frame), m.ms*1_000_000); err != nil {
		t.Fatal(err)
	}
	evs, err := k.drain()
	if err != nil {
		t.Fatal(err)
	}
	got := evs["resp"]
	if !m.resp {
		if len(got) != 0 {
			t.Errorf("frame %d: a query made a response event: %s", j, got[0].Line)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("frame %d: %d response events, want 1", j, len(got))
	}
	want := fmt.Sprintf(`{"dns.id":"0x%04x","dns.time":%s}`, m.id, orNull(m.time, false))
	ktCheckFields(t, fmt.Sprintf("frame %d", j), got[0], []string{"dns.id", "dns.time"}, ktWant(want))
}

func dnsTxCounts(t *testing.T, coll *runtime.Collection, want [6]uint64) {
	t.Helper()
	st, err := coll.TxStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Proto != "dns" {
			continue
		}
		got := [6]uint64{s.Requests, s.Paired, s.Timeouts, s.Overflow, s.Orphans, s.Waiting}
		if got != want || s.Evicted != 0 {
			t.Errorf("counters (requests, paired, timeouts, overflow, orphans, waiting) = %v, evicted %d; want %v, 0", got, s.Evicted, want)
		}
		return
	}
	t.Errorf("no dns row in %v", st)
}

// TLS handshakes: the ServerHello carries the time from its flow's
// ClientHello; a HelloRetryRequest pairs with the first ClientHello, the
// real ServerHello with the second.
func TestKernelL7TLSHandshakeTime(t *testing.T) {
	kerneltest.Require(t)
	ch := testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("t.example")}}.Bytes()
	sh := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303}.Bytes()
	type msg struct {
		server bool
		ms     uint64
		time   string // on a ServerHello: tls.handshake.time, "-" absent
	}
	cases := []struct {
		name   string
		msgs   []msg
		counts [6]uint64 // requests, paired, timeouts, overflow, orphans, waiting
	}{
		{"hello and hello", []msg{{false, 1000, ""}, {true, 1020, "0.020000"}}, [6]uint64{1, 1, 0, 0, 0, 0}},
		{"retransmitted ClientHello, repeated ServerHello", []msg{{false, 1000, ""}, {false, 1200, ""}, {true, 1250, "0.250000"}, {true, 1300, "0.300000"}},
			[6]uint64{1, 1, 0, 0, 0, 0}},
		{"HelloRetryRequest", []msg{{false, 1000, ""}, {true, 1001, "0.001000"}, {false, 1010, ""}, {true, 1015, "0.005000"}}, [6]uint64{2, 2, 0, 0, 0, 0}},
		{"ServerHello alone", []msg{{true, 1000, "-"}}, [6]uint64{0, 0, 0, 0, 1, 0}},
		{"too late", []msg{{false, 1000, ""}, {true, 1000 + rules.DNSTxTimeoutNanos/1e6 + 1, "-"}}, [6]uint64{1, 0, 1, 0, 0, 0}},
	}
	for _, h := range ktHooks {
		for i, c := range cases {
			t.Run(h.Suffix+"/"+c.name, func(t *testing.T) {
				out := ktCompileWith(t, "tlstx.rules", l7Source([]l7Rule{{Name: "resp", Match: "tls.handshake.type == 2",
					Log: []string{"tls.handshake.time"}}}, []ktHook{h}), compiler.Options{TestRun: true})
				coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
				if err != nil {
					t.Fatal(err)
				}
				defer coll.Close()
				k := &ktLoaded{coll: coll, hooks: []ktHook{h}}
				port := uint16(41000 + i)
				for j, m := range c.msgs {
					fr := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(port, 443).Seq(uint32(10 + j)).Flags(testpkt.ACK | testpkt.PSH).Payload(ch).Bytes()
					if m.server {
						fr = testpkt.New().IPv4("10.0.0.2", "10.0.0.1").TCP(443, port).Seq(uint32(90 + j)).Flags(testpkt.ACK | testpkt.PSH).Payload(sh).Bytes()
					}
					if m.server && j > 0 && c.msgs[j-1].server {
						fr = testpkt.New().IPv4("10.0.0.2", "10.0.0.1").TCP(443, port).Seq(uint32(90 + j - 1)).Flags(testpkt.ACK | testpkt.PSH).Payload(sh).Bytes()
					}
					if err := coll.RunAt(h.Hook, fr, len(fr), m.ms*1_000_000); err != nil {
						t.Fatal(err)
					}
					evs, err := k.drain()
					if err != nil {
						t.Fatal(err)
					}
					if !m.server {
						continue
					}
					if len(evs["resp"]) != 1 {
						t.Fatalf("frame %d: %d events", j, len(evs["resp"]))
					}
					ktCheckFields(t, fmt.Sprintf("frame %d", j), evs["resp"][0], []string{"tls.handshake.time"}, ktWant(fmt.Sprintf(`{"tls.handshake.time":%s}`, orNull(m.time, false))))
				}
				st, err := coll.TxStats()
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range st {
					if s.Proto == "tls" {
						if got := [6]uint64{s.Requests, s.Paired, s.Timeouts, s.Overflow, s.Orphans, s.Waiting}; got != c.counts {
							t.Errorf("counters %v, want %v", got, c.counts)
						}
					}
				}
			})
		}
	}
}
