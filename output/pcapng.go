package output

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Pcapng writes the frames that matched a rule as a pcapng capture that
// Wireshark and tshark open: one Ethernet interface, each frame once (at
// most SnapLen bytes of it, with its length on the wire), with a comment
// naming the rules it matched ("hdrlog: ssh_syn, scan"); shown by
// Wireshark as the packet comment (frame.comment, pkt_comment).
type Pcapng struct {
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.NgWriter
	snap int

	// The frame being gathered: the events of one frame arrive one after
	// the other (every hook, every rule), and it is written once, when the
	// next frame comes or at Close, with every rule it matched.
	pending   bool
	number    int
	time      time.Time
	data      []byte
	origLen   int
	ruleNames []string
	Frames    int // frames written
}

// DefaultSnapLen is the snap length of `-w` without --snaplen: whole frames
// (tcpdump's default, 262144, is the same for every frame hdrlog sees).
const DefaultSnapLen = 262144

// CreatePcapng creates (or truncates) path, mode 0600 (the frames may carry
// anything), and writes the capture's header. snapLen 0 means DefaultSnapLen.
func CreatePcapng(path string, snapLen int, iface string) (*Pcapng, error) {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	p := &Pcapng{f: f, bw: bufio.NewWriterSize(f, 1<<16), snap: snapLen}
	p.w, err = pcapgo.NewNgWriterInterface(p.bw, pcapgo.NgInterface{
		Name:       iface,
		LinkType:   layers.LinkTypeEthernet,
		SnapLength: uint32(snapLen),
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "hdrlog"}})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Add records that frame number matched rule; frames come in order.
func (p *Pcapng) Add(number int, t time.Time, data []byte, origLen int, rule string) error {
	if p.pending && p.number == number {
		for _, r := range p.ruleNames {
			if r == rule {
				return nil
			}
		}
		p.ruleNames = append(p.ruleNames, rule)
		return nil
	}
	if err := p.writePending(); err != nil {
		return err
	}
	n := min(len(data), p.snap)
	p.pending, p.number, p.time, p.origLen = true, number, t, max(origLen, len(data))
	p.data = append(p.data[:0], data[:n]...)
	p.ruleNames = append(p.ruleNames[:0], rule)
	return nil
}

func (p *Pcapng) writePending() error {
	if !p.pending {
		return nil
	}
	p.pending = false
	ci := gopacket.CaptureInfo{Timestamp: p.time, CaptureLength: len(p.data), Length: p.origLen}
	opts := pcapgo.NgPacketOptions{Comments: []string{"hdrlog: " + strings.Join(p.ruleNames, ", ")}}
	if err := p.w.WritePacketWithOptions(ci, p.data, opts); err != nil {
		return fmt.Errorf("write frame %d: %w", p.number, err)
	}
	p.Frames++
	return nil
}

// Close writes the last frame and closes the file.
func (p *Pcapng) Close() error {
	err := p.writePending()
	if ferr := p.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}
