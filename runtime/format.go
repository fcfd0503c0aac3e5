package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
)

// LineFormat renders events, and reports of lost events, as lines of text.
// The stream and the replay write whatever format they are given; JSON lines
// (JSONLines) are the default, other formats live in package output.
type LineFormat interface {
	// AppendEvent appends one event as one line, newline included.
	AppendEvent(buf []byte, ev *Event, m Meta) []byte
	// AppendLost appends one line saying that events were lost.
	AppendLost(buf []byte, r LostReport) []byte
}

// LostReport says how many events each rule lost since the previous report.
type LostReport struct {
	Time   time.Time
	Rules  []string // names of the rules that lost events
	Counts []uint64 // per entry of Rules: lost since the previous report
	Reason string   // why: LostRingFull, or another LostReason
	Total  uint64   // every event lost since the collection was loaded, for every reason
}

// Reasons an event is lost (the reason label of the lost-event metric).
const (
	LostRingFull = "ring_full" // the kernel could not reserve room in the ring buffer
)

// JSONLines returns the JSON-lines format of a schema: one object per event
// (AppendJSON), and for lost events
//
//	{"time":"…","lost":{"new_tcp":12},"total_lost":40}
//
// plus "reason" when the events were lost for another reason than a full
// ring buffer.
func JSONLines(s *compiler.Schema) LineFormat { return jsonLines{keysOf(s)} }

type jsonLines struct{ keys *jsonKeys }

func (j jsonLines) AppendEvent(buf []byte, ev *Event, m Meta) []byte {
	return append(appendJSON(buf, j.keys, ev, m), '\n')
}

func (jsonLines) AppendLost(buf []byte, r LostReport) []byte { return AppendLostJSON(buf, r) }

// AppendLostJSON appends a lost-event report as a JSON line.
func AppendLostJSON(buf []byte, r LostReport) []byte {
	buf = append(buf, `{"time":"`...)
	buf = AppendTime(buf, r.Time)
	buf = append(buf, `","lost":{`...)
	for i, name := range r.Rules {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, name)
		buf = append(buf, ':')
		buf = strconv.AppendUint(buf, r.Counts[i], 10)
	}
	buf = append(buf, `},"total_lost":`...)
	buf = strconv.AppendUint(buf, r.Total, 10)
	if r.Reason != "" && r.Reason != LostRingFull {
		buf = append(buf, `,"reason":`...)
		buf = strconv.AppendQuote(buf, r.Reason)
	}
	return append(buf, "}\n"...)
}

// LostNotice says in words what a report of events lost after the stream
// (by an export) holds, for standard error.
func LostNotice(r LostReport) string {
	var n uint64
	var parts []string
	for i, name := range r.Rules {
		n += r.Counts[i]
		parts = append(parts, fmt.Sprintf("%s %d", name, r.Counts[i]))
	}
	return fmt.Sprintf("%d events lost, %s (%s)", n, r.Reason, strings.Join(parts, ", "))
}
