// Package eventpath measures hdrlog's user-space event path: decoding raw
// ring-buffer records by the compiler's schema and encoding them as JSON
// lines, with the runtime's own code.
package eventpath

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/runtime"
)

// Records builds n raw records as the kernel would emit them for the rules
// of schema, cycling through the rules, every logged field present and
// holding a plausible value.
func Records(s *compiler.Schema, n int) [][]byte {
	bo := compiler.ByteOrder
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		rs := s.Rules[i%len(s.Rules)]
		raw := make([]byte, rs.EventSize)
		bo.PutUint64(raw[compiler.EvTime:], uint64(1_000_000_000+i*1000))
		var presence uint64 = 1
		for _, f := range rs.Fields {
			presence |= 1 << f.Fact
		}
		bo.PutUint64(raw[compiler.EvPresence:], presence)
		bo.PutUint32(raw[compiler.EvRule:], uint32(rs.Index))
		bo.PutUint32(raw[compiler.EvIfindex:], 2)
		bo.PutUint32(raw[compiler.EvFrameLen:], 60+uint32(i%1400))
		for k, f := range rs.Fields {
			b := raw[f.Offset : f.Offset+f.Size]
			switch f.Render {
			case compiler.RenderIPv4:
				copy(b, []byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			case compiler.RenderIPv6:
				copy(b, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)})
			case compiler.RenderMAC:
				copy(b, []byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)})
			case compiler.RenderBool:
				b[0] = byte(i & 1)
			default:
				v := uint64(1024 + (i*7+k*13)%60000)
				switch f.Size {
				case 1:
					b[0] = byte(v)
				case 2:
					bo.PutUint16(b, uint16(v))
				case 4:
					bo.PutUint32(b, uint32(v))
				}
			}
		}
		out = append(out, raw)
	}
	return out
}

// Encoder decodes and encodes records the way hdrlog's stream does: Decode,
// then AppendJSON with the event time turned into wall-clock time.
type Encoder struct {
	dec  *runtime.Decoder
	ev   runtime.Event
	buf  []byte
	base time.Time
}

// NewEncoder returns an encoder for schema.
func NewEncoder(s *compiler.Schema) (*Encoder, error) {
	dec, err := runtime.NewDecoder(s)
	if err != nil {
		return nil, err
	}
	return &Encoder{dec: dec, buf: make([]byte, 0, 4096), base: time.Unix(1_700_000_000, 0)}, nil
}

// Encode decodes raw and returns its JSON line (valid until the next call).
func (e *Encoder) Encode(raw []byte) ([]byte, error) {
	if err := e.dec.Decode(raw, &e.ev); err != nil {
		return nil, err
	}
	m := runtime.Meta{Time: e.base.Add(time.Duration(e.ev.BootNS)), Iface: "eth0"}
	e.buf = runtime.AppendJSON(e.buf[:0], e.dec.Schema(), &e.ev, m)
	e.buf = append(e.buf, '\n')
	return e.buf, nil
}

// Throughput encodes records in a loop for about d of the calling thread's
// CPU time (the caller locks the goroutine to its thread) and returns
// events per CPU-second and bytes of JSON per event. CPU time rather than
// wall-clock time keeps other load on the machine out of the figure.
func Throughput(s *compiler.Schema, records [][]byte, d time.Duration) (float64, float64, error) {
	e, err := NewEncoder(s)
	if err != nil {
		return 0, 0, err
	}
	var n, bytes int
	start := threadCPU()
	for threadCPU()-start < d {
		for _, r := range records {
			line, err := e.Encode(r)
			if err != nil {
				return 0, 0, fmt.Errorf("encode: %w", err)
			}
			bytes += len(line)
		}
		n += len(records)
	}
	el := threadCPU() - start
	return float64(n) / el.Seconds(), float64(bytes) / float64(n), nil
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
