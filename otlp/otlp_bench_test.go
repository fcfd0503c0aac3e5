package otlp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/otlp"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/runtime"
)

// benchSchema is one rule logging what make bench's outputs section logs:
// two addresses and three integers.
func benchSchema() *compiler.Schema {
	return &compiler.Schema{HeaderSize: compiler.HeaderSize, Rules: []compiler.RuleSchema{{
		Name: "udp_flood", Hook: "tc ingress",
		Fields: []compiler.FieldSlot{
			{Name: "ip.src", Field: "ip.src", Render: compiler.RenderIPv4, Size: 4},
			{Name: "ip.dst", Field: "ip.dst", Render: compiler.RenderIPv4, Size: 4},
			{Name: "udp.srcport", Field: "udp.srcport", Render: compiler.RenderUint, Size: 2},
			{Name: "udp.dstport", Field: "udp.dstport", Render: compiler.RenderUint, Size: 2},
			{Name: "udp.length", Field: "udp.length", Render: compiler.RenderUint, Size: 2},
		},
	}}}
}

func benchEvent(s *compiler.Schema) *runtime.Event {
	f := s.Rules[0].Fields
	return &runtime.Event{Rule: 0, Values: []runtime.Value{
		{Slot: &f[0], Present: true, Bytes: []byte{10, 0, 0, 1}},
		{Slot: &f[1], Present: true, Bytes: []byte{10, 0, 0, 2}},
		{Slot: &f[2], Present: true, U: 40000},
		{Slot: &f[3], Present: true, U: 9999},
		{Slot: &f[4], Present: true, U: 72},
	}}
}

// BenchmarkExport is the CPU an event costs from Event to a collector's
// 200 over OTLP/HTTP (a local server that reads and discards the request),
// b.N events in batches of 2048.
func BenchmarkExport(b *testing.B) {
	var bytes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := benchSchema()
	e, err := otlp.New(otlp.Options{Endpoint: srv.URL, Naming: output.NewWireshark, Interfaces: []string{"eth0"},
		QueueSize: 1 << 20, BatchSize: 2048, Interval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvent(s)
	m := runtime.Meta{Time: time.Unix(1700000000, 123), Iface: "eth0", Schema: s}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Values[3].U = uint64(i)
		if err := e.Event(ev, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	sent, lost := e.Totals()
	if sent != uint64(b.N) || lost != 0 {
		b.Fatalf("%d events: %d exported, %d lost", b.N, sent, lost)
	}
	b.ReportMetric(float64(bytes.Load())/float64(b.N), "bytes/event")
}
