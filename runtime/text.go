package runtime

import (
	"strconv"
	"unicode/utf8"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// L7 strings in events and JSON lines.
//
// A string is written as a JSON string of its bytes: control characters
// escaped as JSON does (\n, \u0001), and each byte that is not valid UTF-8
// as the four characters \xNN, as Wireshark shows such bytes. So that the
// two cannot be confused, a backslash of the value is written as two: the
// byte 0xFF is `\xff` and the four characters \xff are `\\xff` once the
// JSON string is read (in the JSON text: "\\xff" and "\\\\xff"). Reading a
// value back is unambiguous: `\\` is a backslash, `\xNN` a byte. A value cut to
// its field's maximum length is followed by two members, "NAME.truncated":
// true and "NAME.len": its length in bytes; a redacted value is the string
// "[redacted]" followed by "NAME.len". In a masked URL (FieldSlot.MaskURL)
// each run of masked bytes is written "[redacted]" (rules/redact.go); its
// "NAME.len" stays the value's length. Absent values are null, with no
// other member.

// decodeText reads a text slot: length, flags, then the bytes it holds.
func decodeText(v *Value, b []byte) {
	n := int(compiler.ByteOrder.Uint16(b[0:2]))
	flags := b[2]
	v.Present = v.Present && flags&compiler.TextPresent != 0
	v.U = uint64(n)
	v.Truncated = flags&compiler.TextTruncated != 0
	v.Redacted = flags&compiler.TextRedacted != 0
	if v.Redacted {
		v.Bytes = nil
		return
	}
	v.Bytes = b[8 : 8+min(n, v.Slot.MaxLen)]
	if v.Slot.MaskURL {
		v.Bytes = rules.MaskedText(v.Bytes) // the kernel's masked bytes as [redacted]
	}
}

// decodeBytes decodes a byte field's slot (compiler.RenderBytes).
func decodeBytes(v *Value, b []byte) {
	n := int(compiler.ByteOrder.Uint32(b[4:8]))
	v.Present = v.Present && b[2]&compiler.TextPresent != 0
	v.U = uint64(n)
	v.Truncated = b[2]&compiler.TextTruncated != 0
	v.Bytes = b[8 : 8+min(n, v.Slot.MaxLen)]
}

// appendBytes renders a byte field as tshark's JSON does: hex pairs joined
// by ':'.
func appendBytes(buf []byte, v *Value) []byte {
	buf = append(buf, '"')
	for i, c := range v.Bytes {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(buf, '"')
}

// TextValue makes the value a kernel event would hold for a string of the
// field: cut to its maximum length, or redacted. The reference evaluator's
// full values go through it so that both print alike.
func TextValue(slot *compiler.FieldSlot, present bool, full []byte) Value {
	v := Value{Slot: slot, Present: present}
	if !present {
		return v
	}
	v.U = uint64(len(full))
	v.Redacted = slot.Redact
	v.Truncated = len(full) > slot.MaxLen
	if !v.Redacted {
		if slot.MaskURL {
			full = rules.MaskURL(full, slot.MaskQuery)
		}
		v.Bytes = full[:min(len(full), slot.MaxLen)]
		if slot.MaskURL {
			v.Bytes = rules.MaskedText(v.Bytes)
		}
	}
	return v
}

func appendText(buf []byte, v *Value) []byte {
	if v.Redacted {
		return append(buf, `"[redacted]"`...)
	}
	return AppendJSONString(buf, v.Bytes)
}

// appendTextMarks appends the truncation and length members of a text value.
func appendTextMarks(buf []byte, v *Value) []byte {
	if v.Slot.Render != compiler.RenderText && v.Slot.Render != compiler.RenderBytes || !v.Present || !v.Truncated && !v.Redacted {
		return buf
	}
	if v.Truncated && !v.Redacted {
		buf = append(buf, ',')
		buf = strconv.AppendQuote(buf, v.Slot.Name+".truncated")
		buf = append(buf, ":true"...)
	}
	buf = append(buf, ',')
	buf = strconv.AppendQuote(buf, v.Slot.Name+".len")
	buf = append(buf, ':')
	return strconv.AppendUint(buf, v.U, 10)
}

// AppendJSONString appends b as a JSON string (see the top of this file).
func AppendJSONString(buf []byte, b []byte) []byte {
	buf = append(buf, '"')
	for len(b) > 0 {
		c := b[0]
		switch {
		case c == '"':
			buf = append(buf, '\\', c)
		case c == '\\':
			buf = append(buf, `\\\\`...) // the value's backslash, escaped, in JSON
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c < 0x20 || c == 0x7f:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		case c < utf8.RuneSelf:
			buf = append(buf, c)
		default:
			r, size := utf8.DecodeRune(b)
			if r == utf8.RuneError && size <= 1 {
				buf = append(buf, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
				b = b[1:]
				continue
			}
			buf = append(buf, b[:size]...)
			b = b[size:]
			continue
		}
		b = b[1:]
	}
	return append(buf, '"')
}
