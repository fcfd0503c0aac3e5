package output

import (
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
