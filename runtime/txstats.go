package runtime

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
)

// TxStats is what became of the requests a protocol's transactions stored
// (docs/transactions.md): each one is paired, timed out, pushed out of its
// flow's full queue, still waiting, or evicted with its flow from the
// bounded map. Requests = Paired + Timeouts + Overflow + Waiting + Evicted.
// Orphans are responses that found no request; Interim are 1xx responses
// paired with a request that waits on for its final response.
type TxStats struct {
	Proto    string `json:"proto"`
	Requests uint64 `json:"requests"`
	Paired   uint64 `json:"paired"`
	Timeouts uint64 `json:"timeouts"`
	Overflow uint64 `json:"overflow"`
	Waiting  uint64 `json:"waiting"`
	Evicted  uint64 `json:"evicted"`
	Orphans  uint64 `json:"orphans"`
	Interim  uint64 `json:"interim,omitempty"`
}

// Unpaired is the requests that lost their pair: timed out, pushed out or
// evicted (the transactions' counterpart of lost events).
func (s TxStats) Unpaired() uint64 { return s.Timeouts + s.Overflow + s.Evicted }

// txProtoNames name the rows of tx_stats.
var txProtoNames = map[compiler.TxProto]string{compiler.TxHTTP: "http", compiler.TxDNS: "dns", compiler.TxTLS: "tls"}

// TxStats reads the transaction counters of every protocol whose flows the
// programs keep, summed over CPUs, and counts the waiting requests by
// walking the flow maps (a cost proportional to the flows: call it for a
// summary or a scrape, not per event). Nil when the rules keep none.
func (c *Collection) TxStats() ([]TxStats, error) {
	stats, ok := c.coll.Maps[compiler.TxStatsMap]
	if !ok {
		return nil, nil
	}
	var out []TxStats
	for p := compiler.TxProto(0); p < compiler.NumTxProtos; p++ {
		flows, ok := c.coll.Maps[compiler.TxMaps[p]]
		if !ok {
			continue
		}
		var per [][compiler.NumTxCounters]uint64
		if err := stats.Lookup(uint32(p), &per); err != nil {
			return nil, fmt.Errorf("read the %s transaction counters: %w", txProtoNames[p], err)
		}
		var sum [compiler.NumTxCounters]uint64
		for _, cpu := range per {
			for i, v := range cpu {
				sum[i] += v
			}
		}
		s := TxStats{Proto: txProtoNames[p], Requests: sum[compiler.TxRequests], Paired: sum[compiler.TxPaired],
			Timeouts: sum[compiler.TxTimeouts], Overflow: sum[compiler.TxOverflow], Orphans: sum[compiler.TxOrphans],
			Interim: sum[compiler.TxInterim]}
		waiting, err := txWaiting(flows)
		if err != nil {
			return nil, fmt.Errorf("walk the %s flows: %w", txProtoNames[p], err)
		}
		s.Waiting = waiting
		if p == compiler.TxDNS {
			s.Timeouts += c.unanswered.Load()
		}
		if gone := s.Paired + s.Timeouts + s.Overflow + s.Waiting; s.Requests > gone {
			s.Evicted = s.Requests - gone
		}
		out = append(out, s)
	}
	return out, nil
}

// txWaiting sums the requests waiting in a flow map: every value starts
// with the queue's head and tail counters (u32 each).
func txWaiting(m *ebpf.Map) (uint64, error) {
	var (
		n   uint64
		key []byte
		val []byte
	)
	it := m.Iterate()
	for it.Next(&key, &val) {
		if len(val) >= 8 {
			head, tail := ByteOrder.Uint32(val), ByteOrder.Uint32(val[4:])
			n += uint64(tail - head)
		}
	}
	return n, it.Err()
}

// ByteOrder is the order of integers in the kernel's maps and events.
var ByteOrder = binary.NativeEndian
