package reference

import (
	"encoding/binary"

	"github.com/hdrlog/hdrlog/rules"
)

// Thinning: what `sample` and `limit` let through, as the kernel decides it
// in a replay (see compiler/volume.go): the flow hash of the packet, or the
// frame's replay draw, modulo N; then the rule's bucket, by the generic cell
// rate algorithm on capture time.

// Outcome says what became of a match of a logging rule.
type Outcome int

const (
	Kept Outcome = iota
	SampledOut
	OverLimit
)

// Thinner holds the buckets of the rules' limits.
type Thinner struct {
	tat map[int]uint64 // per rule: theoretical arrival time, ns
}

// NewThinner returns a Thinner with full buckets.
func NewThinner() *Thinner { return &Thinner{tat: map[int]uint64{}} }

// Decide says whether rule r logs a match in packet p, frame number frame
// of a replay, captured at now (ns since the Unix epoch).
func (t *Thinner) Decide(r *rules.Rule, p *Packet, frame uint64, now uint64) Outcome {
	if s := r.Sample; s != nil {
		draw := rules.ReplayDraw(frame, r.Index)
		if s.ByFlow {
			draw = FlowHash(p)
		}
		if draw%s.N != 0 {
			return SampledOut
		}
	}
	if l := r.Limit; l != nil {
		T, tau := rules.LimitParams(l)
		tat := t.tat[r.Index]
		if tat < now {
			tat = now
		}
		if int64(tat-now) > tau {
			t.tat[r.Index] = tat
			return OverLimit
		}
		t.tat[r.Index] = tat + uint64(T)
	}
	return Kept
}

// FlowHash is rules.FlowHash of a packet.
func FlowHash(p *Packet) uint32 {
	var words uint32
	var ports uint16
	for _, name := range rules.FlowFields {
		f, _ := rules.LookupField(name)
		v := value(rules.FieldRef{Field: f, Layer: 1}, p)
		if !v.Present {
			continue
		}
		if f.Type == rules.TypeIPv4 || f.Type == rules.TypeIPv6 {
			for i := 0; i+4 <= len(v.Bytes); i += 4 {
				words ^= binary.NativeEndian.Uint32(v.Bytes[i:])
			}
			continue
		}
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], uint16(v.U))
		ports ^= binary.NativeEndian.Uint16(b[:])
	}
	return rules.FlowHash(words, ports)
}
