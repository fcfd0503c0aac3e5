package reference

import (
	"encoding/binary"
	"net"

	"github.com/gopacket/gopacket/layers"
)

// Value is one occurrence of a field in a packet.
type Value struct {
	Present bool
	// U holds integers, and booleans as 0 or 1.
	U uint64
	// Bytes holds addresses, in network order: 4 bytes for IPv4, 16 for IPv6,
	// 6 for a MAC; strings (a list's elements comma-joined).
	Bytes []byte
	// Elems are the elements of a list field (rules.L7Field.List): a test
	// holds when it holds for one of them.
	Elems [][]byte
}

// accessor reads one field from a decoded packet; layer is 1-based and
// matters only for the VLAN fields.
type accessor func(p *Packet, layer int) Value

func num[T ~uint8 | ~uint16 | ~uint32 | ~int](v T) Value { return Value{Present: true, U: uint64(v)} }

func flag(b bool) Value {
	if b {
		return Value{Present: true, U: 1}
	}
	return Value{Present: true}
}

func addr(a net.IP) Value { return Value{Present: true, Bytes: []byte(a)} }

func mac(a net.HardwareAddr) Value { return Value{Present: true, Bytes: []byte(a)} }

func eth(f func(*layers.Ethernet) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.Eth == nil {
			return Value{}
		}
		return f(p.Eth)
	}
}

func vlan(f func(*layers.Dot1Q) Value) accessor {
	return func(p *Packet, layer int) Value {
		if layer > len(p.VLAN) {
			return Value{}
		}
		return f(p.VLAN[layer-1])
	}
}

func ip4(f func(*layers.IPv4) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.IPv4 == nil {
			return Value{}
		}
		return f(p.IPv4)
	}
}

func ip6(f func(*layers.IPv6) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.IPv6 == nil {
			return Value{}
		}
		return f(p.IPv6)
	}
}

func tcp(f func(*layers.TCP) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.TCP == nil {
			return Value{}
		}
		return f(p.TCP)
	}
}

func udp(f func(*layers.UDP) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.UDP == nil {
			return Value{}
		}
		return f(p.UDP)
	}
}

// tcpFlags is Wireshark's tcp.flags: the reserved bits, then AE (NS), CWR,
// ECE, URG, ACK, PSH, RST, SYN, FIN.
func tcpFlags(p *Packet) Value {
	if p.TCP == nil {
		return Value{}
	}
	t := p.TCP
	v := uint64(p.TCPRes) << 9
	for i, b := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR, t.NS} {
		if b {
			v |= 1 << i
		}
	}
	return Value{Present: true, U: v}
}

// fields maps every catalogue field that has a value to where the decoded
// packet holds it. Protocols and either-direction fields have none: the
// checker expands the latter, and a protocol is a presence test.
var fields = map[string]accessor{
	"frame.len": func(p *Packet, _ int) Value { return num(p.Len) },
	"frame":     func(p *Packet, _ int) Value { return byteField(p.Frame) },

	"eth.dst": eth(func(e *layers.Ethernet) Value { return mac(e.DstMAC) }),
	"eth.src": eth(func(e *layers.Ethernet) Value { return mac(e.SrcMAC) }),
	"eth.type": func(p *Packet, _ int) Value {
		if p.Eth == nil || !p.HasEthType {
			return Value{}
		}
		return num(p.EthType)
	},

	"vlan.priority": vlan(func(d *layers.Dot1Q) Value { return num(d.Priority) }),
	"vlan.dei":      vlan(func(d *layers.Dot1Q) Value { return flag(d.DropEligible) }),
	"vlan.id":       vlan(func(d *layers.Dot1Q) Value { return num(d.VLANIdentifier) }),
	"vlan.etype":    vlan(func(d *layers.Dot1Q) Value { return num(d.Type) }),

	"ip.version": func(p *Packet, _ int) Value {
		// IPv6 headers carry it too, as in Wireshark.
		switch {
		case p.IPv4 != nil:
			return num(p.IPv4.Version)
		case p.IPv6 != nil:
			return num(p.IPv6.Version)
		}
		return Value{}
	},
	"ip.hdr_len":      ip4(func(ip *layers.IPv4) Value { return num(int(ip.IHL) * 4) }),
	"ip.dsfield":      ip4(func(ip *layers.IPv4) Value { return num(ip.TOS) }),
	"ip.dsfield.dscp": ip4(func(ip *layers.IPv4) Value { return num(ip.TOS >> 2) }),
	"ip.dsfield.ecn":  ip4(func(ip *layers.IPv4) Value { return num(ip.TOS & 3) }),
	"ip.len":          ip4(func(ip *layers.IPv4) Value { return num(ip.Length) }),
	"ip.id":           ip4(func(ip *layers.IPv4) Value { return num(ip.Id) }),
	"ip.flags":        ip4(func(ip *layers.IPv4) Value { return num(ip.Flags) }),
	"ip.flags.rb":     ip4(func(ip *layers.IPv4) Value { return flag(ip.Flags&layers.IPv4EvilBit != 0) }),
	"ip.flags.df":     ip4(func(ip *layers.IPv4) Value { return flag(ip.Flags&layers.IPv4DontFragment != 0) }),
	"ip.flags.mf":     ip4(func(ip *layers.IPv4) Value { return flag(ip.Flags&layers.IPv4MoreFragments != 0) }),
	"ip.frag_offset":  ip4(func(ip *layers.IPv4) Value { return num(ip.FragOffset) }),
	"ip.ttl":          ip4(func(ip *layers.IPv4) Value { return num(ip.TTL) }),
	"ip.proto":        ip4(func(ip *layers.IPv4) Value { return num(ip.Protocol) }),
	"ip.src":          ip4(func(ip *layers.IPv4) Value { return addr(ip.SrcIP) }),
	"ip.dst":          ip4(func(ip *layers.IPv4) Value { return addr(ip.DstIP) }),

	"ipv6.version":     ip6(func(ip *layers.IPv6) Value { return num(ip.Version) }),
	"ipv6.tclass":      ip6(func(ip *layers.IPv6) Value { return num(ip.TrafficClass) }),
	"ipv6.tclass.dscp": ip6(func(ip *layers.IPv6) Value { return num(ip.TrafficClass >> 2) }),
	"ipv6.tclass.ecn":  ip6(func(ip *layers.IPv6) Value { return num(ip.TrafficClass & 3) }),
	"ipv6.flow":        ip6(func(ip *layers.IPv6) Value { return num(ip.FlowLabel) }),
	"ipv6.plen":        ip6(func(ip *layers.IPv6) Value { return num(ip.Length) }),
	"ipv6.nxt":         ip6(func(ip *layers.IPv6) Value { return num(ip.NextHeader) }),
	"ipv6.hlim":        ip6(func(ip *layers.IPv6) Value { return num(ip.HopLimit) }),
	"ipv6.src":         ip6(func(ip *layers.IPv6) Value { return addr(ip.SrcIP) }),
	"ipv6.dst":         ip6(func(ip *layers.IPv6) Value { return addr(ip.DstIP) }),

	"tcp.srcport":           tcp(func(t *layers.TCP) Value { return num(t.SrcPort) }),
	"tcp.dstport":           tcp(func(t *layers.TCP) Value { return num(t.DstPort) }),
	"tcp.seq_raw":           tcp(func(t *layers.TCP) Value { return num(t.Seq) }),
	"tcp.ack_raw":           tcp(func(t *layers.TCP) Value { return num(t.Ack) }),
	"tcp.hdr_len":           tcp(func(t *layers.TCP) Value { return num(int(t.DataOffset) * 4) }),
	"tcp.flags":             func(p *Packet, _ int) Value { return tcpFlags(p) },
	"tcp.flags.res":         func(p *Packet, _ int) Value { return tcpRes(p) },
	"tcp.flags.ae":          tcp(func(t *layers.TCP) Value { return flag(t.NS) }),
	"tcp.flags.cwr":         tcp(func(t *layers.TCP) Value { return flag(t.CWR) }),
	"tcp.flags.ece":         tcp(func(t *layers.TCP) Value { return flag(t.ECE) }),
	"tcp.flags.urg":         tcp(func(t *layers.TCP) Value { return flag(t.URG) }),
	"tcp.flags.ack":         tcp(func(t *layers.TCP) Value { return flag(t.ACK) }),
	"tcp.flags.push":        tcp(func(t *layers.TCP) Value { return flag(t.PSH) }),
	"tcp.flags.reset":       tcp(func(t *layers.TCP) Value { return flag(t.RST) }),
	"tcp.flags.syn":         tcp(func(t *layers.TCP) Value { return flag(t.SYN) }),
	"tcp.flags.fin":         tcp(func(t *layers.TCP) Value { return flag(t.FIN) }),
	"tcp.window_size_value": tcp(func(t *layers.TCP) Value { return num(t.Window) }),
	"tcp.urgent_pointer":    tcp(func(t *layers.TCP) Value { return num(t.Urgent) }),
	"tcp.payload": func(p *Packet, _ int) Value {
		// A reset's data is its cause, not payload, in Wireshark
		// (tcp.reset_cause).
		if p.TCP == nil || p.TCP.RST {
			return Value{}
		}
		return byteField(p.payload())
	},
	"tcp.len": func(p *Packet, _ int) Value {
		if p.TCP == nil || !p.HasTCPLen {
			return Value{}
		}
		return num(p.TCPLen)
	},

	"udp.srcport": udp(func(u *layers.UDP) Value { return num(u.SrcPort) }),
	"udp.dstport": udp(func(u *layers.UDP) Value { return num(u.DstPort) }),
	"udp.length":  udp(func(u *layers.UDP) Value { return num(u.Length) }),
	"udp.payload": func(p *Packet, _ int) Value {
		if p.UDP == nil {
			return Value{}
		}
		return byteField(p.payload())
	},

	"icmp.type": func(p *Packet, _ int) Value {
		if p.ICMP == nil {
			return Value{}
		}
		return num(p.ICMP.TypeCode.Type())
	},
	"icmp.code": func(p *Packet, _ int) Value {
		if p.ICMP == nil {
			return Value{}
		}
		return num(p.ICMP.TypeCode.Code())
	},
	"icmpv6.type": func(p *Packet, _ int) Value {
		if p.ICMPv6 == nil {
			return Value{}
		}
		return num(p.ICMPv6.TypeCode.Type())
	},
	"icmpv6.code": func(p *Packet, _ int) Value {
		if p.ICMPv6 == nil {
			return Value{}
		}
		return num(p.ICMPv6.TypeCode.Code())
	},
}

// decoded returns an accessor that reads a decoded header when it is there.
func decoded[T any](get func(*Packet) *T, f func(*T) Value) accessor {
	return func(p *Packet, _ int) Value {
		if h := get(p); h != nil {
			return f(h)
		}
		return Value{}
	}
}

func arp(f func(*layers.ARP) Value) accessor {
	return decoded(func(p *Packet) *layers.ARP { return p.ARP }, f)
}

func sctp(f func(*layers.SCTP) Value) accessor {
	return decoded(func(p *Packet) *layers.SCTP { return p.SCTP }, f)
}

func na(f func(*layers.ICMPv6NeighborAdvertisement) Value) accessor {
	return decoded(func(p *Packet) *layers.ICMPv6NeighborAdvertisement { return p.NA }, f)
}

func vxlan(f func(hdr []byte) Value) accessor {
	return func(p *Packet, _ int) Value {
		if p.VXLAN == nil {
			return Value{}
		}
		return f(p.VXLAN)
	}
}

func init() {
	for name, a := range map[string]accessor{
		"arp.hw.type":        arp(func(a *layers.ARP) Value { return num(uint16(a.AddrType)) }),
		"arp.proto.type":     arp(func(a *layers.ARP) Value { return num(uint16(a.Protocol)) }),
		"arp.hw.size":        arp(func(a *layers.ARP) Value { return num(a.HwAddressSize) }),
		"arp.proto.size":     arp(func(a *layers.ARP) Value { return num(a.ProtAddressSize) }),
		"arp.opcode":         arp(func(a *layers.ARP) Value { return num(a.Operation) }),
		"arp.src.hw_mac":     arp(func(a *layers.ARP) Value { return Value{Present: true, Bytes: a.SourceHwAddress} }),
		"arp.src.proto_ipv4": arp(func(a *layers.ARP) Value { return Value{Present: true, Bytes: a.SourceProtAddress} }),
		"arp.dst.hw_mac":     arp(func(a *layers.ARP) Value { return Value{Present: true, Bytes: a.DstHwAddress} }),
		"arp.dst.proto_ipv4": arp(func(a *layers.ARP) Value { return Value{Present: true, Bytes: a.DstProtAddress} }),

		"icmpv6.echo.identifier": decoded(func(p *Packet) *layers.ICMPv6Echo { return p.ICMPv6Echo },
			func(e *layers.ICMPv6Echo) Value { return num(e.Identifier) }),
		"icmpv6.echo.sequence_number": decoded(func(p *Packet) *layers.ICMPv6Echo { return p.ICMPv6Echo },
			func(e *layers.ICMPv6Echo) Value { return num(e.SeqNumber) }),
		"icmpv6.nd.ns.target_address": decoded(func(p *Packet) *layers.ICMPv6NeighborSolicitation { return p.NS },
			func(ns *layers.ICMPv6NeighborSolicitation) Value { return addr(ns.TargetAddress) }),
		"icmpv6.nd.na.flag.r":         na(func(n *layers.ICMPv6NeighborAdvertisement) Value { return flag(n.Flags&0x80 != 0) }),
		"icmpv6.nd.na.flag.s":         na(func(n *layers.ICMPv6NeighborAdvertisement) Value { return flag(n.Flags&0x40 != 0) }),
		"icmpv6.nd.na.flag.o":         na(func(n *layers.ICMPv6NeighborAdvertisement) Value { return flag(n.Flags&0x20 != 0) }),
		"icmpv6.nd.na.target_address": na(func(n *layers.ICMPv6NeighborAdvertisement) Value { return addr(n.TargetAddress) }),

		"sctp.srcport":          sctp(func(s *layers.SCTP) Value { return num(s.SrcPort) }),
		"sctp.dstport":          sctp(func(s *layers.SCTP) Value { return num(s.DstPort) }),
		"sctp.verification_tag": sctp(func(s *layers.SCTP) Value { return num(s.VerificationTag) }),

		"gre.proto": func(p *Packet, _ int) Value {
			if !p.GRE {
				return Value{}
			}
			return num(p.GREProto)
		},

		"vxlan.flags": vxlan(func(h []byte) Value { return num(binary.BigEndian.Uint16(h[0:2])) }),
		"vxlan.vni":   vxlan(func(h []byte) Value { return num(binary.BigEndian.Uint32(h[4:8]) >> 8) }),
	} {
		fields[name] = a
	}
	for name, f := range map[string]func(*layers.Dot1Q) Value{
		"ieee8021ad.priority": func(d *layers.Dot1Q) Value { return num(d.Priority) },
		"ieee8021ad.dei": func(d *layers.Dot1Q) Value {
			if d.DropEligible {
				return num(1)
			}
			return num(0)
		},
		"ieee8021ad.id": func(d *layers.Dot1Q) Value { return num(d.VLANIdentifier) },
	} {
		fields[name] = func(p *Packet, _ int) Value {
			if !sTag(p) {
				return Value{}
			}
			return f(p.VLAN[0])
		}
	}
	protocols["ieee8021ad"] = sTag
	protocols["arp"] = func(p *Packet) bool { return p.ARP != nil }
	protocols["sctp"] = func(p *Packet) bool { return p.SCTP != nil }
	protocols["gre"] = func(p *Packet) bool { return p.GRE }
	protocols["vxlan"] = func(p *Packet) bool { return p.VXLAN != nil }
}

// tcpRes is tcp.flags.res, a boolean over three bits: true when any is set.
func tcpRes(p *Packet) Value {
	if p.TCP == nil {
		return Value{}
	}
	return flag(p.TCPRes != 0)
}

// protocols maps every protocol name to its presence in a packet.
var protocols = map[string]func(p *Packet) bool{
	"frame":  func(*Packet) bool { return true },
	"eth":    func(p *Packet) bool { return p.Eth != nil },
	"vlan":   func(p *Packet) bool { return len(p.VLAN) > 0 },
	"ip":     func(p *Packet) bool { return p.IPv4 != nil },
	"ipv6":   func(p *Packet) bool { return p.IPv6 != nil },
	"tcp":    func(p *Packet) bool { return p.TCP != nil },
	"udp":    func(p *Packet) bool { return p.UDP != nil },
	"icmp":   func(p *Packet) bool { return p.ICMP != nil },
	"icmpv6": func(p *Packet) bool { return p.ICMPv6 != nil },
}

// sTag reports whether the outer VLAN tag is an 802.1ad S-tag (TPID
// 0x88a8): Wireshark's ieee8021ad.
func sTag(p *Packet) bool {
	return len(p.VLAN) > 0 && p.HasEthType && p.EthType == uint16(layers.EthernetTypeQinQ)
}

// byteField is a byte field's value: present when it has bytes.
func byteField(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	return Value{Present: true, Bytes: b}
}
