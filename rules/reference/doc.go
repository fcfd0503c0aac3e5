// Package reference is the executable specification of a rule set: a pure-Go
// evaluator that says, for one frame, which rules match and what they log.
//
// It is written independently of the compiler. Frames are decoded with
// gopacket's layer decoders, header by header (decode.go); fields are mapped
// to decoded values by name (fields.go), never through the catalogue's
// offsets, masks and shifts, which are the compiler's business; predicates
// are evaluated over those values (eval.go). The kernel programs the
// compiler generates and this package must produce the same events for
// every frame: the differential tests in runtime enforce it, and tshark is
// the third opinion.
//
// Where the semantics need something gopacket does not decode, or refuse a
// header gopacket rejects, the piece is decoded by hand, next to the
// gopacket call, with the reason. The rules of presence (which header is
// present in which frame) follow the documentation of compiler/parse.go and
// of the field catalogue:
//
//   - Ethernet: 14 bytes. eth.type is absent when the type/length field is
//     below 0x0600 (an 802.3 length).
//   - VLAN: up to two tags, each 0x8100 or 0x88a8, 4 bytes each, inline (as
//     in captures and test runs; a live tc ingress hook reads the outer tag
//     from skb metadata, which this package does not model).
//   - IPv4: ethertype 0x0800 after the tags, 20 bytes present, version 4,
//     header length ≥ 20; options need not be present. No transport layer
//     when ip.len (if not 0) is below the header length, or in a non-first
//     fragment.
//   - IPv6: ethertype 0x86dd, 40 bytes, version 6; the extension chain
//     (hop-by-hop, routing, destination options, fragment, AH) is walked on
//     the frame's bytes, not bounded by the payload length, each header
//     needing its first 8 bytes; a non-first fragment has no transport layer;
//     at most rules.MaxExtHeaders extension headers are walked.
//   - TCP 20, UDP 8, ICMP 8 (over IPv4 only), ICMPv6 4 bytes (over IPv6 only),
//     at the end of the IP header and its extensions, in the frame and
//     within the IP payload the length fields state (ip.len less the IPv4
//     header length; ipv6.plen less the extension headers), so that no field
//     comes from an Ethernet trailer. A length field of 0 (TSO captures,
//     jumbograms) states nothing and limits nothing.
//   - tcp.len: that IP payload length, at most the frame's length on the
//     wire (frame.len) from the TCP header on, less the TCP header length
//     (as Wireshark: a 54-byte frame saying ip.len 65535 has tcp.len 0);
//     absent when ip.len or ipv6.plen is 0, when the TCP header length is
//     below 20, or when the result would be negative.
//
// A field that is absent makes every comparison on it false; a boolean's
// value is 1 when any of its bits is set (tcp.flags.res has three), as in
// Wireshark.
//
// The fields decoded from the payload (HTTP, DNS, TLS) have their own
// statement of meaning, at the top of l7.go. An evaluator keeps the one
// piece of state they need between frames: ClientHellos held for the next
// segment of their flow; evaluate a capture's frames in order with one
// evaluator.
package reference
