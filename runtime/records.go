package runtime

import (
	"encoding/json"
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

// appendTo moves the queued records to dst.
func (r *Records) appendTo(dst []byte) []byte {
	if r == nil {
		return dst
	}
	r.mu.Lock()
	dst = append(dst, r.buf...)
	r.buf = r.buf[:0]
	r.mu.Unlock()
	return dst
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
