package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// limitEvents runs hdrlog test on capture with one rule and returns its
// events and its stderr.
func limitEvents(t *testing.T, dir, capture, match, log string) ([]map[string]any, string) {
	t.Helper()
	code, stdout, stderr := hdrlog(t, dir, "test", "-r", capture, "--direction", "in", "-e", match, "--log", log)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", match, code, stderr)
	}
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if ev["rule"] != nil {
			evs = append(evs, ev)
		}
	}
	return evs, stderr
}

// TestTestL7Limits: padding evasions through hdrlog test on a generated
// capture. A ClientHello whose server name follows 70 extensions and a DNS
// response whose A record follows 16 other entries pass a rule on the
// server name and on the address; a rule on tls.truncated and dns.truncated
// fires on both, and the summary counts each limit.
func TestTestL7Limits(t *testing.T) {
	kerneltest.Require(t)
	var exts []testpkt.TLSExt
	for range 70 {
		exts = append(exts, testpkt.PaddingExt(0))
	}
	hello := testpkt.TLSHello{Type: 1, Extensions: append(exts, testpkt.SNIExt("watched.example"))}.Bytes()
	qname := testpkt.DNSName("watched.example")
	dns := testpkt.DNSMessage(0x1234, 0x8180, 1, 17, qname, 1, 1)
	for range 16 {
		dns = append(dns, testpkt.DNSRR([]byte{0xc0, 12}, 16, 1, 5, []byte{1, 'x'})...)
	}
	dns = append(dns, testpkt.DNSRR([]byte{0xc0, 12}, 1, 1, 60, []byte{192, 0, 2, 7})...)
	var pads []string
	for i := range 200 {
		pads = append(pads, fmt.Sprintf("X-Pad-%d: x", i))
	}
	http := testpkt.HTTPRequest("GET", "/admin", "HTTP/1.1", append(pads, "Host: watched.example")...)
	var pipelined []byte
	for i := range 5 {
		pipelined = append(pipelined, testpkt.HTTPRequest("GET", fmt.Sprintf("/p%d", i), "HTTP/1.1", "Host: other.example")...)
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "padded.pcap")
	writeCapture(t, capture, [][]byte{
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40000, 443).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(hello).Bytes(),
		testpkt.New().IPv4("10.0.0.53", "10.0.0.1").UDP(53, 40000).Payload(dns).Bytes(),
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40001, 80).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(http).Bytes(),
		testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40002, 80).Seq(1).Flags(testpkt.ACK | testpkt.PSH).Payload(pipelined).Bytes(),
	})
	evs, _ := limitEvents(t, dir, capture, `tls.handshake.extensions_server_name == "watched.example" || dns.a == 192.0.2.7 || http.host == "watched.example"`, "frame.len")
	if len(evs) != 0 {
		t.Errorf("the padded messages match the rule on the name and the address: %v", evs)
	}
	evs, stderr := limitEvents(t, dir, capture, "tls.truncated || dns.truncated", "tls.truncated,dns.truncated,tls.handshake.extensions_server_name,dns.a")
	if len(evs) != 2 || evs[0]["tls.truncated"] != true || evs[0]["tls.handshake.extensions_server_name"] != nil ||
		evs[1]["dns.truncated"] != true || evs[1]["dns.a"] != nil {
		t.Errorf("the rule on the truncated fields gives %v, want one event per padded message", evs)
	}
	evs, httpStderr := limitEvents(t, dir, capture, "http.truncated", "http.request.uri,http.host,http.truncated")
	if len(evs) != 2 || evs[0]["http.request.uri"] != "/admin" || evs[0]["http.host"] != nil || evs[1]["http.request.uri"] != "/p3" {
		t.Errorf("match http.truncated gives %v, want the padded request and the 4th pipelined one", evs)
	}
	for _, want := range []string{"http decoder gave up on 1 messages: more than 128 header lines (http.truncated",
		"http decoder gave up on 1 messages: bytes after the 4th request of a segment"} {
		if !strings.Contains(httpStderr, want) {
			t.Errorf("the summary lacks %q:\n%s", want, httpStderr)
		}
	}
	for _, want := range []string{"tls decoder gave up on 1 messages: more than 64 extensions (tls.truncated",
		"dns decoder gave up on 1 messages: more than 16 entries (questions and records) (dns.truncated"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the summary lacks %q:\n%s", want, stderr)
		}
	}
}
