package output

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/runtime"
)

// The stream's records (interface and reload records, runtime.Records) in
// the text format and in ECS. In JSON lines they are written as they are:
//
//	{"time":"…","interface":"eth1","ifindex":7,"event":"attached","hooks":["tc ingress"]}
//	{"time":"…","reload":"done","generation":2,"rules":3,"added":["b"],"changed":[],"removed":[],"seconds":0.012}

// AppendRecord writes a record as a text line, as a lost-event report is
// written: the time of day, the record's kind in capitals and its first
// value, then the other members as name=value (strings without quotes
// when they hold no space, quote or control character; lists and objects
// as JSON):
//
//	16:49:15.123456 INTERFACE eth1 ifindex=7 event=attached hooks=["tc ingress"]
//	16:49:16.000001 RELOAD done generation=2 rules=3 added=["b"] changed=[] removed=[] seconds=0.012
func (t *Text) AppendRecord(buf []byte, r runtime.Record) []byte {
	buf = r.Time.In(t.loc).AppendFormat(buf, "15:04:05.000000")
	for i, f := range r.Fields {
		buf = append(buf, ' ')
		if i == 0 {
			buf = append(buf, strings.ToUpper(f.Key)...)
			buf = append(buf, ' ')
		} else {
			buf = append(buf, f.Key...)
			buf = append(buf, '=')
		}
		buf = appendRecordText(buf, f.Value)
	}
	return append(buf, '\n')
}

// appendRecordText writes a JSON value as the text format does.
func appendRecordText(buf []byte, v json.RawMessage) []byte {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil && s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '\\' || r == 0x7f
	}) {
		return append(buf, s...)
	}
	return append(buf, v...)
}

// ecsRecords name the records' members in ECS, per record kind: event.*
// say what happened, members without an ECS equivalent go under
// "hdrlog.<kind>.". A reload's seconds become event.duration in
// nanoseconds, as ECS wants.
var ecsRecords = map[string]struct {
	category string
	keys     map[string]string
}{
	"interface": {"host", map[string]string{
		"interface": "hdrlog.interface.name", "ifindex": "hdrlog.interface.index", "event": "event.action",
		"hooks": "hdrlog.interface.hooks", "detail": "event.reason",
	}},
	"reload": {"configuration", map[string]string{
		"reload": "event.action", "generation": "hdrlog.reload.generation", "rules": "hdrlog.reload.rules",
		"added": "hdrlog.reload.added", "changed": "hdrlog.reload.changed", "removed": "hdrlog.reload.removed",
		"seconds": "event.duration", "error": "error.message",
	}},
}

// AppendRecord writes a record as a JSON line in the format's naming: as it
// is with Wireshark's, as an ECS event of dataset hdrlog.<kind> with ECS's:
//
//	{"@timestamp":"…","event.kind":"event","event.category":"configuration","event.module":"hdrlog","event.dataset":"hdrlog.reload","event.action":"done","event.outcome":"success","hdrlog.reload.generation":2,…,"event.duration":12000000}
func (j *AttrsJSON) AppendRecord(buf []byte, r runtime.Record) []byte {
	buf = append(buf, '{')
	buf = strconv.AppendQuote(buf, j.naming.TimeKey())
	buf = append(buf, ':', '"')
	buf = runtime.AppendTime(buf, r.Time)
	buf = append(buf, '"')
	kind := r.Kind()
	ecs, isECS := ecsRecords[kind]
	if j.naming.TimeKey() == "time" || !isECS {
		for _, f := range r.Fields {
			buf = append(buf, ',')
			buf = strconv.AppendQuote(buf, f.Key)
			buf = append(buf, ':')
			buf = append(buf, f.Value...)
		}
		return append(buf, '}', '\n')
	}
	buf = append(buf, `,"event.kind":"event","event.category":`...)
	buf = strconv.AppendQuote(buf, ecs.category)
	buf = append(buf, `,"event.module":"hdrlog","event.dataset":`...)
	buf = strconv.AppendQuote(buf, "hdrlog."+kind)
	for _, f := range r.Fields {
		key, ok := ecs.keys[f.Key]
		if !ok {
			key = "hdrlog." + kind + "." + f.Key
		}
		buf = append(buf, ',')
		buf = strconv.AppendQuote(buf, key)
		buf = append(buf, ':')
		switch {
		case key == "event.duration":
			secs, _ := strconv.ParseFloat(string(f.Value), 64)
			buf = strconv.AppendInt(buf, int64(secs*1e9+0.5), 10)
		default:
			buf = append(buf, bytes.TrimSpace(f.Value)...)
		}
		if kind == "reload" && f.Key == "reload" {
			outcome := "success"
			if string(f.Value) == `"failed"` {
				outcome = "failure"
			}
			buf = append(buf, `,"event.outcome":`...)
			buf = strconv.AppendQuote(buf, outcome)
		}
	}
	return append(buf, '}', '\n')
}
