package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// The L7 cases real captures contain, crafted and written to a capture,
// through `hdrlog test` against tshark: mDNS and LLMNR (decoded as DNS, the
// mDNS class without its unicast-response bit), version-less (HTTP/0.9)
// request lines, every ALPN protocol of a ClientHello, and IPv6 atomic and
// first fragments.

var l7CaseFilters = []l7Filter{
	{"dns", []string{"dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.qry.class"}, false, false},
	{"dns.qry.class == 1", []string{"dns.qry.name"}, false, false},
	{"mdns", []string{"dns.id", "dns.qry.name", "dns.qry.class"}, false, false},
	{"llmnr && dns.qry.class == 0x8001", []string{"dns.id", "dns.qry.name"}, false, false},
	{"http.request", []string{"http.request.method", "http.request.uri", "http.request.version", "http.host"}, false, true},
	{"tls.handshake.type == 1", []string{"tls.record.version", "tls.handshake.version", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"}, true, false},
	{`tls.handshake.extensions_alpn_str == "http/1.1"`, []string{"tls.handshake.extensions_alpn_str"}, true, false},
	{"tls", []string{"tls.record.version", "tls.handshake.type", "tls.handshake.version"}, false, false},
	{`tls.handshake.extensions_alpn_str contains "dy/" || tls.handshake.extensions_alpn_str matches "^hq-"`, []string{"tls.handshake.extensions_alpn_str"}, true, false},
}

// l7CaseFrames are the crafted frames; every TCP segment has its own flow,
// so that tshark's sequence analysis and reassembly see one segment each.
func l7CaseFrames() [][]byte {
	var frames [][]byte
	sport := uint16(41000)
	tcp := func(dport uint16, p []byte) []byte {
		sport++
		return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(sport, dport).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(p).Bytes()
	}
	udp := func(sp, dp uint16, p []byte) []byte {
		return testpkt.New().IPv4("10.0.0.1", "224.0.0.251").UDP(sp, dp).Payload(p).Bytes()
	}
	q := func(id uint16, name string, class uint16) []byte {
		return testpkt.DNSMessage(id, 0, 1, 0, testpkt.DNSName(name), 12, class)
	}
	frames = append(frames,
		udp(5353, 5353, q(1, "printer._ipp._tcp.local", 0x8001)),
		udp(40000, 5353, testpkt.DNSMessage(2, 0x8400, 1, 0, testpkt.DNSName("host.local"), 1, 0x8001)),
		udp(5353, 53, q(3, "dns.wins.local", 0x8001)),
		udp(40000, 5355, q(4, "wpad", 0x8001)),
		udp(5355, 40000, testpkt.DNSMessage(5, 0x8000, 1, 0, testpkt.DNSName("wpad"), 1, 1)),
		udp(1000, 5353, q(6, "high.local", 0x8001)),
		tcp(5353, testpkt.DNSOverTCP(q(7, "tcp.local", 1))),
		tcp(5355, testpkt.DNSOverTCP(q(8, "tcp.llmnr", 1))),
		tcp(80, []byte("GET /\r\n")),
		tcp(80, []byte("GET /index.html\n")),
		tcp(8080, []byte("POST /form\r\nHost: h09.example\r\n\r\n")),
		tcp(80, []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")),
		tcp(80, []byte("GET /1 HTTP/1.1\r\nHost: p.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: q.example\r\n\r\nPOST /3 HTTP/1.0\r\n\r\n")),
		tcp(8080, []byte("GET /a HTTP/1.1\nHost: lf.example\n\nHEAD /b HTTP/1.1\n\nGET /c\n\nPUT /d HTTP/1.1\nHost: d.example\n\n")),
		tcp(80, []byte("POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 0\r\n\r\nGET /admin HTTP/1.1\r\nHost: smuggled.example\r\n\r\n")),
	)
	for _, alpn := range []testpkt.TLSExt{
		testpkt.ALPNExt("h2", "http/1.1"), testpkt.ALPNExt("http/1.1"), testpkt.ALPNExt("spdy/3.1", "h2", "hq-interop", "http/1.1"),
		testpkt.ALPNExt(strings.Repeat("x", 200), "h2"),
	} {
		frames = append(frames, tcp(443, testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("alpn.example"), alpn}}.Bytes()))
	}
	frames = append(frames,
		tcp(443, append(append([]byte(nil), testpkt.TLSChangeCipherSpec...), testpkt.TLSHello{Type: 1, SessionID: make([]byte, 32),
			Extensions: []testpkt.TLSExt{testpkt.SNIExt("retry.example"), testpkt.ALPNExt("h2", "http/1.1")}}.Bytes()...)),
		tcp(443, testpkt.SSLv2ClientHello(0x0301)),
		tcp(443, testpkt.SSLv2ClientHello(0x0002)))
	dns := testpkt.DNSMessage(9, 0x0100, 1, 0, testpkt.DNSName("frag.example"), 1, 1)
	for _, more := range []bool{false, true} {
		frames = append(frames,
			testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, more, 7).UDP(40000, 53).Payload(dns).Bytes(),
			testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, more, 8).TCP(40100+map[bool]uint16{false: 0, true: 1}[more], 80).Seq(1).
				Flags(testpkt.ACK).Payload(testpkt.HTTPRequest("GET", "/frag", "HTTP/1.1", "Host: frag.example")).Bytes())
	}
	return frames
}

func writeCapture(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1_700_000_000+i), 0), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

func TestL7CasesAgainstWireshark(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "l7-cases.pcap")
	writeCapture(t, path, l7CaseFrames())
	for i, n := range l7Against(t, dir, "l7-cases", path, l7CaseFilters) {
		if n == 0 {
			t.Errorf("filter %q matches no frame", l7CaseFilters[i].expr)
		}
	}
}
