package rules

// DNS transactions: a response paired with its query (docs/transactions.md).
// The kernel program and the reference evaluator both follow what is
// stated here.
//
//   - A query is named by its flow (the two endpoints in a canonical order,
//     as for HTTP; UDP and TCP apart), its id and its first question: a
//     64-bit FNV-1a hash of the question's bytes on the wire (name, type
//     and class). A message whose first question is not decoded (none, a
//     compressed or invalid name, cut) takes no part.
//   - A query waits in its flow's entry (one per flow and id) with its time.
//     The same query again (same side, same question), while it waits, is a
//     retransmission or the same packet at a second hook: the first one's
//     time is kept. Another query with the id (another question, or from
//     the other side) replaces it: the one replaced is counted as pushed
//     out (overflow), or as timed out when it waited longer than
//     DNSTxTimeoutNanos.
//   - A response from the other side than the query's, with the same
//     question, answers it: dns.time is its time less the query's. A
//     response with another question, from the query's side, or with no
//     query waiting is an orphan (counted). The same response again (a
//     retransmission, a second hook) gets the same dns.time; it is not
//     counted again.
//   - A query waiting longer than DNSTxTimeoutNanos is not paired: the
//     response that finds it counts a timeout. A query never answered stays
//     in its entry until the LRU map pushes it out (counted as evicted).
//   - Id reuse never gives a wrong pair: a response pairs only with a query
//     of the same flow, id and question.

// TLS handshakes: a ClientHello waits on its TCP flow (one per flow) for
// the ServerHello of the other side, as a DNS query without id or
// question: the same ClientHello again (a retransmission) keeps the first
// one's time, another replaces it, a ServerHello pairs with the waiting
// one (tls.handshake.time) or, repeated, gets the same time again. A
// HelloRetryRequest is a ServerHello: it pairs with the first ClientHello,
// the second ClientHello waits for the real ServerHello. A ClientHello
// held for its next segment (docs/l7.md) counts on that segment. The
// timeout is DNSTxTimeoutNanos.

// DNSTxTimeoutNanos is how long a DNS query (or a ClientHello) waits for
// its response.
const DNSTxTimeoutNanos = 10_000_000_000

// FNV-1a, 64 bits: the hash of a question.
const (
	FNVOffset64 = 0xcbf29ce484222325
	FNVPrime64  = 0x100000001b3
)
