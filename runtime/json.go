package runtime

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Meta is what a JSON line says besides the fields: the event time as wall
// clock, interface and hook names, and (for replays) the frame number.
type Meta struct {
	Time  time.Time
	Iface string
	Frame int // 0: no frame member
	// Schema is the schema of the rule set the event comes from (rule
	// sets change on reload); nil where the format knows it already.
	Schema *compiler.Schema
}

const hexDigits = "0123456789abcdef"

// decimalBytes[b] is b in decimal: IPv4 addresses are four look-ups.
var decimalBytes = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// jsonKeys holds the pieces of a schema's JSON lines that never change,
// quoted once: per rule `","rule":"NAME","iface":`, per field `,"NAME":`.
type jsonKeys struct {
	rule   [][]byte
	hook   [][]byte
	fields [][][]byte
}

var keyCache sync.Map // *compiler.Schema -> *jsonKeys

func keysOf(s *compiler.Schema) *jsonKeys {
	if k, ok := keyCache.Load(s); ok {
		return k.(*jsonKeys)
	}
	k := &jsonKeys{}
	for _, r := range s.Rules {
		k.rule = append(k.rule, append(strconv.AppendQuote([]byte(`","rule":`), r.Name), `,"iface":`...))
		hook := strconv.AppendQuote([]byte(`,"hook":`), r.Hook)
		if r.Sample != 0 {
			// A sampled rule's events say the rate: each stands for
			// "sample" matches.
			hook = strconv.AppendUint(append(hook, `,"sample":`...), uint64(r.Sample), 10)
		}
		k.hook = append(k.hook, hook)
		var fs [][]byte
		for _, f := range r.Fields {
			fs = append(fs, append(strconv.AppendQuote([]byte(","), f.Name), ':'))
		}
		k.fields = append(k.fields, fs)
	}
	v, _ := keyCache.LoadOrStore(s, k)
	return v.(*jsonKeys)
}

// AppendJSON appends ev as one JSON object (no newline): time, rule, iface,
// hook, [frame,] then the logged fields by name, values as Wireshark prints
// them (absent fields are null).
func AppendJSON(buf []byte, s *compiler.Schema, ev *Event, m Meta) []byte {
	return appendJSON(buf, keysOf(s), ev, m)
}

func appendJSON(buf []byte, k *jsonKeys, ev *Event, m Meta) []byte {
	buf = append(buf, `{"time":"`...)
	buf = AppendTime(buf, m.Time)
	buf = append(buf, k.rule[ev.Rule]...)
	if m.Iface == "" {
		buf = append(buf, "null"...)
	} else {
		buf = appendString(buf, m.Iface)
	}
	buf = append(buf, k.hook[ev.Rule]...)
	if m.Frame > 0 {
		buf = append(buf, `,"frame":`...)
		buf = strconv.AppendInt(buf, int64(m.Frame), 10)
	}
	keys := k.fields[ev.Rule]
	for i := range ev.Values {
		v := &ev.Values[i]
		buf = append(buf, keys[i]...)
		buf = AppendValue(buf, v)
		if v.Slot.Render == compiler.RenderText || v.Slot.Render == compiler.RenderBytes {
			buf = appendTextMarks(buf, v)
		}
	}
	return append(buf, '}')
}

// appendString quotes s; interface names need no escapes, so the common case
// is a plain copy.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return strconv.AppendQuote(buf, s)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// AppendTime appends t in UTC as RFC 3339 with nine fractional digits
// (2026-11-25T16:49:15.123456789Z): fixed width, so lines sort and align.
// The date and time of day change once a second; they are rendered once
// and reused (events come in time order).
func AppendTime(buf []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(buf, "0001-01-01T00:00:00.000000000Z"...)
	}
	ns := t.UnixNano()
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	c := secondCache.Load()
	if c == nil || c.sec != sec {
		c = &renderedSecond{sec: sec, text: time.Unix(sec, 0).UTC().AppendFormat(nil, "2006-01-02T15:04:05.")}
		secondCache.Store(c)
	}
	buf = append(buf, c.text...)
	buf = appendDigits(buf, int(frac), 9)
	return append(buf, 'Z')
}

type renderedSecond struct {
	sec  int64
	text []byte
}

var secondCache atomic.Pointer[renderedSecond]

func appendDigits(buf []byte, v, width int) []byte {
	var tmp [9]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(buf, tmp[:width]...)
}

// AppendValue appends one value in JSON.
func AppendValue(buf []byte, v *Value) []byte {
	if !v.Present {
		return append(buf, "null"...)
	}
	switch v.Slot.Render {
	case compiler.RenderUint:
		return strconv.AppendUint(buf, v.U, 10)
	case compiler.RenderHex:
		buf = append(buf, '"', '0', 'x')
		for i := v.Slot.HexDigits - 1; i >= 0; i-- {
			buf = append(buf, hexDigits[(v.U>>(4*uint(i)))&0xf])
		}
		return append(buf, '"')
	case compiler.RenderBool:
		if v.U != 0 {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case compiler.RenderIPv4:
		buf = append(buf, '"')
		for i, c := range v.Bytes[:4] {
			if i > 0 {
				buf = append(buf, '.')
			}
			buf = append(buf, decimalBytes[c]...)
		}
		return append(buf, '"')
	case compiler.RenderIPv6:
		buf = append(buf, '"')
		buf = netip.AddrFrom16([16]byte(v.Bytes)).AppendTo(buf)
		return append(buf, '"')
	case compiler.RenderText:
		return appendText(buf, v)
	case compiler.RenderBytes:
		return appendBytes(buf, v)
	case compiler.RenderInt:
		return strconv.AppendInt(buf, int64(int32(uint32(v.U))), 10)
	case compiler.RenderErrno:
		return appendErrno(buf, int32(uint32(v.U)))
	case compiler.RenderContainer:
		return appendContainer(buf, v.U)
	case compiler.RenderSeconds:
		return rules.FormatMicros(buf, v.U)
	case compiler.RenderMAC:
		buf = append(buf, '"')
		for i, c := range v.Bytes {
			if i > 0 {
				buf = append(buf, ':')
			}
			buf = append(buf, hexDigits[c>>4], hexDigits[c&0xf])
		}
		return append(buf, '"')
	}
	return append(buf, "null"...)
}
