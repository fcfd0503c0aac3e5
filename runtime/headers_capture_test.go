package runtime_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/hdrlog/hdrlog/internal/testpkt"
)

var headersRecord = flag.Bool("headers.record", false, "rewrite testdata/captures/hdrlog/headers.pcap")

// headersCapture is testdata/captures/hdrlog/headers.pcap: frames of the
// headers of the header table that the tcpdump and libpcap captures lack
// (ARP, SCTP, the ICMPv6 echo and neighbour discovery bodies, GRE and VXLAN
// beside those of various_gre.pcap and vxlan.pcap), some cut short or with a
// guard off, for TestAgainstWireshark.
func headersCapture() [][]byte {
	arp := testpkt.ARP(1, "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")
	odd := append([]byte(nil), arp...)
	odd[4] = 8 // hardware size 8: not IPv4 over Ethernet
	target := [16]byte{0xfe, 0x80, 15: 2}
	inner := testpkt.New().IPv4("192.168.0.1", "192.168.0.2").ICMP(8, 0).Bytes()
	return [][]byte{
		testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(arp).PadTo(testpkt.EthMinLen).Bytes(),
		testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 5).EtherType(testpkt.EtherTypeARP).
			Payload(testpkt.ARP(2, "02:00:00:00:00:02", "10.0.0.2", "02:00:00:00:00:01", "10.0.0.1")).Bytes(),
		testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(odd).Bytes(),
		testpkt.New().EtherType(testpkt.EtherTypeARP).Payload(arp[:27]).Bytes(),
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Proto(testpkt.ProtoSCTP).
			Payload(testpkt.SCTP(2905, 36412, 0xdeadbeef, []byte{1, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0x10, 0, 0, 1, 0, 1, 0, 0, 0, 1})).Bytes(),
		testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Proto(testpkt.ProtoSCTP).
			Payload(testpkt.SCTP(5000, 38412, 7, []byte{14, 0, 0, 4})).Bytes(),
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Proto(testpkt.ProtoGRE).Payload(testpkt.GRE(0x880b, make([]byte, 8))).Bytes(),
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(51000, testpkt.PortVXLAN).Payload(testpkt.VXLAN(0xabcdef, inner)).Bytes(),
		testpkt.New().IPv6("fe80::1", "ff02::1").HopLimit(255).ICMPv6(128, 0).Echo(0x1234, 7).Payload([]byte("ping")).Bytes(),
		testpkt.New().IPv6("fe80::2", "fe80::1").HopLimit(64).ICMPv6(129, 0).Echo(0x1234, 7).Payload([]byte("ping")).Bytes(),
		testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(135, 0).Rest(0).
			Payload(target[:]).Payload([]byte{1, 1, 2, 0, 0, 0, 0, 1}).Bytes(),
		testpkt.New().IPv6("fe80::2", "fe80::1").HopLimit(255).ICMPv6(136, 0).Rest(0x60000000).
			Payload(target[:]).Payload([]byte{2, 1, 2, 0, 0, 0, 0, 2}).Bytes(),
		testpkt.New().IPv6("fe80::1", "ff02::1:ff00:2").HopLimit(255).ICMPv6(135, 0).Rest(0).Payload(target[:12]).Bytes(),
	}
}

// TestHeadersCapture: the capture in testdata is what headersCapture
// builds (-headers.record rewrites it).
func TestHeadersCapture(t *testing.T) {
	var frames []testFrame
	for _, b := range headersCapture() {
		frames = append(frames, testFrame{data: b})
	}
	built, err := os.ReadFile(writePcap(t, layers.LinkTypeEthernet, frames...))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "testdata", "captures", "hdrlog", "headers.pcap")
	if *headersRecord {
		if err := os.WriteFile(path, built, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./runtime -run TestHeadersCapture -headers.record writes it)", err)
	}
	if !bytes.Equal(have, built) {
		t.Errorf("%s is not what headersCapture builds (run with -headers.record and review)", path)
	}
}
