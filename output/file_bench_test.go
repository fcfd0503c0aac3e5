package output

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFileWrite: the stream hands the file 64 KiB of whole lines at a
// time; ns/op is per 160-byte line (an event of five fields).
func BenchmarkFileWrite(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 159), '\n')
	chunk := bytes.Repeat(line, 64<<10/len(line))
	perChunk := len(chunk) / len(line)
	for _, c := range []struct {
		name string
		opts FileOptions
	}{{"plain", FileOptions{}}, {"rotate16M", FileOptions{MaxSize: 16 << 20, Keep: 2}}} {
		b.Run(c.name, func(b *testing.B) {
			f, err := OpenFile(filepath.Join(b.TempDir(), "events.json"), c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i += perChunk {
				if _, err := f.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("devnull", func(b *testing.B) {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(line)))
		for i := 0; i < b.N; i += perChunk {
			f.Write(chunk)
		}
	})
}
