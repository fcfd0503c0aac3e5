package runtime

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Captures are often stored compressed (tcpdump -w - | gzip, zstd
// rotation). OpenCapture reads them as tshark does: by the first bytes of
// the file, not by its name, and streaming, so that memory stays bounded
// whatever the capture's size. gzip is the standard library's; zstd is
// github.com/klauspost/compress (the standard library has no zstd
// decoder); its decoder runs on one goroutine with its low-memory option:
// the replay's workers need the CPUs more.

// compression is a compressed format a capture may be stored in.
type compression struct {
	name  string
	magic []byte
	open  func(io.Reader) (io.ReadCloser, error)
}

var compressions = []compression{
	{"gzip", []byte{0x1f, 0x8b}, func(r io.Reader) (io.ReadCloser, error) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return z, nil
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(r io.Reader) (io.ReadCloser, error) {
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	}},
}

// decompress returns br itself when the capture is not compressed, else a
// buffered reader of the decompressed bytes, the decompressor (to close) and
// the compression's name.
func decompress(br *bufio.Reader) (*bufio.Reader, io.Closer, string, error) {
	head, _ := br.Peek(4)
	for _, c := range compressions {
		if !bytes.HasPrefix(head, c.magic) {
			continue
		}
		z, err := c.open(br)
		if err != nil {
			return nil, nil, c.name, fmt.Errorf("%s-compressed capture: %w", c.name, err)
		}
		return bufio.NewReaderSize(&decompressErr{z, c.name}, 1<<16), z, c.name, nil
	}
	return br, nil, "", nil
}

// decompressErr names the compression in a decompression error (a
// corrupt or cut-short file).
type decompressErr struct {
	r    io.Reader
	name string
}

func (d *decompressErr) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s-compressed capture: %w", d.name, err)
	}
	return n, err
}
