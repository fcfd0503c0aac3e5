package runtime_test

import (
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Unanswered DNS queries: the sweep reports a query that waited past the
// timeout once, with its endpoints and id, counts it as a timeout, and its
// late response pairs with nothing; an answered query and one still in
// time are not reported.
func TestSweepUnansweredDNS(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, `rule r { match dns.flags.response == 1 log dns.id, dns.time }`)
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const s = uint64(time.Second)
	send := func(resp bool, id uint16, name string, port uint16, at uint64) {
		t.Helper()
		flags := uint16(0x0100)
		src, dst, sp, dp := "10.0.0.1", "10.0.0.53", port, uint16(53)
		if resp {
			flags, src, dst, sp, dp = 0x8180, dst, src, dp, sp
		}
		fr := testpkt.New().IPv4(src, dst).UDP(sp, dp).Payload(testpkt.DNSMessage(id, flags, 1, 0, testpkt.DNSName(name), 1, 1)).Bytes()
		if err := c.RunAt(rules.HookTCIngress, fr, len(fr), at); err != nil {
			t.Fatal(err)
		}
	}
	send(false, 0x1234, "lost.example", 40001, 100*s)
	send(false, 0x0001, "ok.example", 40002, 101*s)
	send(true, 0x0001, "ok.example", 40002, 101*s+s/100)
	send(false, 0x0002, "recent.example", 40003, 108*s)
	var got []string
	n, err := c.SweepDNS(112*s, func(u runtime.UnansweredDNS) { got = append(got, string(runtime.AppendUnansweredDNS(nil, u))) })
	if err != nil {
		t.Fatal(err)
	}
	want := `"unanswered":"dns","client":"10.0.0.1:40001","server":"10.0.0.53:53","transport":"udp","dns.id":"0x1234","waited":12.000000`
	if n != 1 || len(got) != 1 || got[0] != want {
		t.Fatalf("sweep: %d, %q; want 1, %s", n, got, want)
	}
	if n, _ := c.SweepDNS(113*s, nil); n != 0 {
		t.Errorf("a second sweep reported %d queries again", n)
	}
	send(true, 0x1234, "lost.example", 40001, 113*s)
	st, err := c.TxStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range st {
		if x.Proto == "dns" && (x.Requests != 3 || x.Paired != 1 || x.Timeouts != 1 || x.Waiting != 1 || x.Orphans != 1 || x.Evicted != 0) {
			t.Errorf("counters %+v; want 3 queries, 1 paired, 1 timed out (swept), 1 waiting, 1 orphan", x)
		}
	}
	if n, _ := c.SweepDNS(200*s, nil); n != 1 {
		t.Errorf("the recent query, now old: %d reported, want 1", n)
	}
}
