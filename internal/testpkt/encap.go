package testpkt

import "encoding/binary"

// Headers that follow a frame's layers as payload bytes: EtherType or IP
// protocol numbers name them (EtherType(EtherTypeARP), Proto(ProtoSCTP)),
// and UDP ports for VXLAN.

// EtherType and IP protocol numbers of the headers built here.
const (
	ProtoSCTP = 132
	ProtoGRE  = 47
	// PortVXLAN is VXLAN's UDP port (RFC 7348).
	PortVXLAN = 4789
)

// ARP returns an ARP packet for IPv4 over Ethernet (hardware type 1,
// protocol 0x0800, sizes 6 and 4): op 1 is a request, 2 a reply.
func ARP(op uint16, senderMAC, senderIP, targetMAC, targetIP string) []byte {
	b := make([]byte, 8, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	sm, si, tm, ti := parseMAC(senderMAC), parseIPv4(senderIP), parseMAC(targetMAC), parseIPv4(targetIP)
	b = append(b, sm[:]...)
	b = append(b, si[:]...)
	b = append(b, tm[:]...)
	return append(b, ti[:]...)
}

// SCTP returns an SCTP common header (checksum 0) followed by chunks.
func SCTP(sport, dport uint16, vtag uint32, chunks []byte) []byte {
	b := make([]byte, 12, 12+len(chunks))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], vtag)
	return append(b, chunks...)
}

// GRE returns a GRE header without optional fields (RFC 2784) carrying
// proto (an EtherType), followed by payload.
func GRE(proto uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint16(b[2:], proto)
	return append(b, payload...)
}

// VXLAN returns a VXLAN header with the VNI-valid flag and vni, followed by
// the encapsulated frame.
func VXLAN(vni uint32, frame []byte) []byte {
	if vni >= 1<<24 {
		panicf("VXLAN VNI %d does not fit in 24 bits", vni)
	}
	b := make([]byte, 8, 8+len(frame))
	b[0] = 0x08
	binary.BigEndian.PutUint32(b[4:], vni<<8)
	return append(b, frame...)
}
