package output

import (
	"strconv"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/runtime"
)

// Text is the human format of `--format text`: one line per event, like
// tcpdump -n, with the columns aligned:
//
//	16:49:15.123456 eth0 tc ingress ssh   10.0.0.1.40000 > 10.0.0.2.22: tcp.flags=0x0002 frame.len=74
//
// time of day (local, microseconds), interface, hook, rule, then the
// endpoints when the rule logs addresses (address.port, as tcpdump writes
// them), then every other present field as name=value. Absent fields are
// left out; strings are quoted as in JSON, so a line never holds a control
// character.
type Text struct {
	rules      []textRule
	ifaceWidth int
	hookWidth  int
	ruleWidth  int
	loc        *time.Location
}

// textRule is where a rule's endpoint fields are among its logged values
// (-1: not logged).
type textRule struct {
	name, hook                         string
	srcAddr, dstAddr, srcPort, dstPort []int
	endpoint                           []bool // per value: printed in the endpoints
}

// endpointFields name the fields the endpoints are made of, in order of
// preference: the first present one is printed.
var endpointFields = struct{ srcAddr, dstAddr, srcPort, dstPort []string }{
	srcAddr: []string{"ip.src", "ipv6.src"},
	dstAddr: []string{"ip.dst", "ipv6.dst"},
	srcPort: []string{"tcp.srcport", "udp.srcport"},
	dstPort: []string{"tcp.dstport", "udp.dstport"},
}

// NewText returns the text format of a schema; ifaces are the interface
// names expected, to align the column (longer ones are written whole).
func NewText(s *compiler.Schema, ifaces []string) *Text {
	t := &Text{loc: time.Local}
	for _, n := range ifaces {
		t.ifaceWidth = max(t.ifaceWidth, len(n))
	}
	for _, r := range s.Rules {
		tr := textRule{name: r.Name, hook: r.Hook, endpoint: make([]bool, len(r.Fields))}
		pick := func(names []string) []int {
			var idx []int
			for _, n := range names {
				for i, f := range r.Fields {
					if f.Name == n {
						idx = append(idx, i)
						tr.endpoint[i] = true
					}
				}
			}
			return idx
		}
		tr.srcAddr, tr.dstAddr = pick(endpointFields.srcAddr), pick(endpointFields.dstAddr)
		tr.srcPort, tr.dstPort = pick(endpointFields.srcPort), pick(endpointFields.dstPort)
		t.rules = append(t.rules, tr)
		t.hookWidth = max(t.hookWidth, len(r.Hook))
		t.ruleWidth = max(t.ruleWidth, len(r.Name))
	}
	return t
}

// InLocation makes the format write times in loc (tests use UTC).
func (t *Text) InLocation(loc *time.Location) *Text {
	t.loc = loc
	return t
}

func pad(buf []byte, s string, width int) []byte {
	buf = append(buf, s...)
	for n := len(s); n < width; n++ {
		buf = append(buf, ' ')
	}
	return buf
}

// AppendEvent appends one event as a line.
func (t *Text) AppendEvent(buf []byte, ev *runtime.Event, m runtime.Meta) []byte {
	r := &t.rules[ev.Rule]
	buf = m.Time.In(t.loc).AppendFormat(buf, "15:04:05.000000")
	buf = append(buf, ' ')
	if m.Frame > 0 {
		buf = append(buf, '#')
		buf = strconv.AppendInt(buf, int64(m.Frame), 10)
		buf = append(buf, ' ')
	}
	if m.Iface != "" || t.ifaceWidth > 0 { // replays of pcap files have none
		buf = pad(buf, m.Iface, t.ifaceWidth)
		buf = append(buf, ' ')
	}
	buf = pad(buf, r.hook, t.hookWidth)
	buf = append(buf, ' ')
	buf = pad(buf, r.name, t.ruleWidth)
	src, dst := first(ev, r.srcAddr), first(ev, r.dstAddr)
	sep := " "
	if src != nil || dst != nil {
		buf = append(buf, ' ')
		buf = appendEndpoint(buf, src, first(ev, r.srcPort))
		buf = append(buf, " > "...)
		buf = appendEndpoint(buf, dst, first(ev, r.dstPort))
		buf = append(buf, ':')
	}
	for i := range ev.Values {
		v := &ev.Values[i]
		if !v.Present || r.endpoint[i] && (src != nil || dst != nil) {
			continue
		}
		buf = append(buf, sep...)
		buf = append(buf, v.Slot.Name...)
		buf = append(buf, '=')
		buf = appendTextValue(buf, v)
	}
	return append(buf, '\n')
}

// first returns the first present value among the indexes.
func first(ev *runtime.Event, idx []int) *runtime.Value {
	for _, i := range idx {
		if ev.Values[i].Present {
			return &ev.Values[i]
		}
	}
	return nil
}

func appendEndpoint(buf []byte, addr, port *runtime.Value) []byte {
	if addr == nil {
		buf = append(buf, '?')
	} else {
		buf = appendTextValue(buf, addr)
	}
	if port != nil {
		buf = append(buf, '.')
		buf = strconv.AppendUint(buf, port.U, 10)
	}
	return buf
}

// appendTextValue writes a value as JSON does, without the quotes around
// addresses and hex numbers (strings keep theirs: they may hold spaces).
func appendTextValue(buf []byte, v *runtime.Value) []byte {
	start := len(buf)
	buf = runtime.AppendValue(buf, v)
	if v.Slot.Render == compiler.RenderText || len(buf)-start < 2 || buf[start] != '"' {
		return buf
	}
	n := copy(buf[start:], buf[start+1:len(buf)-1])
	return buf[:start+n]
}

// AppendLost appends a lost-event report as a line.
func (t *Text) AppendLost(buf []byte, r runtime.LostReport) []byte {
	buf = r.Time.In(t.loc).AppendFormat(buf, "15:04:05.000000")
	buf = append(buf, " LOST "...)
	buf = append(buf, r.Reason...)
	for i, name := range r.Rules {
		buf = append(buf, ' ')
		buf = append(buf, name...)
		buf = append(buf, '=')
		buf = strconv.AppendUint(buf, r.Counts[i], 10)
	}
	buf = append(buf, " ("...)
	buf = strconv.AppendUint(buf, r.Total, 10)
	return append(buf, " lost in all)\n"...)
}

// AppendCount appends a counting rule's record for one key as a line (the
// time is the interval's end):
//
//	16:49:20.000000 COUNT top_talkers since 16:49:10.000000 ip.src=10.0.0.7 tcp.dstport=443 count=1200 bytes=1650000
//
// Key fields absent from the key's packets are left out, as in events.
func (t *Text) AppendCount(buf []byte, r *runtime.CountRecord) []byte {
	buf = r.End.In(t.loc).AppendFormat(buf, "15:04:05.000000")
	buf = append(buf, " COUNT "...)
	buf = append(buf, r.Name...)
	buf = append(buf, " since "...)
	buf = r.Start.In(t.loc).AppendFormat(buf, "15:04:05.000000")
	for i := range r.Values {
		v := &r.Values[i]
		if !v.Present {
			continue
		}
		buf = append(buf, ' ')
		buf = append(buf, v.Slot.Name...)
		buf = append(buf, '=')
		buf = appendTextValue(buf, v)
	}
	buf = append(buf, " count="...)
	buf = strconv.AppendUint(buf, r.Count, 10)
	if r.SumLen {
		buf = append(buf, " bytes="...)
		buf = strconv.AppendUint(buf, r.Bytes, 10)
	}
	return append(buf, '\n')
}
