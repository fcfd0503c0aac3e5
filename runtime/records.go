package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Records are lines that other parts of hdrlog (the interface watcher, the
// reloader) put into the event stream: what happened to the sensor itself,
// in the same stream as what it saw, so that a gap in the events can be
// told from a quiet network. They have no "rule" key; an "interface" or a
// "reload" key says what they are about. The stream writes them after its
// next poll.
type Records struct {
	mu  sync.Mutex
	buf []byte
}

// Add queues one record: the JSON object fields after "time", without
// braces (`"interface":"eth0","event":"gone"`).
func (r *Records) Add(fields string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.buf = append(r.buf, `{"time":"`...)
	r.buf = AppendTime(r.buf, time.Now())
	r.buf = append(r.buf, `",`...)
	r.buf = append(r.buf, fields...)
	r.buf = append(r.buf, "}\n"...)
	r.mu.Unlock()
}

// appendTo moves the queued records to dst, as JSON lines, or rendered by
// format when it is a RecordFormat.
func (r *Records) appendTo(dst []byte, format LineFormat) []byte {
	if r == nil {
		return dst
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rf, ok := format.(RecordFormat)
	if !ok {
		dst = append(dst, r.buf...)
		r.buf = r.buf[:0]
		return dst
	}
	for line := range bytes.Lines(r.buf) {
		rec, err := ParseRecord(line)
		if err != nil {
			dst = append(dst, line...) // cannot happen: Add writes them
			continue
		}
		dst = rf.AppendRecord(dst, rec)
	}
	r.buf = r.buf[:0]
	return dst
}

// RecordFormat is a LineFormat that renders the stream's records itself
// (the text format, ECS); other formats write them as JSON lines.
type RecordFormat interface {
	// AppendRecord appends one record as one line, newline included.
	AppendRecord(buf []byte, r Record) []byte
}

// Record is one record of the stream: its time, then its members in order,
// the first saying what it is about ("interface", "reload").
type Record struct {
	Time   time.Time
	Fields []RecordField
}

// RecordField is a member of a record, its value as JSON.
type RecordField struct {
	Key   string
	Value json.RawMessage
}

// Kind is the key of the record's first member ("interface", "reload").
func (r Record) Kind() string {
	if len(r.Fields) == 0 {
		return ""
	}
	return r.Fields[0].Key
}

// ParseRecord reads a record's JSON line, keeping the order of its members.
func ParseRecord(line []byte) (Record, error) {
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return rec, fmt.Errorf("record %q: not a JSON object", line)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return rec, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return rec, err
		}
		if key == "time" {
			var ts string
			if err := json.Unmarshal(v, &ts); err != nil {
				return rec, err
			}
			if rec.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				return rec, err
			}
			continue
		}
		rec.Fields = append(rec.Fields, RecordField{Key: key, Value: v})
	}
	return rec, nil
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
