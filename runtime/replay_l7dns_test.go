package runtime_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// ServerHellos through the kernel and the reference evaluator: every
// prefix of a TLS 1.3 ServerHello, odd supported_versions extensions.
func l7ServerHelloFrames() [][]byte {
	sv := func(v ...byte) testpkt.TLSExt { return testpkt.TLSExt{Type: 43, Data: v} }
	sh := testpkt.TLSHello{Type: 2, RecordVersion: 0x0303, SessionID: make([]byte, 32), CipherSuites: []uint16{0x1302},
		Extensions: []testpkt.TLSExt{{Type: 51, Data: make([]byte, 36)}, sv(3, 4), testpkt.ALPNExt("h2")}}.Bytes()
	frames := prefixes(sh, tcpTo(443, 11), 150)
	for _, exts := range [][]testpkt.TLSExt{{sv(3, 4, 0), sv(3, 3)}, {sv(3)}, {sv()}, {{Type: 65281, Data: []byte{0}}}} {
		frames = append(frames, tcpTo(443, 12)(testpkt.TLSHello{Type: 2, CipherSuites: []uint16{0xc02f}, Extensions: exts}.Bytes()))
	}
	return append(frames, tcpTo(443, 13)(testpkt.TLSHello{Type: 1, CipherSuites: []uint16{0x1302}, Extensions: []testpkt.TLSExt{sv(4, 3, 4, 3, 3)}}.Bytes()))
}

// DNS responses through the kernel and the reference evaluator: every
// prefix of a response with a CNAME chain, lying data lengths, compression
// pointers in a CNAME's name (back, forward, into the header, chains,
// loops), more records than are walked, names that make the walk take
// many steps.

const l7DiffRulesDNS = `
rule dns_answers {
    log dns.flags.rcode, dns.count.answers, dns.a, dns.aaaa, dns.cname, dns.resp.ttl
}
rule dns_answer_tests {
    hook xdp
    match dns.a == 192.0.2.0/24 || dns.aaaa == 2001:db8::/32 || dns.cname matches r"^web\." || dns.resp.ttl > 100 || dns.cname == "<Root>"
    log dns.a, dns.cname
}
rule tls_server {
    log tls.handshake.type, tls.handshake.ciphersuite, tls.handshake.extensions.supported_version, tls.handshake.extensions_alpn_str
}
rule tls_cipher_only {
    hook xdp
    match tls.handshake.ciphersuite in {0x1302, 0xc02f} || !tls.handshake.ciphersuite
    log tls.handshake.ciphersuite
}
`

func l7DNSResponseFrames() [][]byte {
	var frames [][]byte
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	addr := func(ip string) []byte { return netip.MustParseAddr(ip).AsSlice() }
	ptr := []byte{0xc0, 12}
	qname := testpkt.DNSName("www.example.com")
	chain := cat(testpkt.DNSMessage(0x1111, 0x8180, 1, 4, qname, 1, 1),
		testpkt.DNSRR(ptr, 5, 1, 300, []byte{3, 'w', 'e', 'b', 0xc0, 16}),
		testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, addr("192.0.2.7")),
		testpkt.DNSRR([]byte{0xc0, 33}, 28, 1, 60, addr("2001:db8::7")),
		testpkt.DNSRR([]byte{0xc0, 33}, 1, 1, 60, addr("192.0.2.8")))
	frames = append(frames, udpTo(53)(chain)) // first: TestL7DNSReferenceValues pins it
	frames = append(frames, prefixes(chain, udpTo(53), 120)...)
	frames = append(frames, prefixes(testpkt.DNSOverTCP(chain), tcpTo(53, 9), 40)...)
	// Lying data lengths and counts.
	for _, at := range []int{4, 6, 8, 10, 41, 53, 67} {
		for _, v := range []uint16{0, 1, 4, 0xffff} {
			lie := append([]byte(nil), chain...)
			binary.BigEndian.PutUint16(lie[at:], v)
			frames = append(frames, udpTo(53)(lie))
		}
	}
	// CNAME names: pointers of every kind.
	for _, name := range [][]byte{
		{0xc0, 12},                   // the question's name
		{0xc0, 0},                    // into the header
		{0xc0, 5},                    // into the header, mid-way
		{0xc0, 45},                   // itself
		{0xc0, 47},                   // forward
		{1, 'x', 0xc0, 45},           // a loop through a label
		{1, 'x', 0xc0, 12},           // a label, then the question's name
		{1, 'x', 0xc0, 16},           // a label, then inside the question's name
		{0xc0},                       // a cut pointer
		{0x40, 1},                    // an extended label type
		{0},                          // the root
		{1, 'a', 1, 'b', 0xc0, 0x0c}, // two labels and a pointer
	} {
		m := cat(testpkt.DNSMessage(0x2222, 0x8180, 1, 2, qname, 5, 1), testpkt.DNSRR(ptr, 5, 1, 200, name),
			testpkt.DNSRR(ptr, 5, 1, 100, testpkt.DNSName("second.example")))
		frames = append(frames, udpTo(53)(m))
	}
	// A pointer chain: name 2 points into name 1, name 3 into name 2.
	pc := cat(testpkt.DNSMessage(0x3333, 0x8180, 1, 2, qname, 5, 1),
		testpkt.DNSRR(ptr, 5, 1, 10, []byte{3, 'w', 'e', 'b', 0xc0, 16}),
		testpkt.DNSRR(ptr, 5, 1, 10, []byte{2, 'v', '2', 0xc0, 45}))
	frames = append(frames, udpTo(53)(pc))
	// Many records: the walk stops at the entry bound; owner names with
	// many labels make it stop at the step bound.
	for _, n := range []int{14, 15, 16, 17, 40} {
		m := testpkt.DNSMessage(0x4444, 0x8180, 1, uint16(n+1), qname, 1, 1)
		for range n {
			m = append(m, testpkt.DNSRR(ptr, 16, 1, 5, []byte{1, 'x'})...)
		}
		frames = append(frames, udpTo(53)(append(m, testpkt.DNSRR(ptr, 1, 1, 6, addr("192.0.2.99"))...)))
	}
	long := testpkt.DNSName("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n")
	for _, n := range []int{10, 12, 13, 14} {
		m := testpkt.DNSMessage(0x5555, 0x8180, 1, uint16(n+1), qname, 1, 1)
		for range n {
			m = append(m, testpkt.DNSRR(long, 16, 1, 5, []byte{1, 'x'})...)
		}
		frames = append(frames, udpTo(53)(append(m, testpkt.DNSRR(long, 1, 1, 6, addr("192.0.2.98"))...)))
	}
	// Authority and additional sections: an SOA's TTL, an OPT record's
	// (none), glue addresses.
	soa := cat(testpkt.DNSName("example.com"), testpkt.DNSName("h.example.com"), make([]byte, 20))
	frames = append(frames,
		udpTo(53)(testpkt.DNSCounts(cat(testpkt.DNSMessage(0x6666, 0x8183, 1, 0, qname, 1, 1), testpkt.DNSRR([]byte{0xc0, 16}, 6, 1, 900, soa)), 1, 0)),
		udpTo(53)(testpkt.DNSCounts(cat(testpkt.DNSMessage(0x6667, 0x8180, 1, 0, qname, 1, 1), testpkt.DNSRR([]byte{0}, 41, 1232, 0, nil)), 0, 1)),
		udpTo(53)(testpkt.DNSCounts(cat(testpkt.DNSMessage(0x6668, 0x8100, 1, 0, qname, 1, 1),
			testpkt.DNSRR([]byte{0xc0, 16}, 2, 1, 172800, testpkt.DNSName("ns1.example.com")),
			testpkt.DNSRR(testpkt.DNSName("ns1.example.com"), 1, 1, 172800, addr("192.0.2.53")),
			testpkt.DNSRR([]byte{0}, 41, 1232, 0, nil)), 1, 2)),
	)
	// mDNS: the cache-flush bit in an A record's class.
	frames = append(frames, testpkt.New().IPv4("10.0.0.1", "224.0.0.251").UDP(5353, 5353).Payload(
		cat(testpkt.DNSMessage(0, 0x8400, 0, 1, nil, 0, 0)[:12], testpkt.DNSRR(testpkt.DNSName("host.local"), 1, 0x8001, 120, addr("192.0.2.9")))).Bytes())
	return frames
}

// TestL7DNSReferenceValues pins outcomes of the response frames, so that
// the kernel and the reference cannot agree on nothing.
func TestL7DNSReferenceValues(t *testing.T) {
	rs := l7DiffRuleSet(t)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	frames := l7DNSResponseFrames()
	for i, want := range map[int]string{
		0: `"dns.a":"192.0.2.7","dns.aaaa":"2001:db8::7","dns.cname":"web.example.com","dns.resp.ttl":300`,
	} {
		got, err := replayFrame(ref, out.Schema, i+1, frames[i])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, want) {
			t.Errorf("frame %d: want %s in\n%s", i, want, got)
		}
	}
}
