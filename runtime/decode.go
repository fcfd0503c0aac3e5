package runtime

import (
	"fmt"

	"github.com/hdrlog/hdrlog/compiler"
)

// Event is one decoded event.
type Event struct {
	BootNS   uint64 // CLOCK_BOOTTIME nanoseconds when the program ran
	Rule     int
	Ifindex  uint32
	FrameLen uint32
	Presence uint64
	// Values holds the logged fields in the rule's log order.
	Values []Value
}

// Value is one logged field of an event.
type Value struct {
	Slot    *compiler.FieldSlot
	Present bool
	U       uint64 // integers and booleans; for text, the value's length
	Bytes   []byte // addresses and text: a view into the event record, valid until the record is reused
	// Text: the event holds only the first Slot.MaxLen bytes of the value
	// (Truncated), or none of them (Redacted).
	Truncated, Redacted bool
}

// Decoder decodes raw ring-buffer records by a schema.
type Decoder struct {
	schema *compiler.Schema
}

// NewDecoder validates the schema and returns a decoder for it.
func NewDecoder(s *compiler.Schema) (*Decoder, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Decoder{schema: s}, nil
}

// Schema returns the decoder's schema.
func (d *Decoder) Schema() *compiler.Schema { return d.schema }

// Decode decodes one record into ev, reusing ev.Values. Byte slices in the
// values point into raw.
func (d *Decoder) Decode(raw []byte, ev *Event) error {
	bo := compiler.ByteOrder
	if len(raw) < compiler.HeaderSize {
		return fmt.Errorf("event of %d bytes is shorter than the %d-byte header", len(raw), compiler.HeaderSize)
	}
	rule := int(bo.Uint32(raw[compiler.EvRule:]))
	if rule < 0 || rule >= len(d.schema.Rules) {
		return fmt.Errorf("event names rule %d; the schema has %d rules", rule, len(d.schema.Rules))
	}
	rs := &d.schema.Rules[rule]
	if len(raw) < rs.EventSize {
		return fmt.Errorf("event of rule %s has %d bytes, want %d", rs.Name, len(raw), rs.EventSize)
	}
	ev.BootNS = bo.Uint64(raw[compiler.EvTime:])
	ev.Presence = bo.Uint64(raw[compiler.EvPresence:])
	ev.Rule = rule
	ev.Ifindex = bo.Uint32(raw[compiler.EvIfindex:])
	ev.FrameLen = bo.Uint32(raw[compiler.EvFrameLen:])
	n := len(rs.Fields)
	if cap(ev.Values) < n {
		ev.Values = make([]Value, n)
	}
	ev.Values = ev.Values[:n]
	for i := range rs.Fields {
		fs := &rs.Fields[i]
		v := &ev.Values[i]
		*v = Value{Slot: fs, Present: ev.Presence&(1<<fs.Fact) != 0}
		b := raw[fs.Offset : fs.Offset+fs.Size]
		switch fs.Render {
		case compiler.RenderText:
			decodeText(v, b)
			if fs.Field == "proc.args" && v.Present && !v.Redacted {
				v.Bytes = []byte(RedactArgs(v.Bytes)) // args.go
			}
		case compiler.RenderBytes:
			decodeBytes(v, b)
		case compiler.RenderUint, compiler.RenderHex, compiler.RenderBool, compiler.RenderInt, compiler.RenderErrno, compiler.RenderSeconds, compiler.RenderContainer:
			switch fs.Size {
			case 1:
				v.U = uint64(b[0])
			case 2:
				v.U = uint64(bo.Uint16(b))
			case 4:
				v.U = uint64(bo.Uint32(b))
			case 8:
				v.U = bo.Uint64(b)
			}
		default:
			v.Bytes = b
		}
	}
	return nil
}
