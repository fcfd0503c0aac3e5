package otlp

import (
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hdrlog/hdrlog/output"
)

// The OTLP protobuf messages, encoded by hand from
// opentelemetry/proto/{collector/logs,logs,resource,common}/v1/*.proto:
// only the fields hdrlog sets. A record is encoded once, when its event
// comes, into the bytes it keeps in the request; TestEncodingDecodes reads
// requests back with the generated types of go.opentelemetry.io/proto/otlp.
const (
	// ExportLogsServiceRequest
	reqResourceLogs protowire.Number = 1
	// ResourceLogs
	rlResource  protowire.Number = 1
	rlScopeLogs protowire.Number = 2
	rlSchemaURL protowire.Number = 3
	// Resource
	resAttributes protowire.Number = 1
	// ScopeLogs
	slScope      protowire.Number = 1
	slLogRecords protowire.Number = 2
	// InstrumentationScope
	scopeName protowire.Number = 1
	// LogRecord
	lrTime           protowire.Number = 1
	lrSeverityNumber protowire.Number = 2
	lrBody           protowire.Number = 5
	lrAttributes     protowire.Number = 6
	lrObservedTime   protowire.Number = 11
	lrEventName      protowire.Number = 12
	// KeyValue
	kvKey   protowire.Number = 1
	kvValue protowire.Number = 2
	// AnyValue
	avString protowire.Number = 1
	avBool   protowire.Number = 2
	avInt    protowire.Number = 3
	avDouble protowire.Number = 4

	severityInfo = 9 // SEVERITY_NUMBER_INFO
	eventName    = "hdrlog.event"
	countName    = "hdrlog.count" // a counting rule's record (count by)
)

// requestHead is what every request has before its records: the resource
// and the scope, encoded once.
type requestHead struct {
	resource  []byte // the Resource message
	scope     []byte // the InstrumentationScope message
	schemaURL string
}

func newRequestHead(res *resource.Resource, scope string) requestHead {
	h := requestHead{schemaURL: res.SchemaURL()}
	for _, kv := range res.Attributes() {
		h.resource = appendResourceAttr(h.resource, kv)
	}
	h.scope = protowire.AppendTag(h.scope, scopeName, protowire.BytesType)
	h.scope = protowire.AppendString(h.scope, scope)
	return h
}

// appendResourceAttr appends a resource attribute (the resource package's
// types: strings, booleans, integers, floats; the rest as their text).
func appendResourceAttr(b []byte, kv attribute.KeyValue) []byte {
	var v []byte
	switch kv.Value.Type() {
	case attribute.BOOL:
		v = appendBoolValue(v, kv.Value.AsBool())
	case attribute.INT64:
		v = appendIntValue(v, kv.Value.AsInt64())
	case attribute.FLOAT64:
		v = protowire.AppendTag(v, avDouble, protowire.Fixed64Type)
		v = protowire.AppendFixed64(v, math.Float64bits(kv.Value.AsFloat64()))
	default:
		v = appendStringValue(v, kv.Value.Emit())
	}
	b = protowire.AppendTag(b, resAttributes, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(kvKey)+protowire.SizeBytes(len(kv.Key))+protowire.SizeTag(kvValue)+protowire.SizeBytes(len(v))))
	b = protowire.AppendTag(b, kvKey, protowire.BytesType)
	b = protowire.AppendString(b, string(kv.Key))
	b = protowire.AppendTag(b, kvValue, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendRequest appends an ExportLogsServiceRequest of one resource and one
// scope holding records (LogRecord fields of a ScopeLogs, appendLogRecord).
func (h *requestHead) appendRequest(b, records []byte) []byte {
	scopeLogs := protowire.SizeTag(slScope) + protowire.SizeBytes(len(h.scope)) + len(records)
	resLogs := protowire.SizeTag(rlResource) + protowire.SizeBytes(len(h.resource)) +
		protowire.SizeTag(rlScopeLogs) + protowire.SizeBytes(scopeLogs)
	if h.schemaURL != "" {
		resLogs += protowire.SizeTag(rlSchemaURL) + protowire.SizeBytes(len(h.schemaURL))
	}
	b = protowire.AppendTag(b, reqResourceLogs, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resLogs))
	b = protowire.AppendTag(b, rlResource, protowire.BytesType)
	b = protowire.AppendBytes(b, h.resource)
	b = protowire.AppendTag(b, rlScopeLogs, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(scopeLogs))
	b = protowire.AppendTag(b, slScope, protowire.BytesType)
	b = protowire.AppendBytes(b, h.scope)
	b = append(b, records...)
	if h.schemaURL != "" {
		b = protowire.AppendTag(b, rlSchemaURL, protowire.BytesType)
		b = protowire.AppendString(b, h.schemaURL)
	}
	return b
}

// appendLogRecord appends one event as the log_records field of a
// ScopeLogs: its time, the time it was observed, severity INFO, the rule
// name as body, the event name, and its attributes.
func appendLogRecord(b []byte, t, observed time.Time, rule, name string, attrs []output.Attr) []byte {
	size := protowire.SizeTag(lrTime) + 8 + protowire.SizeTag(lrObservedTime) + 8 +
		protowire.SizeTag(lrSeverityNumber) + protowire.SizeVarint(severityInfo) +
		protowire.SizeTag(lrBody) + protowire.SizeBytes(stringValueSize(rule)) +
		protowire.SizeTag(lrEventName) + protowire.SizeBytes(len(name))
	for i := range attrs {
		size += protowire.SizeTag(lrAttributes) + protowire.SizeBytes(keyValueSize(&attrs[i]))
	}
	b = protowire.AppendTag(b, slLogRecords, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, lrTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(t.UnixNano()))
	b = protowire.AppendTag(b, lrSeverityNumber, protowire.VarintType)
	b = protowire.AppendVarint(b, severityInfo)
	b = protowire.AppendTag(b, lrBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(stringValueSize(rule)))
	b = appendStringValue(b, rule)
	for i := range attrs {
		a := &attrs[i]
		b = protowire.AppendTag(b, lrAttributes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(keyValueSize(a)))
		b = protowire.AppendTag(b, kvKey, protowire.BytesType)
		b = protowire.AppendString(b, a.Key)
		b = protowire.AppendTag(b, kvValue, protowire.BytesType)
		switch a.Kind {
		case output.AttrInt:
			b = protowire.AppendVarint(b, uint64(intValueSize(a.I)))
			b = appendIntValue(b, a.I)
		case output.AttrBool:
			b = protowire.AppendVarint(b, uint64(boolValueSize))
			b = appendBoolValue(b, a.B)
		default:
			b = protowire.AppendVarint(b, uint64(stringValueSize(a.S)))
			b = appendStringValue(b, a.S)
		}
	}
	b = protowire.AppendTag(b, lrObservedTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(observed.UnixNano()))
	b = protowire.AppendTag(b, lrEventName, protowire.BytesType)
	return protowire.AppendString(b, name)
}

// keyValueSize is the size of a KeyValue message.
func keyValueSize(a *output.Attr) int {
	var v int
	switch a.Kind {
	case output.AttrInt:
		v = intValueSize(a.I)
	case output.AttrBool:
		v = boolValueSize
	default:
		v = stringValueSize(a.S)
	}
	return protowire.SizeTag(kvKey) + protowire.SizeBytes(len(a.Key)) + protowire.SizeTag(kvValue) + protowire.SizeBytes(v)
}

// AnyValue messages and their sizes.

func stringValueSize(s string) int { return protowire.SizeTag(avString) + protowire.SizeBytes(len(s)) }

func appendStringValue(b []byte, s string) []byte {
	b = protowire.AppendTag(b, avString, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func intValueSize(i int64) int { return protowire.SizeTag(avInt) + protowire.SizeVarint(uint64(i)) }

func appendIntValue(b []byte, i int64) []byte {
	b = protowire.AppendTag(b, avInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(i))
}

const boolValueSize = 2 // tag and one byte

func appendBoolValue(b []byte, v bool) []byte {
	b = protowire.AppendTag(b, avBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}
