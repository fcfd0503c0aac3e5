package runtime

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// CapturedFrame is one frame of a capture file.
type CapturedFrame struct {
	Number  int // 1-based, counting every packet of the file (as tshark's frame.number)
	Time    time.Time
	Data    []byte // the captured bytes
	OrigLen int    // length on the wire; more than len(Data) when the capture cut the frame short
	Iface   string // capturing interface, when the file names it (pcapng)
	// Dir is the direction the capture gives (pcapng epb_flags, the packet
	// type of a Linux cooked capture), or DirUnknown.
	Dir Direction
	// Cooked is set when the frame was rebuilt from a Linux cooked capture
	// (uncook).
	Cooked bool
}

// Capture reads a pcap or pcapng file frame by frame; it never holds more
// than one frame.
type Capture struct {
	f       *os.File
	z       io.Closer // the decompressor of a compressed capture
	zname   string    // its name: gzip, zstd
	counter *countingReader
	size    int64
	pcap    *pcapgo.Reader
	ng      *pcapgo.NgReader
	n       int
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Magic numbers of the two capture formats (first four bytes).
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapngMagic    = 0x0a0d0d0a // section header block type, the same in either byte order
)

// OpenCapture opens a pcap or pcapng file of Ethernet frames or of Linux
// cooked frames (SLL, SLL2; replayed as Ethernet, see uncook), which may be
// compressed with gzip or zstd (replay_compressed.go). A file of another
// link type is an error naming it.
func OpenCapture(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c := &Capture{f: f}
	if st, serr := f.Stat(); serr == nil {
		c.size = st.Size()
	}
	c.counter = &countingReader{r: f}
	br := bufio.NewReaderSize(c.counter, 1<<16)
	br, c.z, c.zname, err = decompress(br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	magic, err := br.Peek(4)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, err)
	}
	le, be := binary.LittleEndian.Uint32(magic), binary.BigEndian.Uint32(magic)
	switch {
	case le == pcapngMagic:
		c.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err == nil {
			for i := 0; i < c.ng.NInterfaces(); i++ {
				iface, _ := c.ng.Interface(i)
				if !replayable(iface.LinkType) {
					err = linkTypeError(iface.LinkType)
					break
				}
			}
		}
	case le == pcapMagicMicro || be == pcapMagicMicro || le == pcapMagicNano || be == pcapMagicNano:
		c.pcap, err = pcapgo.NewReader(br)
		if err == nil && !replayable(c.pcap.LinkType()) {
			err = linkTypeError(c.pcap.LinkType())
		}
	default:
		err = fmt.Errorf("not a pcap or pcapng file (magic %#08x)", be)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func replayable(lt layers.LinkType) bool {
	return lt == layers.LinkTypeEthernet || isCooked(lt)
}

func linkTypeError(lt layers.LinkType) error {
	// The number in full: link types go beyond 255 (SLL2 is 276).
	what := fmt.Sprintf("%d", uint16(lt))
	if name := lt.String(); !strings.HasPrefix(name, "Unknown") {
		what = fmt.Sprintf("%s (%d)", name, uint16(lt))
	}
	return fmt.Errorf("link type %s is not supported: hdrlog replays Ethernet frames (link type EN10MB, 1) and Linux cooked captures (LINUX_SLL, 113; LINUX_SLL2, 276)", what)
}

// Next returns the next frame, or io.EOF at the end of the file.
func (c *Capture) Next() (*CapturedFrame, error) {
	fr := &CapturedFrame{}
	if err := c.read(fr, false); err != nil {
		return nil, err
	}
	return fr, nil
}

// read reads the next frame into fr. With zeroCopy, fr.Data may be the
// reader's buffer, valid until the next read (a replay copies the frames
// into its batches).
func (c *Capture) read(fr *CapturedFrame, zeroCopy bool) error {
	*fr = CapturedFrame{Number: c.n + 1}
	lt := layers.LinkTypeEthernet
	switch {
	case c.pcap != nil:
		read := c.pcap.ReadPacketData
		if zeroCopy {
			read = c.pcap.ZeroCopyReadPacketData
		}
		data, ci, err := read()
		if err != nil {
			return c.readErr(err)
		}
		fr.Data, fr.Time, fr.OrigLen = data, ci.Timestamp, ci.Length
		lt = c.pcap.LinkType()
	default:
		read := c.ng.ReadPacketDataWithOptions
		if zeroCopy {
			read = c.ng.ZeroCopyReadPacketDataWithOptions
		}
		data, ci, opts, err := read()
		if err != nil {
			return c.readErr(err)
		}
		fr.Data, fr.Time, fr.OrigLen, fr.Dir = data, ci.Timestamp, ci.Length, epbDirection(opts)
		if iface, err := c.ng.Interface(ci.InterfaceIndex); err == nil {
			if !replayable(iface.LinkType) {
				return fmt.Errorf("frame %d: %w", fr.Number, linkTypeError(iface.LinkType))
			}
			fr.Iface, lt = iface.Name, iface.LinkType
		}
	}
	if fr.OrigLen < len(fr.Data) {
		fr.OrigLen = len(fr.Data)
	}
	if isCooked(lt) {
		fr.Cooked = true
		uncook(lt, fr)
	}
	c.n++
	return nil
}

func (c *Capture) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("frame %d: capture file cut short: %w", c.n+1, err)
	}
	return fmt.Errorf("frame %d: %w", c.n+1, err)
}

// Compression names the compression of the file (gzip, zstd), or "".
func (c *Capture) Compression() string { return c.zname }

// Progress returns how much of the file has been read, and its size (of a
// compressed file, compressed bytes).
func (c *Capture) Progress() (read, size int64) { return c.counter.n, c.size }

// Close closes the file.
func (c *Capture) Close() error {
	if c.z != nil {
		c.z.Close()
	}
	return c.f.Close()
}
