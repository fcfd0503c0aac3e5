package compiler_test

import (
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// TestKernelLostEvents fills a 4096-byte ring buffer that no one reads and
// checks that every event that did not fit is counted, per rule: for each
// rule, the lost count is the number of frames it matched less the events
// drained afterwards. Rules of different event sizes and hooks fill the ring
// at different rates; one matches every other frame.
func TestKernelLostEvents(t *testing.T) {
	kerneltest.Require(t)
	rs := []ktRule{
		{Name: "small", Log: []string{"frame.len"}},
		{Name: "large", Log: ktAllFields()},
		{Name: "every_other", Match: "tcp.srcport in {0..65535} && tcp.seq_raw & 1 == 0", Log: []string{"ip.src", "tcp.seq_raw"}},
	}
	k := ktLoad(t, "lost", rs, ktHooks, 4096)
	frame := ktFrameIPv4TCP()
	const frames = 200
	matched := map[string]int{}
	drained := map[string]int{}
	total := 0
	// Two rounds: the ring fills, is drained, and fills again.
	for round := 0; round < 2; round++ {
		for i := 0; i < frames; i++ {
			// The sequence number alternates even and odd: tcp.seq_raw is
			// bytes 38-41 of an untagged IPv4 frame without options, 41 its
			// low byte.
			f := append([]byte(nil), frame...)
			f[41] = byte(i)
			for _, h := range ktHooks {
				if err := k.coll.Run(h.Hook, f); err != nil {
					t.Fatalf("%s: frame %d: %v", h.Hook, i, err)
				}
				matched["small_"+h.Suffix]++
				matched["large_"+h.Suffix]++
				if i%2 == 0 {
					matched["every_other_"+h.Suffix]++
				}
			}
		}
		evs, err := k.drain()
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		for _, list := range evs {
			total += len(list)
			for _, ev := range list {
				drained[ev.Name]++
			}
		}
	}
	schema := k.coll.Output.Schema
	lost, err := k.coll.LostCounts()
	if err != nil {
		t.Fatalf("lost counts: %v", err)
	}
	var totalLost uint64
	for i, r := range schema.Rules {
		t.Logf("%-16s %4d event bytes: %3d matched, %3d drained, %3d lost", r.Name, r.EventSize, matched[r.Name], drained[r.Name], lost[i])
		if want := uint64(matched[r.Name] - drained[r.Name]); lost[i] != want {
			t.Errorf("rule %s: lost count %d, want %d (%d matched, %d drained)", r.Name, lost[i], want, matched[r.Name], drained[r.Name])
		}
		totalLost += lost[i]
	}
	if total == 0 || totalLost == 0 {
		t.Errorf("%d events drained, %d lost: the ring did not overflow as intended", total, totalLost)
	}
}
