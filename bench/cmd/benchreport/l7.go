package main

import (
	"encoding/binary"
	"strings"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// The L7 section prices the L7 stage: the same packets through a rule set
// of L2–L4 rules on the same ports, and through one that logs HTTP, DNS and
// TLS fields. Packets of other protocols (TCP data on another port, TLS
// application data) must pay only the gate.

const (
	implL4 = "hdrlog-l4"
	implL7 = "hdrlog-l7"
)

const l4Rules = `rule web { match tcp.port == 80 log ip.src, tcp.dstport }
rule dns { match udp.port == 53 log ip.src, udp.dstport }
rule tls { match tcp.port == 443 log ip.src, tcp.dstport }
`

const l7Rules = `rule web { match http.request log ip.src, http.host, http.request.uri }
rule dns { match dns.flags.response == 0 log ip.src, dns.qry.name }
rule tls { match tls.handshake.type == 1 log ip.src, tls.handshake.extensions_server_name }
`

type l7Result struct {
	Cells []*cell
	Insns map[string]int
	Err   string
}

// l7Classes are the packets of the L7 section.
func l7Classes() []suite.Class {
	http := "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n"
	return []suite.Class{
		{Name: "tcpdata", Title: "TCP data on port 9999 (no L7 protocol)",
			Frame: testpkt.New().IPv4("10.1.2.3", "10.1.2.4").TCP(40000, 9999).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(strings.Repeat("x", 100))).Bytes()},
		{Name: "http", Title: "HTTP GET with two headers, port 80",
			Frame: testpkt.New().IPv4("10.1.2.3", "10.1.2.4").TCP(40000, 80).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(http)).Bytes()},
		{Name: "dns", Title: "DNS query for www.example.com, UDP 53",
			Frame: testpkt.New().IPv4("10.1.2.3", "10.1.2.4").UDP(5353, 53).Payload(dnsQuery("www.example.com")).Bytes()},
		{Name: "hello", Title: "TLS ClientHello with server_name, port 443",
			Frame: testpkt.New().IPv4("10.1.2.3", "10.1.2.4").TCP(40000, 443).Flags(testpkt.ACK | testpkt.PSH).Payload(clientHello("www.example.com")).Bytes()},
		{Name: "tlsdata", Title: "TLS application data, port 443",
			Frame: testpkt.New().IPv4("10.1.2.3", "10.1.2.4").TCP(40000, 443).Flags(testpkt.ACK | testpkt.PSH).Payload(append([]byte{0x17, 0x03, 0x03, 0x00, 0x64}, make([]byte, 100)...)).Bytes()},
	}
}

func dnsQuery(name string) []byte {
	b := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

// clientHello is a minimal TLS 1.2 ClientHello with a server_name extension.
func clientHello(sni string) []byte {
	ext := []byte{0, 0} // server_name
	list := append([]byte{0}, be16(len(sni))...)
	list = append(list, sni...)
	body := append(be16(len(list)), list...)
	ext = append(ext, be16(len(body))...)
	ext = append(ext, body...)

	hs := []byte{0x03, 0x03}
	hs = append(hs, make([]byte, 32)...) // random
	hs = append(hs, 0)                   // session id
	hs = append(hs, 0, 2, 0x13, 0x01)    // one cipher suite
	hs = append(hs, 1, 0)                // null compression
	hs = append(hs, be16(len(ext))...)   // extensions
	hs = append(hs, ext...)
	msg := append([]byte{1, 0, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	rec := append([]byte{0x16, 0x03, 0x01}, be16(len(msg))...)
	return append(rec, msg...)
}

func be16(n int) []byte {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(n))
	return b[:]
}

func (b *bench) benchL7() *l7Result {
	res := &l7Result{Insns: map[string]int{}}
	fail := func(err error) *l7Result {
		res.Err = err.Error()
		b.logf("l7: %v", err)
		return res
	}
	var impls []*impl
	for _, v := range []struct{ name, src string }{{implL4, l4Rules}, {implL7, l7Rules}} {
		set, err := suite.Check(v.name, v.src)
		if err != nil {
			return fail(err)
		}
		out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
		if err != nil {
			return fail(err)
		}
		im, err := loadHdrlog(v.name, out, rules.HookTCIngress, ringFor(256, b.repeat))
		if err != nil {
			return fail(err)
		}
		defer im.Close()
		res.Insns[v.name] = im.insns
		impls = append(impls, im)
	}
	for _, cl := range l7Classes() {
		b.logf("l7 %s", cl.Name)
		c, err := runCell("L7", cl.Name, append([]*impl{b.emptyTC}, impls...), cl.Frame, b.repeat, b.trials)
		if err != nil {
			return fail(err)
		}
		res.Cells = append(res.Cells, c)
	}
	return res
}

func (r *report) l7(p func(string, ...any)) {
	p("## 5. L7 stage")
	p("")
	p("The same packets at tc through three L2–L4 rules on the HTTP, DNS and TLS ports (*L2–L4*), and through three rules that log HTTP, DNS and TLS fields instead (*L7*; `http.host`, `dns.qry.name`, the ClientHello's server name). ns per packet above the empty program, median [min–max]; the L7 stage gates on ports and, for HTTP, on a method at the start of the payload, so packets of no L7 protocol pay only the gate.")
	p("")
	if r.L7 == nil || r.L7.Err != "" {
		msg := "not run"
		if r.L7 != nil {
			msg = r.L7.Err
		}
		p("**Error:** `%s`", msg)
		p("")
		return
	}
	p("```")
	p("%s", strings.TrimSpace(l7Rules))
	p("```")
	p("")
	p("Instructions: L2–L4 %d, L7 %d.", r.L7.Insns[implL4], r.L7.Insns[implL7])
	p("")
	p("| class | L2–L4 | L7 | L7 − L2–L4 | events/run L2–L4, L7 |")
	p("|---|---|---|---|---|")
	classes := l7Classes()
	for i, c := range r.L7.Cells {
		l4, l7 := c.net(implL4, implEmpty, true), c.net(implL7, implEmpty, true)
		p("| %s (%s) | %s | %s | %.0f | %.2f, %.2f |", c.Class, classes[i].Title, ns(l4), ns(l7), l7.Median-l4.Median, c.EventsRun[implL4], c.EventsRun[implL7])
	}
	p("")
}
