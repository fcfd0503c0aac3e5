package compiler

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortKeys: keys of every size a set map has come out sorted as byte
// strings, without duplicates, whatever their order and repetitions.
func TestSortKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{4, 6, 8, 16, 20, 24} {
		for _, n := range []int{0, 1, 2, 100, 5000} {
			keys := make([]byte, n*size)
			for i := range keys {
				keys[i] = byte(rng.IntN(3)) // small alphabet: many equal keys and long common prefixes
			}
			var want [][]byte
			for i := range n {
				want = append(want, bytes.Clone(keys[i*size:(i+1)*size]))
			}
			slices.SortFunc(want, bytes.Compare)
			want = slices.CompactFunc(want, bytes.Equal)
			got := sortKeys(keys, size)
			if !bytes.Equal(got, bytes.Join(want, nil)) {
				t.Fatalf("size %d, %d keys: sorted wrong (%d bytes, want %d)", size, n, len(got), len(bytes.Join(want, nil)))
			}
		}
	}
}

func BenchmarkSortKeys(b *testing.B) {
	for _, size := range []int{8, 20} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			src := make([]byte, 500_000*size)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			keys := make([]byte, len(src))
			for b.Loop() {
				copy(keys, src)
				sortKeys(keys, size)
			}
		})
	}
}
