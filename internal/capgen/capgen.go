// Package capgen writes large synthetic captures of small TCP and UDP
// frames, fast and deterministically, for replay benchmarks and for tests
// that need a capture bigger than their memory.
package capgen

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand/v2"
)

// Options shape a generated capture.
type Options struct {
	Frames int    // frames to write
	Seed   uint64 // same seed, same capture
	// SSHSynEvery makes every n-th frame (on average) an IPv4 SYN to port
	// 22 from a public address (what examples/rules/ssh_inbound.rules
	// logs; no other frame is); 0: 18 (about 5.5 %).
	SSHSynEvery int
	// Payload is the largest payload of a frame (bytes, random up to it);
	// 0: 16.
	Payload int
}

// WritePcap writes a classic pcap file (microsecond times, Ethernet) of
// opts.Frames frames to w and returns the number of SSH SYNs it holds.
func WritePcap(w io.Writer, opts Options) (sshSyns int, err error) {
	if opts.SSHSynEvery <= 0 {
		opts.SSHSynEvery = 18
	}
	if opts.Payload <= 0 {
		opts.Payload = 16
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	if _, err := bw.Write(hdr); err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 16+14+20+20+opts.Payload)
	sec, usec := uint32(1_700_000_000), uint32(0)
	for i := 0; i < opts.Frames; i++ {
		frame := buf[16:]
		syn := rng.IntN(opts.SSHSynEvery) == 0
		n := frameInto(frame, rng, syn, opts.Payload)
		if syn {
			sshSyns++
		}
		usec += 1 + uint32(rng.IntN(50))
		if usec >= 1_000_000 {
			sec, usec = sec+1, usec-1_000_000
		}
		binary.LittleEndian.PutUint32(buf[0:], sec)
		binary.LittleEndian.PutUint32(buf[4:], usec)
		binary.LittleEndian.PutUint32(buf[8:], uint32(n))
		binary.LittleEndian.PutUint32(buf[12:], uint32(n))
		if _, err := bw.Write(buf[:16+n]); err != nil {
			return sshSyns, err
		}
	}
	return sshSyns, bw.Flush()
}

// frameInto writes one Ethernet/IPv4 frame into b and returns its length:
// an SSH SYN from a public address when syn, else a TCP segment or a UDP
// datagram between random ports.
func frameInto(b []byte, rng *rand.Rand, syn bool, maxPayload int) int {
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	payload := rng.IntN(maxPayload + 1)
	proto, l4len := byte(6), 20
	if !syn && rng.IntN(2) == 0 {
		proto, l4len = 17, 8
	}
	if syn {
		payload = 0
	}
	total := 20 + l4len + payload
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	binary.BigEndian.PutUint16(ip[4:], uint16(rng.Uint32()))
	ip[6], ip[7] = 0x40, 0
	ip[8], ip[9] = byte(32+rng.IntN(96)), proto
	ip[10], ip[11] = 0, 0
	src := rng.Uint32()
	if !syn && rng.IntN(2) == 0 {
		src = 0x0a000000 | src&0xffffff // 10/8
	} else if syn && private(src) {
		src = 0xc6336400 | src&0xff // 198.51.100/24
	}
	binary.BigEndian.PutUint32(ip[12:], src)
	binary.BigEndian.PutUint32(ip[16:], 0x0a000001)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	l4 := ip[20:]
	sport := uint16(1024 + rng.IntN(60000))
	dport := uint16(1 + rng.IntN(1023))
	if dport == 22 && !syn {
		dport = 23
	}
	if syn {
		dport = 22
	}
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	if proto == 17 {
		binary.BigEndian.PutUint16(l4[4:], uint16(8+payload))
		l4[6], l4[7] = 0, 0
	} else {
		binary.BigEndian.PutUint32(l4[4:], rng.Uint32())
		binary.BigEndian.PutUint32(l4[8:], rng.Uint32())
		l4[12] = 5 << 4
		l4[13] = 0x10 | 0x08 // ACK PSH
		if syn {
			l4[13] = 0x02
		}
		binary.BigEndian.PutUint16(l4[14:], 64240)
		l4[16], l4[17], l4[18], l4[19] = 0, 0, 0, 0
	}
	p := l4[l4len : l4len+payload]
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return 14 + total
}

// private reports whether an IPv4 address is in a range
// examples/rules/ssh_inbound.rules leaves out (RFC 1918), or not a
// unicast source (0/8, multicast and above).
func private(a uint32) bool {
	return a>>24 == 10 || a>>20 == 0xac1 || a>>16 == 0xc0a8 || a>>24 == 0 || a>>24 >= 224
}
