package otlp

import "sync"

// queue is the bounded queue of encoded records, kept as batches: each
// batch holds up to per records, one after the other in one buffer, as
// they go into a request, with the rule of each for the accounting. The
// last batch fills; the worker takes batches from the front. Batches are
// recycled, so that a steady flow allocates nothing.
type queue struct {
	mu      sync.Mutex
	batches []*batch // oldest first; the last one is being filled
	n       int      // records queued
	max     int      // records queued at most (QueueSize)
	per     int      // records per batch (BatchSize)
	free    []*batch
	// wake tells the worker that the first record came or a batch filled.
	wake chan struct{}
}

type batch struct {
	records []byte   // encoded LogRecord fields of a ScopeLogs (encode.go)
	rules   []string // rule of each record
}

func newQueue(max, per int) *queue {
	return &queue{max: max, per: per, wake: make(chan struct{}, 1)}
}

// push queues a record of rule; false when the queue is full.
func (q *queue) push(rec []byte, rule string) bool {
	q.mu.Lock()
	if q.n >= q.max {
		q.mu.Unlock()
		return false
	}
	var b *batch
	if k := len(q.batches); k > 0 && len(q.batches[k-1].rules) < q.per {
		b = q.batches[k-1]
	} else {
		if k := len(q.free); k > 0 {
			b, q.free = q.free[k-1], q.free[:k-1]
		} else {
			b = &batch{}
		}
		q.batches = append(q.batches, b)
	}
	b.records = append(b.records, rec...)
	b.rules = append(b.rules, rule)
	q.n++
	signal := q.n == 1 || len(b.rules) == q.per
	q.mu.Unlock()
	if signal {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// take removes the oldest batch when it is full, or, with partial, when it
// holds any record; nil otherwise.
func (q *queue) take(partial bool) *batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.batches) == 0 {
		return nil
	}
	b := q.batches[0]
	if len(b.rules) == 0 || (!partial && len(b.rules) < q.per) {
		return nil
	}
	k := copy(q.batches, q.batches[1:])
	q.batches[k] = nil
	q.batches = q.batches[:k]
	q.n -= len(b.rules)
	return b
}

// recycle gives back an exported (or dropped) batch.
func (q *queue) recycle(b *batch) {
	b.records, b.rules = b.records[:0], b.rules[:0]
	q.mu.Lock()
	q.free = append(q.free, b)
	q.mu.Unlock()
}

func (q *queue) length() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
