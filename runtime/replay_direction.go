package runtime

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/rules"
)

// Direction is which way a frame crossed the capturing interface. A live
// rule sees a frame at tc ingress and XDP when it came in, at tc egress when
// it went out; a replay sends each frame to the hooks of its direction, so
// that it gives the events `run` gave on the same traffic.
type Direction int

const (
	DirUnknown Direction = iota // not known: the frame goes through every hook
	DirIn                       // received: tc ingress and XDP
	DirOut                      // sent: tc egress
)

func (d Direction) String() string {
	return [...]string{"unknown", "in", "out"}[d]
}

// ParseDirection reads "in" or "out".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "in":
		return DirIn, nil
	case "out":
		return DirOut, nil
	}
	return DirUnknown, fmt.Errorf("direction %q: want in or out", s)
}

// hookSees reports whether hook h sees a frame of direction d.
func hookSees(h rules.Hook, d Direction) bool {
	switch d {
	case DirIn:
		return h == rules.HookTCIngress || h == rules.HookXDP
	case DirOut:
		return h == rules.HookTCEgress
	}
	return true
}

// epbDirection is the direction a pcapng enhanced packet block's epb_flags
// option gives (bits 0-1: 1 inbound, 2 outbound).
func epbDirection(opts pcapgo.NgPacketOptions) Direction {
	if opts.Flags == nil {
		return DirUnknown
	}
	switch opts.Flags.Direction & pcapgo.NgEpbFlagDirectionMask {
	case pcapgo.NgEpbFlagDirectionInbound:
		return DirIn
	case pcapgo.NgEpbFlagDirectionOutbound:
		return DirOut
	}
	return DirUnknown
}

// Linux cooked captures (tcpdump -i any, -y LINUX_SLL2) replace the
// link-layer header with their own, which says which way the packet went.
// The programs expect Ethernet, so a cooked frame is replayed as the
// Ethernet frame the kernel's hooks see: a 14-byte header in place of the
// cooked one, with the cooked header's protocol as the Ethernet type and the
// payload unchanged. The cooked header keeps one link-layer address, the
// sender's: it becomes eth.src (when it is 6 bytes); eth.dst is not in the
// capture and becomes ff:ff:ff:ff:ff:ff for a broadcast, 00:00:00:00:00:00
// otherwise. frame.len is the rebuilt frame's (the original length less the
// cooked header, plus 14), the length the hooks see.
const (
	sllHeaderLen  = 16 // LINKTYPE_LINUX_SLL
	sll2HeaderLen = 20 // LINKTYPE_LINUX_SLL2
	ethHeaderLen  = 14
)

// Packet types of the cooked headers (PACKET_HOST ... PACKET_OUTGOING).
var sllPacketDirection = map[uint16]Direction{
	0: DirIn, // to us
	1: DirIn, // broadcast
	2: DirIn, // multicast
	3: DirIn, // to another host (promiscuous)
	4: DirOut,
}

const sllBroadcast = 1

// cooked is what a cooked header says.
type cooked struct {
	pktType  uint16
	addr     []byte
	protocol uint16
}

func parseCooked(lt layers.LinkType, b []byte) (cooked, int, bool) {
	switch lt {
	case layers.LinkTypeLinuxSLL:
		if len(b) < sllHeaderLen {
			return cooked{}, 0, false
		}
		n := min(int(binary.BigEndian.Uint16(b[4:6])), 8)
		return cooked{pktType: binary.BigEndian.Uint16(b[0:2]), addr: b[6 : 6+n], protocol: binary.BigEndian.Uint16(b[14:16])}, sllHeaderLen, true
	case layers.LinkTypeLinuxSLL2:
		if len(b) < sll2HeaderLen {
			return cooked{}, 0, false
		}
		n := min(int(b[11]), 8)
		return cooked{pktType: uint16(b[10]), addr: b[12 : 12+n], protocol: binary.BigEndian.Uint16(b[0:2])}, sll2HeaderLen, true
	}
	return cooked{}, 0, false
}

// uncook turns a cooked frame into the Ethernet frame the hooks see, and
// gives its direction. A frame shorter than its cooked header becomes an
// empty frame (the replay skips it, with the reason).
func uncook(lt layers.LinkType, fr *CapturedFrame) {
	c, hlen, ok := parseCooked(lt, fr.Data)
	if !ok {
		fr.Data, fr.OrigLen = fr.Data[:0], 0
		return
	}
	eth := make([]byte, ethHeaderLen, ethHeaderLen+len(fr.Data)-hlen)
	if c.pktType == sllBroadcast {
		copy(eth[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	if len(c.addr) == 6 {
		copy(eth[6:12], c.addr)
	}
	binary.BigEndian.PutUint16(eth[12:14], c.protocol)
	fr.Data = append(eth, fr.Data[hlen:]...)
	fr.OrigLen = fr.OrigLen - hlen + ethHeaderLen
	if d, ok := sllPacketDirection[c.pktType]; ok {
		fr.Dir = d
	}
}

// isCooked reports whether frames of link type lt are Linux cooked.
func isCooked(lt layers.LinkType) bool {
	return lt == layers.LinkTypeLinuxSLL || lt == layers.LinkTypeLinuxSLL2
}

// Local says which addresses are this host's, to give a direction to frames
// whose capture does not: a frame from a local address and to a foreign one
// went out, one from a foreign address to a local one came in; any other
// (both local, as on loopback, or neither) has no known direction.
type Local struct {
	MACs     []net.HardwareAddr
	Prefixes []netip.Prefix
}

// IsZero reports whether no local address is given.
func (l Local) IsZero() bool { return len(l.MACs) == 0 && len(l.Prefixes) == 0 }

// Direction derives a frame's direction from its addresses: the IP
// addresses when prefixes are given and the frame has an IP header, else the
// MAC addresses (a broadcast or multicast from a foreign MAC came in).
func (l Local) Direction(frame []byte) Direction {
	if len(frame) < ethHeaderLen {
		return DirUnknown
	}
	if len(l.Prefixes) > 0 {
		if src, dst, ok := ipAddrs(frame); ok {
			return fromTo(l.inPrefixes(src), l.inPrefixes(dst))
		}
	}
	if len(l.MACs) > 0 {
		dst, src := net.HardwareAddr(frame[0:6]), net.HardwareAddr(frame[6:12])
		switch {
		case l.isMAC(src) && !l.isMAC(dst):
			return DirOut // a broadcast or multicast included
		case !l.isMAC(src) && (l.isMAC(dst) || dst[0]&1 == 1):
			return DirIn
		}
	}
	return DirUnknown
}

func fromTo(srcLocal, dstLocal bool) Direction {
	switch {
	case srcLocal && !dstLocal:
		return DirOut
	case dstLocal && !srcLocal:
		return DirIn
	}
	return DirUnknown
}

func (l Local) isMAC(a net.HardwareAddr) bool {
	for _, m := range l.MACs {
		if string(m) == string(a) {
			return true
		}
	}
	return false
}

func (l Local) inPrefixes(a netip.Addr) bool {
	for _, p := range l.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipAddrs returns the IP addresses of an Ethernet frame, past up to two VLAN
// tags.
func ipAddrs(frame []byte) (src, dst netip.Addr, ok bool) {
	off, typ := 12, binary.BigEndian.Uint16(frame[12:14])
	for i := 0; i < 2 && (typ == 0x8100 || typ == 0x88a8) && len(frame) >= off+6; i++ {
		off += 4
		typ = binary.BigEndian.Uint16(frame[off : off+2])
	}
	l3 := frame[off+2:]
	switch {
	case typ == 0x0800 && len(l3) >= 20:
		return netip.AddrFrom4([4]byte(l3[12:16])), netip.AddrFrom4([4]byte(l3[16:20])), true
	case typ == 0x86dd && len(l3) >= 40:
		return netip.AddrFrom16([16]byte(l3[8:24])), netip.AddrFrom16([16]byte(l3[24:40])), true
	}
	return netip.Addr{}, netip.Addr{}, false
}
