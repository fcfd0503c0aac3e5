package eventpath

import (
	"encoding/json"
	"testing"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
)

func s5(t testing.TB) *Encoder {
	t.Helper()
	out, err := suite.Compile("S5", suite.Suite[4].Rules)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(out.Schema)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRecordsEncode checks that every generated record decodes and encodes
// to valid JSON (the benchmark measures real work, not an error path).
func TestRecordsEncode(t *testing.T) {
	e := s5(t)
	for _, r := range Records(e.dec.Schema(), 50) {
		line, err := e.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
}

// BenchmarkDecodeJSON measures runtime.Decoder.Decode + runtime.AppendJSON
// over the events of rule set S5 (ten rules, mixed fields), one core.
func BenchmarkDecodeJSON(b *testing.B) {
	e := s5(b)
	recs := Records(e.dec.Schema(), 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Encode(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
