package output

import (
	"strconv"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/runtime"
)

// Attr is one named value of an event: what a JSON member or an OTLP log
// attribute is made of. Absent fields give no Attr.
type Attr struct {
	Key  string
	Kind AttrKind
	S    string
	I    int64
	B    bool
}

// AttrKind is the type of an Attr's value.
type AttrKind uint8

const (
	AttrString AttrKind = iota
	AttrInt
	AttrBool
)

// Naming turns an event into attributes, in the names of a schema:
// Wireshark's (the JSON lines' own) or the Elastic Common Schema's.
type Naming interface {
	// Attrs appends the event's attributes (not its time) to dst.
	Attrs(dst []Attr, ev *runtime.Event, m runtime.Meta) []Attr
	// TimeKey is the name of the time member in JSON ("time", "@timestamp").
	TimeKey() string
}

// Namings are the values of --schema.
var Namings = map[string]func(*compiler.Schema) Naming{
	"wireshark": NewWireshark,
	"ecs":       NewECS,
}

// Wireshark names attributes as the JSON lines do: rule, iface, hook,
// frame, then the fields by their Wireshark names.
type Wireshark struct{ schema *compiler.Schema }

// NewWireshark returns the Wireshark naming of a schema's events.
func NewWireshark(s *compiler.Schema) Naming { return Wireshark{s} }

func (Wireshark) TimeKey() string { return "time" }

func (w Wireshark) Attrs(dst []Attr, ev *runtime.Event, m runtime.Meta) []Attr {
	rs := ev.Values
	rule := &w.schema.Rules[ev.Rule]
	dst = append(dst, Attr{Key: "rule", S: rule.Name})
	if m.Iface != "" { // as JSON's null: a replayed capture may name none
		dst = append(dst, Attr{Key: "iface", S: m.Iface})
	}
	dst = append(dst, Attr{Key: "hook", S: rule.Hook})
	if m.Frame > 0 {
		dst = append(dst, Attr{Key: "frame", Kind: AttrInt, I: int64(m.Frame)})
	}
	for i := range rs {
		if a, ok := valueAttr(rs[i].Slot.Name, &rs[i]); ok {
			dst = append(dst, a)
		}
	}
	return dst
}

// CountAttrs appends the attributes of a counting rule's record: rule,
// hook, start (the interval's beginning, RFC 3339 in UTC), the key fields
// present by name, count, and bytes when the rule sums frame.len; as the
// JSON line's members (runtime.AppendCountJSON), absent key fields left
// out.
func CountAttrs(dst []Attr, r *runtime.CountRecord, hook string) []Attr {
	dst = append(dst, Attr{Key: "rule", S: r.Name})
	if hook != "" {
		dst = append(dst, Attr{Key: "hook", S: hook})
	}
	dst = append(dst, Attr{Key: "start", S: string(runtime.AppendTime(nil, r.Start))})
	for i := range r.Values {
		if a, ok := valueAttr(r.Values[i].Slot.Name, &r.Values[i]); ok {
			dst = append(dst, a)
		}
	}
	dst = append(dst, Attr{Key: "count", Kind: AttrInt, I: int64(r.Count)})
	if r.SumLen {
		dst = append(dst, Attr{Key: "bytes", Kind: AttrInt, I: int64(r.Bytes)})
	}
	return dst
}

// valueAttr turns a present value into an attribute named key: integers as
// integers, booleans as booleans, everything else as the string JSON
// writes (without quotes).
func valueAttr(key string, v *runtime.Value) (Attr, bool) {
	if !v.Present {
		return Attr{}, false
	}
	switch v.Slot.Render {
	case compiler.RenderUint:
		return Attr{Key: key, Kind: AttrInt, I: int64(v.U)}, true
	case compiler.RenderBool:
		return Attr{Key: key, Kind: AttrBool, B: v.U != 0}, true
	case compiler.RenderText:
		if v.Redacted {
			return Attr{Key: key, S: "[redacted]"}, true
		}
		return Attr{Key: key, S: string(v.Bytes)}, true
	}
	return Attr{Key: key, S: string(appendTextValue(nil, v))}, true
}

// AttrsJSON is a line format writing a Naming's attributes as a JSON
// object: the time first, then the attributes in order, each key once.
type AttrsJSON struct {
	naming Naming
	attrs  []Attr
}

// NewAttrsJSON returns the JSON-lines format of a naming.
func NewAttrsJSON(n Naming) *AttrsJSON { return &AttrsJSON{naming: n} }

func (j *AttrsJSON) AppendEvent(buf []byte, ev *runtime.Event, m runtime.Meta) []byte {
	j.attrs = j.naming.Attrs(j.attrs[:0], ev, m)
	buf = append(buf, '{')
	buf = strconv.AppendQuote(buf, j.naming.TimeKey())
	buf = append(buf, ':', '"')
	buf = runtime.AppendTime(buf, m.Time)
	buf = append(buf, '"')
	for i := range j.attrs {
		a := &j.attrs[i]
		buf = append(buf, ',')
		buf = strconv.AppendQuote(buf, a.Key)
		buf = append(buf, ':')
		switch a.Kind {
		case AttrInt:
			buf = strconv.AppendInt(buf, a.I, 10)
		case AttrBool:
			buf = strconv.AppendBool(buf, a.B)
		default:
			buf = runtime.AppendJSONString(buf, []byte(a.S))
		}
	}
	return append(buf, '}', '\n')
}

func (j *AttrsJSON) AppendLost(buf []byte, r runtime.LostReport) []byte {
	if j.naming.TimeKey() == "time" {
		return runtime.AppendLostJSON(buf, r)
	}
	// ECS: the report is an event of its own kind.
	buf = append(buf, `{"@timestamp":"`...)
	buf = runtime.AppendTime(buf, r.Time)
	buf = append(buf, `","event.kind":"metric","event.module":"hdrlog","event.dataset":"hdrlog.lost","event.reason":`...)
	buf = strconv.AppendQuote(buf, r.Reason)
	buf = append(buf, `,"hdrlog.lost":{`...)
	for i, name := range r.Rules {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, name)
		buf = append(buf, ':')
		buf = strconv.AppendUint(buf, r.Counts[i], 10)
	}
	buf = append(buf, `},"hdrlog.total_lost":`...)
	buf = strconv.AppendUint(buf, r.Total, 10)
	return append(buf, "}\n"...)
}
