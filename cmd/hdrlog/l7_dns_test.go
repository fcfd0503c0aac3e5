package main

import (
	"bytes"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// DNS responses crafted and written to a capture, through `hdrlog test`
// against tshark: CNAME chains with compression pointers (into the
// question, into the header), AAAA over TCP, NXDOMAIN with an SOA's TTL,
// an OPT record (no TTL), glue addresses in the additional section, A
// records of another class or with more data, mDNS's cache-flush bit.

var l7DNSAnswerFilters = []l7Filter{
	{"dns.flags.response == 1", []string{"dns.id", "dns.flags.rcode", "dns.count.answers", "dns.a", "dns.aaaa", "dns.cname", "dns.resp.ttl"}, false, false},
	{"dns.resp.ttl > 100 && dns.flags.rcode == 0", []string{"dns.resp.ttl", "dns.a"}, false, false},
	{`dns.cname matches "example\\.com$"`, []string{"dns.cname"}, false, false},
	{"dns.aaaa == 2001:db8::/32", []string{"dns.aaaa"}, false, false},
	{"mdns && dns.a", []string{"dns.a", "dns.resp.ttl"}, false, false},
}

func l7DNSAnswerFrames() [][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	addr := func(ip string) []byte { return netip.MustParseAddr(ip).AsSlice() }
	ptr := []byte{0xc0, 12}
	qname := testpkt.DNSName("www.example.com")
	sport := uint16(42000)
	udp := func(p []byte) []byte {
		sport++
		return testpkt.New().IPv4("10.0.0.53", "10.0.0.1").UDP(53, sport).Payload(p).Bytes()
	}
	tcp := func(p []byte) []byte {
		sport++
		return testpkt.New().IPv4("10.0.0.53", "10.0.0.1").TCP(53, sport).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(testpkt.DNSOverTCP(p)).Bytes()
	}
	soa := cat(testpkt.DNSName("example.com"), testpkt.DNSName("hostmaster.example.com"), make([]byte, 20))
	return [][]byte{
		udp(cat(testpkt.DNSMessage(1, 0x8180, 1, 3, qname, 1, 1),
			testpkt.DNSRR(ptr, 5, 1, 300, []byte{3, 'w', 'e', 'b', 0xc0, 16}),
			testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, addr("192.0.2.7")),
			testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, addr("192.0.2.8")))),
		tcp(cat(testpkt.DNSMessage(2, 0x8180, 1, 1, qname, 28, 1), testpkt.DNSRR(ptr, 28, 1, 3600, addr("2001:db8::53")))),
		udp(testpkt.DNSCounts(cat(testpkt.DNSMessage(3, 0x8183, 1, 0, qname, 1, 1), testpkt.DNSRR([]byte{0xc0, 16}, 6, 1, 900, soa)), 1, 0)),
		udp(testpkt.DNSCounts(cat(testpkt.DNSMessage(4, 0x8180, 1, 0, qname, 1, 1), testpkt.DNSRR([]byte{0}, 41, 1232, 0x8000, nil)), 0, 1)),
		udp(testpkt.DNSCounts(cat(testpkt.DNSMessage(5, 0x8100, 1, 0, qname, 1, 1),
			testpkt.DNSRR([]byte{0xc0, 16}, 2, 1, 172800, testpkt.DNSName("ns1.example.com")),
			testpkt.DNSRR(testpkt.DNSName("ns1.example.com"), 1, 1, 172800, addr("192.0.2.53")),
			testpkt.DNSRR([]byte{0}, 41, 1232, 0, nil)), 1, 2)),
		udp(cat(testpkt.DNSMessage(6, 0x8180, 1, 2, qname, 1, 1),
			testpkt.DNSRR(ptr, 1, 3, 7, addr("192.0.2.1")),
			testpkt.DNSRR(ptr, 1, 1, 9, addr("192.0.2.3")))),
		udp(cat(testpkt.DNSMessage(7, 0x8180, 1, 2, qname, 5, 1),
			testpkt.DNSRR(ptr, 5, 1, 1, []byte{1, 'x', 0xc0, 12}),
			testpkt.DNSRR(ptr, 5, 1, 1, []byte{0xc0, 12}))),
		udp(cat(testpkt.DNSMessage(8, 0x8180, 1, 1, qname, 5, 1), testpkt.DNSRR(ptr, 5, 1, 1, []byte{0}))),
		udp(cat(testpkt.DNSMessage(9, 0x8180, 1, 2, qname, 5, 1),
			testpkt.DNSRR(ptr, 5, 1, 200, []byte{2, 'v', '2', 0xc0, 16}),
			testpkt.DNSRR(ptr, 5, 1, 100, []byte{3, 'w', 'e', 'b', 0xc0, 16}))),
		udp(cat(testpkt.DNSMessage(10, 0x8180, 1, 2, qname, 1, 1),
			testpkt.DNSRR(ptr, 1, 1, 7, append(addr("192.0.2.1"), 0)),
			testpkt.DNSRR(ptr, 28, 1, 7, addr("2001:db8::1")))),
		testpkt.New().IPv4("10.0.0.9", "224.0.0.251").UDP(5353, 5353).Payload(
			cat(testpkt.DNSMessage(0, 0x8400, 0, 1, nil, 0, 0)[:12], testpkt.DNSRR(testpkt.DNSName("host.local"), 1, 0x8001, 120, addr("192.0.2.9")))).Bytes(),
	}
}

func TestL7DNSAnswersAgainstWireshark(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "dns-answers.pcap")
	writeCapture(t, path, l7DNSAnswerFrames())
	for i, n := range l7Against(t, dir, "dns-answers", path, l7DNSAnswerFilters) {
		if n == 0 {
			t.Errorf("filter %q matches no frame", l7DNSAnswerFilters[i].expr)
		}
	}
}
