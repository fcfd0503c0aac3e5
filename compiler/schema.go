package compiler

import (
	"encoding/binary"
	"fmt"

	"github.com/hdrlog/hdrlog/rules"
)

// Event header layout. Integers in the header and in fields are in the host's
// byte order (NativeEndian); addresses keep network byte order.
const (
	EvTime       = 0  // u64: CLOCK_BOOTTIME nanoseconds
	EvPresence   = 8  // u64: bitmap of facts (Fact*) true for the packet
	EvRule       = 16 // u32: rule index
	EvIfindex    = 20 // u32: interface index
	EvFrameLen   = 24 // u32: frame length on the wire
	EvGeneration = 28 // u32: Options.Generation, the rule set's number (reloads)
	HeaderSize   = 32
)

// ByteOrder is the order of integers in events: the host's.
var ByteOrder = binary.NativeEndian

// Render says how a field's bytes in an event become a value.
type Render string

const (
	RenderUint Render = "uint" // unsigned integer, rendered in decimal
	RenderHex  Render = "hex"  // unsigned integer, rendered 0x%0*x (HexDigits)
	RenderBool Render = "bool" // one byte, 0 or 1
	RenderIPv4 Render = "ipv4" // 4 bytes, network order
	RenderIPv6 Render = "ipv6" // 16 bytes, network order
	RenderMAC  Render = "mac"  // 6 bytes
	// RenderText is an L7 string: u16 length of the value, u8 flags
	// (TextPresent, TextTruncated, TextRedacted), 5 zero bytes, then
	// MaxLen bytes of which min(length, MaxLen) are the value's (none when
	// redacted) and the rest zero.
	RenderText Render = "text"
	// RenderBytes is a byte field (tcp.payload): u8 flags at 2
	// (TextPresent, TextTruncated), u32 length of the value at 4, then
	// MaxLen bytes of which min(length, MaxLen) are the value's and the
	// rest zero. Rendered as hex pairs joined by ':', as tshark's JSON
	// shows bytes.
	RenderBytes Render = "bytes"
	// RenderInt is a signed integer, 4 bytes (a system call's return value).
	RenderInt Render = "int"
	// RenderSeconds is a time interval, u32 microseconds, rendered as
	// seconds with six decimals (rules.BaseSeconds).
	RenderSeconds Render = "seconds"
	// RenderErrno is a system call's return value, 4 bytes, signed, shown
	// as Falco's evt.res: SUCCESS, or the error's name (ECONNREFUSED).
	RenderErrno Render = "errno"
	// RenderContainer is container.id: 8 bytes of cgroup id, whose
	// cgroup's path names the container (runtime/container.go).
	RenderContainer Render = "container"
)

// Schema describes every event the programs of one compilation emit.
type Schema struct {
	HeaderSize int          `json:"header_size"`
	Rules      []RuleSchema `json:"rules"` // indexed by rule index
	// AggKeySize is the size of every count key (volume.go); 0 when no
	// rule counts.
	AggKeySize int `json:"agg_key_size,omitempty"`
}

// RuleSchema is the layout of one rule's events.
type RuleSchema struct {
	Index     int         `json:"index"`
	Name      string      `json:"name"`
	Hook      string      `json:"hook"`
	EventSize int         `json:"event_size"`
	Fields    []FieldSlot `json:"fields"`
	// Count is set for a counting rule: its "events" are count keys,
	// laid out as events are from HeaderSize on (volume.go).
	Count *CountSchema `json:"count,omitempty"`
	// Sample is N of the rule's `sample 1/N` (0: none); events carry it.
	Sample       uint32 `json:"sample,omitempty"`
	SampleByFlow bool   `json:"sample_by_flow,omitempty"`
	// Limit is the rule's `limit R/s` (0: none).
	Limit uint32 `json:"limit,omitempty"`
}

// Volume reports whether the rule counts, samples or limits: not every
// match is an event.
func (r *RuleSchema) Volume() bool { return r.Count != nil || r.Sample != 0 || r.Limit != 0 }

// FieldSlot is one logged field inside an event: Size bytes at Offset, present
// when bit Fact of the event's presence bitmap is set.
type FieldSlot struct {
	Name      string `json:"name"`  // output member name, as written in the rule
	Field     string `json:"field"` // catalogue name
	Render    Render `json:"render"`
	HexDigits int    `json:"hex_digits,omitempty"`
	Offset    int    `json:"offset"`
	Size      int    `json:"size"`
	Fact      int    `json:"fact"`
	MaxLen    int    `json:"max_len,omitempty"` // RenderText: bytes of the value an event holds
	Redact    bool   `json:"redact,omitempty"`  // RenderText: the event holds the length only
	// RenderText: the kernel masked the value's userinfo and the values of
	// the query parameters whose name hashes are MaskQuery with
	// rules.MaskByte (rules/redact.go); the output writes "[redacted]".
	MaskURL   bool     `json:"mask_url,omitempty"`
	MaskQuery []uint32 `json:"mask_query,omitempty"`
}

// Validate checks the schema's internal consistency (offsets inside events,
// sizes matching renderings); the runtime calls it before decoding.
func (s *Schema) Validate() error {
	if s.HeaderSize != HeaderSize {
		return fmt.Errorf("schema: header size %d, want %d", s.HeaderSize, HeaderSize)
	}
	for i, r := range s.Rules {
		if r.Index != i {
			return fmt.Errorf("schema: rule %q has index %d at position %d", r.Name, r.Index, i)
		}
		for _, f := range r.Fields {
			if f.Offset < HeaderSize || f.Offset+f.Size > r.EventSize {
				return fmt.Errorf("schema: rule %q field %s at %d+%d outside event of %d bytes", r.Name, f.Name, f.Offset, f.Size, r.EventSize)
			}
			if f.Fact < 0 || f.Fact > 63 {
				return fmt.Errorf("schema: rule %q field %s has fact %d", r.Name, f.Name, f.Fact)
			}
			if f.Render == RenderText || f.Render == RenderBytes {
				if f.MaxLen < 1 || f.Size != textSlotSize(f.MaxLen) {
					return fmt.Errorf("schema: rule %q field %s: size %d does not hold %d bytes of text", r.Name, f.Name, f.Size, f.MaxLen)
				}
				continue
			}
			want := map[Render][]int{RenderUint: {1, 2, 4, 8}, RenderHex: {1, 2, 4}, RenderBool: {1}, RenderIPv4: {4}, RenderIPv6: {16}, RenderMAC: {6}, RenderInt: {4}, RenderErrno: {4}, RenderSeconds: {4}, RenderContainer: {8}}[f.Render]
			ok := false
			for _, w := range want {
				ok = ok || w == f.Size
			}
			if !ok {
				return fmt.Errorf("schema: rule %q field %s: size %d does not fit rendering %s", r.Name, f.Name, f.Size, f.Render)
			}
		}
	}
	return nil
}

// Facts: bits of the presence bitmap, one per thing a packet may or may not
// have. A field is present when its fact is. They are numbered by the header
// table (rules/headers.go); these are their names in the compiler.
const (
	FactFrame        = rules.FactFrame
	FactEth          = rules.FactEth
	FactEthType      = rules.FactEthType
	FactVLAN1        = rules.FactVLAN1
	FactVLAN2        = rules.FactVLAN2
	FactIPv4         = rules.FactIPv4
	FactIPv6         = rules.FactIPv6
	FactTCP          = rules.FactTCP
	FactUDP          = rules.FactUDP
	FactICMP         = rules.FactICMP
	FactICMPv6       = rules.FactICMPv6
	FactTCPLen       = rules.FactTCPLen
	FactHTTP         = rules.FactHTTP
	FactHTTPRequest  = rules.FactHTTPRequest
	FactDNS          = rules.FactDNS
	FactDNSQuery     = rules.FactDNSQuery
	FactTLS          = rules.FactTLS
	FactTLSHandshake = rules.FactTLSHandshake
	FactTLSHello     = rules.FactTLSHello
	FactDNSResponse  = rules.FactDNSResponse
	FactDNSProto     = rules.FactDNSProto
	FactMDNS         = rules.FactMDNS
	FactLLMNR        = rules.FactLLMNR
	FactHTTPResponse = rules.FactHTTPResponse
	FactHTTPTx       = rules.FactHTTPTx
	FactDNSA         = rules.FactDNSA
	FactDNSAAAA      = rules.FactDNSAAAA
	FactDNSTTL       = rules.FactDNSTTL
	FactTLSCipher    = rules.FactTLSCipher
	FactTLSSupVer    = rules.FactTLSSupVer
	FactDNSTx        = rules.FactDNSTx
	FactTLSTx        = rules.FactTLSTx
	FactHTTPLimit    = rules.FactHTTPLimit
	FactDNSLimit     = rules.FactDNSLimit
	FactTLSLimit     = rules.FactTLSLimit
)

// FactOf returns the fact that tells whether a field occurrence is present.
func FactOf(ref rules.FieldRef) int {
	if ref.Field.Header.IsL7() {
		return l7Fact(ref)
	}
	return rules.FieldFact(ref.Field, ref.Layer)
}

// renderOf gives a field's rendering and its size in events.
func renderOf(f *rules.Field) (Render, int, int) {
	if r, ok := syscallRender[f.Name]; ok {
		return r, 4, 0
	}
	switch f.Type {
	case rules.TypeBool:
		return RenderBool, 1, 0
	case rules.TypeIPv4:
		return RenderIPv4, 4, 0
	case rules.TypeIPv6:
		return RenderIPv6, 16, 0
	case rules.TypeMAC:
		return RenderMAC, 6, 0
	}
	size := 4
	switch {
	case f.Bits > 32:
		size = 8
	case f.Bits <= 8:
		size = 1
	case f.Bits <= 16:
		size = 2
	}
	switch f.Base {
	case rules.BaseHex:
		return RenderHex, size, (f.Bits + 3) / 4
	case rules.BaseSeconds:
		return RenderSeconds, size, 0
	}
	return RenderUint, size, 0
}
