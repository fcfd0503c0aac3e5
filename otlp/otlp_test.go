package otlp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/hdrlog/hdrlog/otlp"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/runtime"
)

// The requests hdrlog encodes by hand decode with the generated types of
// go.opentelemetry.io/proto/otlp, over OTLP/HTTP and OTLP/gRPC, into the
// records the SDK made: resource and scope, time, observed time, severity
// INFO, the rule as body, the event name, the attributes with their types,
// in order. (The real collector's tests are in cmd/hdrlog.)
func TestEncodingDecodes(t *testing.T) {
	for _, scheme := range []string{"http", "grpc"} {
		t.Run(scheme, func(t *testing.T) {
			endpoint, requests := fakeCollector(t, scheme)
			s := benchSchema()
			e, err := otlp.New(otlp.Options{Endpoint: endpoint, Naming: output.NewWireshark, Interfaces: []string{"eth0", "eth1"},
				BatchSize: 2, Interval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ev := benchEvent(s)
			before := time.Now()
			const n = 5
			for i := range n {
				ev.Values[3].U = uint64(9000 + i)
				ev.Values[4].Present = i%2 == 0
				m := runtime.Meta{Time: time.Unix(1700000000, int64(i)), Iface: "eth1", Frame: i + 1, Schema: s}
				if err := e.Event(ev, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if sent, lost := e.Totals(); sent != n || lost != 0 {
				t.Fatalf("%d exported, %d lost; want %d, 0", sent, lost, n)
			}
			host, _ := os.Hostname()
			i := 0
			for _, req := range requests() {
				if len(req.ResourceLogs) != 1 || len(req.ResourceLogs[0].ScopeLogs) != 1 {
					t.Fatalf("request %v: want one resource and one scope", req)
				}
				rl := req.ResourceLogs[0]
				res := attrMap(rl.Resource.Attributes)
				if res["service.name"] != "hdrlog" || res["host.name"] != host || res["network.interface.name"] != "eth0,eth1" ||
					res["telemetry.sdk.language"] != "go" {
					t.Errorf("resource %v", res)
				}
				if rl.SchemaUrl == "" {
					t.Errorf("no schema URL")
				}
				sl := rl.ScopeLogs[0]
				if sl.Scope.GetName() != "hdrlog" {
					t.Errorf("scope %v", sl.Scope)
				}
				for _, r := range sl.LogRecords {
					if r.TimeUnixNano != uint64(time.Unix(1700000000, int64(i)).UnixNano()) || r.ObservedTimeUnixNano < uint64(before.UnixNano()) ||
						r.SeverityNumber != 9 || r.Body.GetStringValue() != "udp_flood" || r.EventName != "hdrlog.event" {
						t.Errorf("record %d: %v", i, r)
					}
					want := []string{"rule=udp_flood", "iface=eth1", "hook=tc ingress", "frame=int:" + itoa(i+1),
						"ip.src=10.0.0.1", "ip.dst=10.0.0.2", "udp.srcport=int:40000", "udp.dstport=int:" + itoa(9000+i)}
					if i%2 == 0 {
						want = append(want, "udp.length=int:72")
					}
					got := attrList(r.Attributes)
					if len(got) != len(want) {
						t.Fatalf("record %d: attributes %v, want %v", i, got, want)
					}
					for j := range want {
						if got[j] != want[j] {
							t.Errorf("record %d: attribute %d is %s, want %s", i, j, got[j], want[j])
						}
					}
					i++
				}
			}
			if i != n {
				t.Errorf("%d records arrived, %d sent", i, n)
			}
		})
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.GetStringValue()
	}
	return m
}

// attrList prints attributes as key=value, int:N for integers.
func attrList(kvs []*commonpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_IntValue:
			out = append(out, kv.Key+"=int:"+itoa(int(v.IntValue)))
		case *commonpb.AnyValue_BoolValue:
			if v.BoolValue {
				out = append(out, kv.Key+"=bool:true")
			} else {
				out = append(out, kv.Key+"=bool:false")
			}
		default:
			out = append(out, kv.Key+"="+kv.Value.GetStringValue())
		}
	}
	return out
}

// fakeCollector receives OTLP requests and keeps them, decoded with the
// generated types: an HTTP server for http, the generated LogsService for
// grpc.
func fakeCollector(t *testing.T, scheme string) (string, func() []*collogspb.ExportLogsServiceRequest) {
	var mu sync.Mutex
	var got []*collogspb.ExportLogsServiceRequest
	keep := func(req *collogspb.ExportLogsServiceRequest) {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
	}
	requests := func() []*collogspb.ExportLogsServiceRequest {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	if scheme == "http" {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			req := &collogspb.ExportLogsServiceRequest{}
			if r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
				t.Errorf("request to %s of %s", r.URL.Path, r.Header.Get("Content-Type"))
			}
			if err := proto.Unmarshal(body, req); err != nil {
				t.Errorf("request does not decode: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			keep(req)
			b, _ := proto.Marshal(&collogspb.ExportLogsServiceResponse{})
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.Write(b)
		}))
		t.Cleanup(srv.Close)
		return srv.URL, requests
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collogspb.RegisterLogsServiceServer(srv, &logsService{keep: keep})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return "grpc://" + l.Addr().String(), requests
}

type logsService struct {
	collogspb.UnimplementedLogsServiceServer
	keep func(*collogspb.ExportLogsServiceRequest)
}

func (s *logsService) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	s.keep(req)
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// A collector that refuses every request: each event is counted lost
// (export failed), none exported, and the error is kept.
func TestRefusedExportIsCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s := benchSchema()
	e, err := otlp.New(otlp.Options{Endpoint: srv.URL, Naming: output.NewWireshark, BatchSize: 3,
		Interval: 10 * time.Millisecond, RetryFor: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		e.Event(benchEvent(s), runtime.Meta{Time: time.Now(), Schema: s})
	}
	e.Close()
	if sent, lost := e.Totals(); sent != 0 || lost != 7 {
		t.Errorf("%d exported, %d lost; want 0, 7", sent, lost)
	}
	if n := e.LostByReason()[otlp.LostExportFailed]["udp_flood"]; n != 7 {
		t.Errorf("%d lost for a failed export, want 7", n)
	}
	if e.LastError() == "" {
		t.Errorf("no last error")
	}
}

// A queue of 4 records takes 4 events while the collector does not answer;
// the others are dropped and counted (queue full), at once.
func TestFullQueueDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := benchSchema()
	e, err := otlp.New(otlp.Options{Endpoint: srv.URL, Naming: output.NewWireshark, QueueSize: 4, BatchSize: 100,
		Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		e.Event(benchEvent(s), runtime.Meta{Time: time.Now(), Schema: s})
	}
	if n := e.QueueLength(); n != 4 {
		t.Errorf("queue length %d, want 4", n)
	}
	if n := e.LostByReason()[otlp.LostQueueFull]["udp_flood"]; n != 6 {
		t.Errorf("%d dropped for a full queue, want 6", n)
	}
	close(release)
	e.Close()
	if sent, lost := e.Totals(); sent != 4 || lost != 6 {
		t.Errorf("%d exported, %d lost; want 4, 6", sent, lost)
	}
}

// A counting rule's record is a log record named hdrlog.count, timed at the
// interval's end, the rule as body, with the rule, hook, start, the key
// fields present, count and bytes as attributes; the exporter takes it
// through the stream (runtime.CountSink).
func TestCountRecordEncodes(t *testing.T) {
	endpoint, requests := fakeCollector(t, "http")
	s := benchSchema()
	e, err := otlp.New(otlp.Options{Endpoint: endpoint, Naming: output.NewWireshark, BatchSize: 1, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var sink runtime.EventSink = e
	cs, ok := sink.(runtime.CountSink)
	if !ok {
		t.Fatal("the OTLP exporter takes no count records")
	}
	f := s.Rules[0].Fields
	end := time.Unix(1700000010, 0)
	rec := &runtime.CountRecord{Start: end.Add(-10 * time.Second), End: end, Rule: 0, Name: "udp_flood",
		Values: []runtime.Value{{Slot: &f[0], Present: true, Bytes: []byte{10, 0, 0, 1}}, {Slot: &f[3]}},
		Count:  12, Bytes: 840, SumLen: true}
	if err := cs.Count(rec, runtime.Meta{Time: end, Schema: s}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, req := range requests() {
		for _, r := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
			if r.TimeUnixNano != uint64(end.UnixNano()) || r.Body.GetStringValue() != "udp_flood" || r.EventName != "hdrlog.count" {
				t.Errorf("record %v", r)
			}
			got = append(got, attrList(r.Attributes)...)
		}
	}
	want := []string{"rule=udp_flood", "hook=tc ingress", "start=2023-11-14T22:13:20.000000000Z", "ip.src=10.0.0.1", "count=int:12", "bytes=int:840"}
	if len(got) != len(want) {
		t.Fatalf("attributes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attribute %d is %s, want %s", i, got[i], want[i])
		}
	}
}
