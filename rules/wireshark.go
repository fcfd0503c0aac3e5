package rules

import (
	_ "embed"
	"strings"
)

// wireshark_fields.tsv lists Wireshark's fields of the protocols hdrlog
// decodes (name, type, display base), from `tshark -G fields` (make
// wireshark-fields). It lets the checker tell "a Wireshark field hdrlog does
// not offer" from "a name that does not exist".
//
//go:embed wireshark_fields.tsv
var wiresharkFieldsTSV string

var wiresharkFields = func() map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(wiresharkFieldsTSV, "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) >= 2 && cols[0] != "" {
			m[cols[0]] = cols[1]
		}
	}
	return m
}()

// IsWiresharkField reports whether Wireshark knows a field by this name.
func IsWiresharkField(name string) bool {
	_, ok := wiresharkFields[name]
	return ok
}

// differs explains Wireshark fields whose meaning hdrlog cannot give from a
// single packet, and what to use instead.
var differs = map[string]string{
	"tcp.seq":             "Wireshark's tcp.seq is relative to the connection's first sequence number; hdrlog sees single packets: use tcp.seq_raw",
	"tcp.ack":             "Wireshark's tcp.ack is relative to the connection's first sequence number; hdrlog sees single packets: use tcp.ack_raw",
	"tcp.nxtseq":          "tcp.nxtseq is relative to the connection in Wireshark; hdrlog sees single packets: log tcp.seq_raw and tcp.len",
	"tcp.window_size":     "tcp.window_size is scaled by the window scale of the handshake; hdrlog sees single packets: use tcp.window_size_value",
	"tcp.stream":          "tcp.stream numbers connections across a capture; hdrlog sees single packets: log the addresses and ports",
	"udp.stream":          "udp.stream numbers conversations across a capture; hdrlog sees single packets: log the addresses and ports",
	"tcp.flags.str":       "tcp.flags.str is a rendering; log tcp.flags (or single tcp.flags.* bits)",
	"frame.time":          "every record carries the capture time in its \"time\" member",
	"frame.time_epoch":    "every record carries the capture time in its \"time\" member",
	"frame.cap_len":       "hdrlog sees the whole frame the kernel holds: use frame.len",
	"frame.number":        "hdrlog test adds the frame number to each record as \"frame\"",
	"ip.host":             "host names are not resolved in the kernel: compare ip.addr with an address or CIDR",
	"ip.src_host":         "host names are not resolved in the kernel: use ip.src",
	"ip.dst_host":         "host names are not resolved in the kernel: use ip.dst",
	"ipv6.host":           "host names are not resolved in the kernel: compare ipv6.addr with an address or prefix",
	"ip.checksum":         "checksums are not read: offloading makes them meaningless at the hook",
	"tcp.checksum":        "checksums are not read: offloading makes them meaningless at the hook",
	"udp.checksum":        "checksums are not read: offloading makes them meaningless at the hook",
	"eth.len":             "802.3 length frames are not decoded; eth.type is absent on them",
	"ipv6.fraghdr.offset": "extension-header fields are not offered yet; the IPv6 chain is walked to find the payload",
}

// unsupportedHint returns why a known Wireshark field is not offered.
func unsupportedHint(name string) (string, bool) {
	if h, ok := differs[name]; ok {
		return h, true
	}
	if IsWiresharkField(name) {
		return "", true
	}
	return "", false
}
