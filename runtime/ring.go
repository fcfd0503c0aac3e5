package runtime

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringConsumer reads a BPF ring buffer through its memory mapping, the way
// the stream wants it: a batch at a time, records decoded in place (no copy,
// no lock, no system call), and the consumer position published to the
// kernel every ringPublishBytes rather than after every record, so the
// producers' cache line is not pulled back and forth once per event.
//
// Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position and is
// writable; from page 1 the producer position page, then the data pages
// mapped twice in a row, so a record that wraps is contiguous in memory.
// Every record starts with an 8-byte header whose first word is the length,
// with a busy bit (being written) and a discard bit (skip it).
type ringConsumer struct {
	consPage, prodPages []byte
	cons, prod          *uint64
	data                []byte
	mask                uint64
}

const (
	ringHdrSize     = 8
	ringBusyBit     = 1 << 31
	ringDiscardBit  = 1 << 30
	ringPublishSize = 16 << 10 // consumer position published at least this often (bytes)
)

func newRingConsumer(mapFD, size int) (*ringConsumer, error) {
	page := os.Getpagesize()
	if size <= 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two", size)
	}
	cons, err := unix.Mmap(mapFD, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring buffer consumer page: %w", err)
	}
	prod, err := unix.Mmap(mapFD, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("map ring buffer data: %w", err)
	}
	return &ringConsumer{
		consPage:  cons,
		prodPages: prod,
		cons:      (*uint64)(unsafe.Pointer(&cons[0])),
		prod:      (*uint64)(unsafe.Pointer(&prod[0])),
		data:      prod[page:],
		mask:      uint64(size - 1),
	}, nil
}

// errRingCorrupt means the ring's positions or a record header make no sense.
var errRingCorrupt = errors.New("ring buffer record runs past the producer position")

// readBatch calls fn for every committed record the ring holds, in order,
// and returns how many it read. The slice fn gets is the ring's own memory:
// valid only during the call. A record still being written ends the batch
// (the next batch starts with it); an error from fn ends it too, after the
// record is consumed.
func (r *ringConsumer) readBatch(fn func(sample []byte) error) (int, error) {
	cons := atomic.LoadUint64(r.cons)
	prod := atomic.LoadUint64(r.prod)
	published := cons
	n := 0
	var err error
	for cons < prod && err == nil {
		start := cons & r.mask
		// The header's length is written last by the producer (an
		// xchg in the kernel); loading it atomically orders the reads
		// of the record after it.
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[start])))
		if hdr&ringBusyBit != 0 {
			break
		}
		l := uint64(hdr &^ (ringBusyBit | ringDiscardBit))
		next := cons + ringHdrSize + (l+7)&^7
		if next > prod {
			return n, errRingCorrupt
		}
		if hdr&ringDiscardBit == 0 {
			s := start + ringHdrSize
			err = fn(r.data[s : s+l : s+l])
			n++
		}
		cons = next
		if cons-published >= ringPublishSize {
			atomic.StoreUint64(r.cons, cons)
			published = cons
		}
		if cons == prod {
			prod = atomic.LoadUint64(r.prod)
		}
	}
	if cons != published {
		atomic.StoreUint64(r.cons, cons)
	}
	return n, err
}

// backlog returns how many bytes wait in the ring.
func (r *ringConsumer) backlog() uint64 {
	return atomic.LoadUint64(r.prod) - atomic.LoadUint64(r.cons)
}

func (r *ringConsumer) close() error {
	if r.consPage == nil {
		return nil
	}
	err := errors.Join(unix.Munmap(r.prodPages), unix.Munmap(r.consPage))
	r.consPage, r.prodPages, r.data = nil, nil, nil
	return err
}
