package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
)

// fillSets writes the elements of the sets compiled into maps (compiler's
// SetMap) into the collection's maps, created empty. The maps are filled
// at once, one goroutine each: the kernel inserts into different maps
// under different locks, and a blocklist's IPv4 and IPv6 tries of 500,000
// elements each fill in little more than the time of one.
func fillSets(coll *ebpf.Collection, sets []*compiler.SetMap) error {
	errs := make([]error, len(sets))
	var wg sync.WaitGroup
	for i, s := range sets {
		m := coll.Maps[s.Name]
		if m == nil {
			return fmt.Errorf("set map %s is missing from the collection", s.Name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := putKeys(m, s.Keys, s.KeySize); err != nil {
				errs[i] = fmt.Errorf("set map %s (%d elements): %w", s.Name, s.Len(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fillGroupMaps writes the contents of the groups of rules compiled into
// hash maps (compiler's GroupMap), created empty.
func fillGroupMaps(coll *ebpf.Collection, out *compiler.Output) error {
	for _, p := range out.Programs {
		for _, g := range p.GroupMaps {
			m := coll.Maps[g.Name]
			if m == nil {
				return fmt.Errorf("group map %s is missing from the collection", g.Name)
			}
			if err := putEntries(m, g.Keys, g.KeySize, g.Values, g.ValueSize); err != nil {
				return fmt.Errorf("group map %s (%d keys): %w", g.Name, g.Len(), err)
			}
		}
	}
	return nil
}

// putEntries writes keys and values (fixed sizes, one after another) into
// m, in batches.
func putEntries(m *ebpf.Map, keys []byte, ksize int, vals []byte, vsize int) error {
	n := len(keys) / ksize
	for i := 0; i < n; i += setBatch {
		j := min(n, i+setBatch)
		_, err := m.BatchUpdate(fixedSlice(keys[i*ksize:j*ksize], ksize), fixedSlice(vals[i*vsize:j*vsize], vsize), nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			for k := i; k < j; k++ {
				if err := m.Put(keys[k*ksize:(k+1)*ksize], vals[k*vsize:(k+1)*vsize]); err != nil {
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

// fixedSlice copies b into a slice of size-byte arrays, the form batch
// operations take (one element per array), for any size.
func fixedSlice(b []byte, size int) any {
	n := len(b) / size
	v := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeFor[byte]())), n, n)
	if n > 0 {
		copy(unsafe.Slice((*byte)(v.UnsafePointer()), n*size), b)
	}
	return v.Interface()
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
	return fixedSlice(keys, size) // string sets: a copy
}

// SetChange is what an in-place update did to one named set's map.
type SetChange struct {
	Set     string `json:"set"`
	Map     string `json:"map"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
}

// UpdateSets writes the elements of next's sets into the collection's set
// maps, in place: the programs stay, and each packet sees the old elements
// or the new ones (elements in both are never missing: the new ones are
// added before the old ones are removed). next must come from a
// compilation that compiler.UpdatableInPlace accepted against the
// collection's; the collection's Output then holds next's sets.
func (c *Collection) UpdateSets(next []*compiler.SetMap) ([]SetChange, error) {
	var changes []SetChange
	for i, n := range next {
		cur := c.Output.Sets[i]
		m := c.coll.Maps[cur.Name]
		if m == nil || cur.Name != n.Name {
			return changes, fmt.Errorf("set map %s is not in the running collection", n.Name)
		}
		added, removed := diffKeys(cur.Keys, n.Keys, n.KeySize)
		if err := putKeys(m, added, n.KeySize); err != nil {
			return changes, fmt.Errorf("set $%s: adding %d elements: %w", n.Set, len(added)/n.KeySize, err)
		}
		if err := deleteKeys(m, removed, n.KeySize); err != nil {
			return changes, fmt.Errorf("set $%s: removing %d elements: %w", n.Set, len(removed)/n.KeySize, err)
		}
		n.MaxEntries = cur.MaxEntries
		c.Output.Sets[i] = n
		if len(added) > 0 || len(removed) > 0 {
			changes = append(changes, SetChange{Set: n.Set, Map: n.Name, Added: len(added) / n.KeySize, Removed: len(removed) / n.KeySize})
		}
	}
	return changes, nil
}

// diffKeys compares two sorted key lists: the keys only b has, and those
// only a has.
func diffKeys(a, b []byte, size int) (onlyB, onlyA []byte) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b):
			onlyA = append(onlyA, a[i:i+size]...)
			i += size
		case i >= len(a):
			onlyB = append(onlyB, b[j:j+size]...)
			j += size
		default:
			switch bytes.Compare(a[i:i+size], b[j:j+size]) {
			case 0:
				i += size
				j += size
			case -1:
				onlyA = append(onlyA, a[i:i+size]...)
				i += size
			default:
				onlyB = append(onlyB, b[j:j+size]...)
				j += size
			}
		}
	}
	return onlyB, onlyA
}
