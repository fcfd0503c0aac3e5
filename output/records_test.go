package output

import (
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/runtime"
)

// The stream's records in the text format and in ECS; JSON lines (the
// Wireshark naming) keep them as they are.
func TestRecordFormats(t *testing.T) {
	s := &compiler.Schema{HeaderSize: compiler.HeaderSize}
	records := []string{
		`{"time":"2026-12-04T16:49:15.123456789Z","interface":"eth1","ifindex":7,"event":"attached","hooks":["tc ingress","tc egress"]}`,
		`{"time":"2026-12-04T16:49:15.500000000Z","interface":"eth 2","ifindex":8,"event":"failed","detail":"attach tc: no such device"}`,
		`{"time":"2026-12-04T16:49:16.000001000Z","reload":"done","generation":2,"rules":3,"added":["b"],"changed":[],"removed":[{"rule":"a","hook":"tc ingress","events":5,"lost":0}],"seconds":0.012}`,
		`{"time":"2026-12-04T16:49:17.000000000Z","reload":"failed","generation":3,"error":"r.rules:5:21: error: unknown field udp.nosuch"}`,
	}
	want := map[string][]string{
		"text": {
			"16:49:15.123456 INTERFACE eth1 ifindex=7 event=attached hooks=[\"tc ingress\",\"tc egress\"]\n",
			"16:49:15.500000 INTERFACE \"eth 2\" ifindex=8 event=failed detail=\"attach tc: no such device\"\n",
			"16:49:16.000001 RELOAD done generation=2 rules=3 added=[\"b\"] changed=[] removed=[{\"rule\":\"a\",\"hook\":\"tc ingress\",\"events\":5,\"lost\":0}] seconds=0.012\n",
			"16:49:17.000000 RELOAD failed generation=3 error=\"r.rules:5:21: error: unknown field udp.nosuch\"\n",
		},
		"ecs": {
			`{"@timestamp":"2026-12-04T16:49:15.123456789Z","event.kind":"event","event.category":"host","event.module":"hdrlog","event.dataset":"hdrlog.interface","hdrlog.interface.name":"eth1","hdrlog.interface.index":7,"event.action":"attached","hdrlog.interface.hooks":["tc ingress","tc egress"]}` + "\n",
			`{"@timestamp":"2026-12-04T16:49:15.500000000Z","event.kind":"event","event.category":"host","event.module":"hdrlog","event.dataset":"hdrlog.interface","hdrlog.interface.name":"eth 2","hdrlog.interface.index":8,"event.action":"failed","event.reason":"attach tc: no such device"}` + "\n",
			`{"@timestamp":"2026-12-04T16:49:16.000001000Z","event.kind":"event","event.category":"configuration","event.module":"hdrlog","event.dataset":"hdrlog.reload","event.action":"done","event.outcome":"success","hdrlog.reload.generation":2,"hdrlog.reload.rules":3,"hdrlog.reload.added":["b"],"hdrlog.reload.changed":[],"hdrlog.reload.removed":[{"rule":"a","hook":"tc ingress","events":5,"lost":0}],"event.duration":12000000}` + "\n",
			`{"@timestamp":"2026-12-04T16:49:17.000000000Z","event.kind":"event","event.category":"configuration","event.module":"hdrlog","event.dataset":"hdrlog.reload","event.action":"failed","event.outcome":"failure","hdrlog.reload.generation":3,"error.message":"r.rules:5:21: error: unknown field udp.nosuch"}` + "\n",
		},
		"wireshark": records,
	}
	formats := map[string]runtime.RecordFormat{
		"text":      NewText(s, nil).InLocation(time.UTC),
		"ecs":       NewAttrsJSON(NewECS(s)),
		"wireshark": NewAttrsJSON(NewWireshark(s)),
	}
	for name, f := range formats {
		for i, line := range records {
			rec, err := runtime.ParseRecord([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			w := want[name][i]
			if name == "wireshark" {
				w += "\n"
			}
			if got := string(f.AppendRecord(nil, rec)); got != w {
				t.Errorf("%s, record %d:\n got %s\nwant %s", name, i, got, w)
			}
		}
	}
}

// Count records in the text format (runtime.CountFormat); other formats
// write them as JSON lines.
func TestTextCountRecord(t *testing.T) {
	src := &compiler.FieldSlot{Name: "ip.src", Field: "ip.src", Render: compiler.RenderIPv4, Size: 4}
	src6 := &compiler.FieldSlot{Name: "ipv6.src", Field: "ipv6.src", Render: compiler.RenderIPv6, Size: 16}
	port := &compiler.FieldSlot{Name: "tcp.dstport", Field: "tcp.dstport", Render: compiler.RenderUint, Size: 2}
	end := time.Date(2026, 12, 4, 16, 49, 20, 0, time.UTC)
	rec := &runtime.CountRecord{Start: end.Add(-10 * time.Second), End: end, Name: "top_talkers",
		Values: []runtime.Value{{Slot: src, Present: true, Bytes: []byte{10, 0, 0, 7}}, {Slot: src6}, {Slot: port, Present: true, U: 443}},
		Count:  1200, Bytes: 1650000, SumLen: true}
	text := NewText(&compiler.Schema{HeaderSize: compiler.HeaderSize}, nil).InLocation(time.UTC)
	if _, ok := runtime.LineFormat(text).(runtime.CountFormat); !ok {
		t.Fatal("the text format does not write count records its own way")
	}
	want := "16:49:20.000000 COUNT top_talkers since 16:49:10.000000 ip.src=10.0.0.7 tcp.dstport=443 count=1200 bytes=1650000\n"
	if got := string(runtime.AppendCount(nil, text, rec)); got != want {
		t.Errorf("text:\n got %s\nwant %s", got, want)
	}
	rec.SumLen = false
	if got := string(runtime.AppendCount(nil, text, rec)); got != strings.Replace(want, " bytes=1650000", "", 1) {
		t.Errorf("text without sum:\n got %s", got)
	}
	wantJSON := `{"time":"2026-12-04T16:49:20.000000000Z","start":"2026-12-04T16:49:10.000000000Z","rule":"top_talkers","ip.src":"10.0.0.7","ipv6.src":null,"tcp.dstport":443,"count":1200}` + "\n"
	if got := string(runtime.AppendCount(nil, runtime.JSONLines(&compiler.Schema{}), rec)); got != wantJSON {
		t.Errorf("JSON:\n got %s\nwant %s", got, wantJSON)
	}
}
