package runtime

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
)

// Meta is what a JSON line says besides the fields: the event time as wall
// clock, interface and hook names, and (for replays) the frame number.
type Meta struct {
	Time  time.Time
	Iface string
	Frame int // 0: no frame member
}

const hexDigits = "0123456789abcdef"

// AppendJSON appends ev as one JSON object (no newline): time, rule, iface,
// hook, [frame,] then the logged fields by name, values as Wireshark prints
// them (absent fields are null).
func AppendJSON(buf []byte, s *compiler.Schema, ev *Event, m Meta) []byte {
	rs := &s.Rules[ev.Rule]
	buf = append(buf, `{"time":"`...)
	buf = m.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","rule":`...)
	buf = strconv.AppendQuote(buf, rs.Name)
	buf = append(buf, `,"iface":`...)
	buf = strconv.AppendQuote(buf, m.Iface)
	buf = append(buf, `,"hook":"`...)
	buf = append(buf, rs.Hook...)
	buf = append(buf, '"')
	if m.Frame > 0 {
		buf = append(buf, `,"frame":`...)
		buf = strconv.AppendInt(buf, int64(m.Frame), 10)
	}
	for i := range ev.Values {
		v := &ev.Values[i]
		buf = append(buf, ',')
		buf = strconv.AppendQuote(buf, v.Slot.Name)
		buf = append(buf, ':')
		buf = AppendValue(buf, v)
	}
	return append(buf, '}')
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
		buf = netip.AddrFrom4([4]byte(v.Bytes)).AppendTo(buf)
		return append(buf, '"')
	case compiler.RenderIPv6:
		buf = append(buf, '"')
		buf = netip.AddrFrom16([16]byte(v.Bytes)).AppendTo(buf)
		return append(buf, '"')
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
