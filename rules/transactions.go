package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// Transactions: a response paired with its request (docs/transactions.md).
// The kernel program and the reference evaluator both follow what is stated
// here.
//
//   - A flow is a TCP connection, named by its two endpoints in a canonical
//     order (the lower address, then port, first): both directions map to
//     one entry. Requests and responses may be seen at different hooks (tc
//     egress and tc ingress of one interface): every hook whose rules use a
//     transaction field reads and writes the same entries.
//   - Each request (every one of a segment, pipelined ones included) is
//     queued on its flow with its time, method, target and Host header; at
//     most TxDepth wait per flow, a further one pushes the oldest out
//     (counted). A request is named by its sequence number plus its offset
//     in the segment: the same request seen again (a retransmission, or a
//     second hook) is not queued twice.
//   - A response (a complete status line) sent by the other endpoint than
//     the one whose requests are queued answers the oldest waiting request
//     (first in, first out): HTTP/1.x answers in order. The response event
//     carries http.time (its time less the request's) and the request's
//     values (http.response_for.*). An interim response (1xx, except 101)
//     is paired without taking the request off the queue: the final response
//     pairs with it too. The same response seen again pairs with the same
//     request.
//   - A request waiting longer than HTTPTxTimeoutNanos is not paired: the
//     response that finds it counts a timeout.
//   - The entries live in a bounded LRU map: a flow pushed out loses its
//     waiting requests (counted as evicted, never paired with another).

// Bounds of the transaction state.
const (
	// TxDepth is how many requests wait per flow.
	TxDepth = 4
	// HTTPTxTimeoutNanos is how long a request waits for its response.
	HTTPTxTimeoutNanos = 60_000_000_000
	// DefaultTxFlows is the number of flows the transaction maps hold.
	DefaultTxFlows = 16384
	// Bytes of a request's values kept for its response; a longer value is
	// absent on the response.
	TxMethodLen = 16
	TxURILen    = 128
	TxHostLen   = 64
)

// TxFields are the fields that need a response paired with its request.
var TxFields = map[string]bool{
	"http.time": true, "dns.time": true, "tls.handshake.time": true, "http.response_for.uri": true, "http.response_for.method": true, "http.response_for.host": true,
}

// TxStringFields are the request's values a response carries.
var TxStringFields = map[string]string{
	"http.response_for.method": "http.request.method",
	"http.response_for.uri":    "http.request.uri",
	"http.response_for.host":   "http.host",
}

// ParseSeconds reads a time interval written in seconds (12, 0.5,
// 0.000250) as microseconds; at most 6 decimals.
func ParseSeconds(text string) (uint64, error) {
	whole, frac, dot := strings.Cut(text, ".")
	if whole == "" || dot && frac == "" {
		return 0, fmt.Errorf("%s is not a number of seconds", text)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%s has more than 6 decimals: times are kept to the microsecond", text)
	}
	for _, s := range []string{whole, frac} {
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%s is not a number of seconds", text)
			}
		}
	}
	w, err := strconv.ParseUint(whole, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not a number of seconds", text)
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 32)
	}
	return w*1_000_000 + f, nil
}

// FormatMicros writes microseconds as seconds, six decimals.
func FormatMicros(buf []byte, us uint64) []byte {
	buf = strconv.AppendUint(buf, us/1_000_000, 10)
	frac := us % 1_000_000
	buf = append(buf, '.')
	for d := uint64(100_000); d > 0; d /= 10 {
		buf = append(buf, byte('0'+frac/d%10))
	}
	return buf
}
