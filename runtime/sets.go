package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
)

// fillSets writes the elements of the sets compiled into maps (compiler's
// SetMap) into the collection's maps, created empty.
func fillSets(coll *ebpf.Collection, sets []*compiler.SetMap) error {
	for _, s := range sets {
		m := coll.Maps[s.Name]
		if m == nil {
			return fmt.Errorf("set map %s is missing from the collection", s.Name)
		}
		if err := putKeys(m, s.Keys, s.KeySize); err != nil {
			return fmt.Errorf("set map %s (%d elements): %w", s.Name, s.Len(), err)
		}
	}
	return nil
}

// setBatch is the most keys one batch update writes: the kernel copies a
// batch element by element, so batches only spare system calls; a bound
// keeps the value buffer small.
const setBatch = 1 << 16

// putKeys adds keys (size bytes each, one after another) to m, with the
// value 1, in batches.
func putKeys(m *ebpf.Map, keys []byte, size int) error {
	n := len(keys) / size
	vals := bytes.Repeat([]byte{1}, min(n, setBatch))
	for i := 0; i < n; i += setBatch {
		j := min(n, i+setBatch)
		chunk := keys[i*size : j*size]
		_, err := m.BatchUpdate(keySlice(chunk, size), vals[:j-i], nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			// Kernels before 5.6 (and map types without batches): one by one.
			for k := 0; k < j-i; k++ {
				if err := m.Put(chunk[k*size:(k+1)*size], []byte{1}); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteKeys removes keys from m.
func deleteKeys(m *ebpf.Map, keys []byte, size int) error {
	n := len(keys) / size
	for i := 0; i < n; i += setBatch {
		j := min(n, i+setBatch)
		chunk := keys[i*size : j*size]
		_, err := m.BatchDelete(keySlice(chunk, size), nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			for k := 0; k < j-i; k++ {
				if err := m.Delete(chunk[k*size : (k+1)*size]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					return err
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keySlice views keys as a slice of fixed-size arrays, the form batch
// operations take (one element per key), without copying.
func keySlice(keys []byte, size int) any {
	n := len(keys) / size
	p := unsafe.Pointer(unsafe.SliceData(keys))
	switch size {
	case 4:
		return unsafe.Slice((*[4]byte)(p), n)
	case 6:
		return unsafe.Slice((*[6]byte)(p), n)
	case 8:
		return unsafe.Slice((*[8]byte)(p), n)
	case 16:
		return unsafe.Slice((*[16]byte)(p), n)
	case 20:
		return unsafe.Slice((*[20]byte)(p), n)
	}
	panic(fmt.Sprintf("runtime: no key type of %d bytes", size))
}
