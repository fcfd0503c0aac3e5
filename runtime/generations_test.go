package runtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Two rule sets share one ring buffer: the stream decodes each event with
// the schema of its generation, counts an event of a rule set it was not
// given as not written (with a notice), keeps counting a rule that both
// sets have in one row, and hands back a retired set's statistics.
func TestStreamGenerations(t *testing.T) {
	old := loadDSL(t, `rule kept { hook xdp match udp log udp.dstport }
rule gone { hook xdp match udp.dstport == 53 log udp.srcport }`, 0)
	next, err := runtime.Load(compileDSL(t, `rule kept { hook xdp match udp log udp.dstport, udp.srcport }`, compiler.Options{Generation: 1}),
		runtime.LoadOptions{Events: old.Events})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	frame := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4("10.0.0.1", "10.0.0.2").UDP(4000, 53).Bytes()

	swaps := runtime.NewSwaps()
	s := startStream(t, old, runtime.StreamOptions{Swaps: swaps})
	run := func(c *runtime.Collection) {
		t.Helper()
		if err := c.Run(rules.HookXDP, frame); err != nil {
			t.Fatal(err)
		}
	}
	run(old)  // kept and gone, generation 0
	run(next) // kept, generation 1, before the stream was told of it
	time.Sleep(30 * time.Millisecond)
	swaps.Adopt(next)
	run(next)
	s.waitFor(t, "the events", 5*time.Second, func(objs []map[string]any) bool { return len(objs) == 3 })
	retired, err := swaps.Retire(old)
	if err != nil {
		t.Fatal(err)
	}
	st := s.stop(t)

	objs := s.sink.objects(t)
	if objs[0]["rule"] != "kept" || objs[1]["rule"] != "gone" || objs[2]["rule"] != "kept" {
		t.Fatalf("events: %v", objs)
	}
	if _, ok := objs[0]["udp.srcport"]; ok {
		t.Errorf("an event of the old rule set was decoded with the new schema: %v", objs[0])
	}
	if objs[2]["udp.srcport"] != float64(4000) {
		t.Errorf("an event of the new rule set was not decoded with its schema: %v", objs[2])
	}
	if st.DecodeErrors != 1 || !strings.Contains(s.notices.String(), "belongs to rule set 1, which the stream does not have") {
		t.Errorf("decode errors %d, notices %q; want the event of the unknown rule set counted", st.DecodeErrors, s.notices)
	}
	if len(st.Rules) != 2 || st.Rules[0].Name != "kept" || st.Rules[0].Events != 2 || st.Rules[1].Name != "gone" || st.Rules[1].Events != 1 {
		t.Errorf("stats %+v; want kept 2 events (one row over both sets), gone 1", st.Rules)
	}
	if len(retired) != 2 || retired[1].Name != "gone" || retired[1].Events != 1 {
		t.Errorf("retired stats %+v", retired)
	}
}

// A reload keeps the transactions' accounting: the replaced rule set's
// counters stay in the totals, the requests still waiting in its maps
// (which go with it) are counted as evicted and reported, and the new rule
// set's pairs add to them.
func TestStreamGenerationsTransactions(t *testing.T) {
	const src = `rule resp { hook xdp match http.response log http.response.code, http.time }`
	old := loadDSL(t, src, 0)
	next, err := runtime.Load(compileDSL(t, src, compiler.Options{Generation: 1}), runtime.LoadOptions{Events: old.Events})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	frame := func(client bool, port uint16, payload string) []byte {
		if client {
			return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(port, 80).Seq(uint32(port)).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(payload)).Bytes()
		}
		return testpkt.New().IPv4("10.0.0.2", "10.0.0.1").TCP(80, port).Seq(7).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(payload)).Bytes()
	}
	req := string(testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host: h"))
	run := func(c *runtime.Collection, fr []byte) {
		t.Helper()
		if err := c.Run(rules.HookXDP, fr); err != nil {
			t.Fatal(err)
		}
	}
	swaps := runtime.NewSwaps()
	s := startStream(t, old, runtime.StreamOptions{Swaps: swaps})
	run(old, frame(true, 40000, req))
	run(old, frame(false, 40000, "HTTP/1.1 200 OK\r\n\r\n"))
	run(old, frame(true, 40001, req)) // still waiting at the reload
	swaps.Adopt(next)
	run(next, frame(false, 40001, "HTTP/1.1 200 OK\r\n\r\n")) // its request went with the old maps
	run(next, frame(true, 40002, req))
	run(next, frame(false, 40002, "HTTP/1.1 204 No Content\r\n\r\n"))
	s.waitFor(t, "the responses", 5*time.Second, func(objs []map[string]any) bool { return len(objs) >= 3 })
	if _, err := swaps.Retire(old); err != nil {
		t.Fatal(err)
	}
	st := s.stop(t)
	if len(st.Tx) != 1 {
		t.Fatalf("transactions %+v; want one row", st.Tx)
	}
	want := runtime.TxStats{Proto: "http", Requests: 3, Paired: 2, Evicted: 1, Orphans: 1}
	if st.Tx[0] != want {
		t.Errorf("transactions %+v; want %+v", st.Tx[0], want)
	}
	var rec map[string]any
	for _, o := range s.sink.objects(t) {
		if o["transactions"] == "http" {
			rec = o
		}
	}
	if rec == nil || rec["evicted"] != float64(1) || rec["requests"] != float64(3) {
		t.Errorf("the last transaction record %v; want 3 requests, 1 evicted", rec)
	}
}
