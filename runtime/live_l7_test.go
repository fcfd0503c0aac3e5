package runtime_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/l7test"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// L7 fields from real clients on a veth pair: curl to a Go HTTP server, dig
// to a Go DNS responder (UDP and TCP), openssl s_client to openssl s_server.
// The programs are attached to the server's end at tc ingress and XDP. At tc
// ingress on a veth the payload is not in the linear part of the skb (see
// DESIGN.md): these tests are what shows that the L7 stage reads it there.

const liveL7Rules = `
rule http_tc {
    match http.request
    log ip.src, tcp.dstport, http.request.method, http.request.uri, http.request.version, http.host, http.user_agent, http.header["X-Request-Id"], http.authorization
}
rule http_xdp {
    hook xdp
    match http.request
    log ip.src, tcp.dstport, http.request.method, http.request.uri, http.request.version, http.host, http.user_agent, http.header["X-Request-Id"], http.authorization
}
rule dns_tc {
    match dns.flags.response == 0
    log dns.id, dns.qry.name, dns.qry.type, dns.qry.class, dns.count.queries, udp.dstport, tcp.dstport
}
rule dns_xdp {
    hook xdp
    match dns.flags.response == 0
    log dns.id, dns.qry.name, dns.qry.type, dns.qry.class, dns.count.queries, udp.dstport, tcp.dstport
}
rule tls_tc {
    match tls.handshake.type == 1
    log tcp.srcport, tls.record.version, tls.handshake.version, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str
}
rule tls_xdp {
    hook xdp
    match tls.handshake.type == 1
    log tcp.srcport, tls.record.version, tls.handshake.version, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str
}
`

func TestLiveL7(t *testing.T) {
	kerneltest.RequireRoot(t)
	for _, tool := range []string{"curl", "dig", "openssl"} {
		haveTool(t, tool)
	}
	c := loadDSL(t, liveL7Rules, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})

	l7test.ServeHTTP(t, p, netip.AddrPortFrom(p.AddrB, 80).String())
	l7test.ServeDNS(t, p, netip.AddrPortFrom(p.AddrB, 53).String())
	l7test.TLSServer(t, p, 443)

	l7test.Clients(t, p, false)

	want := []string{"http_tc", "http_xdp", "dns_tc", "dns_xdp", "tls_tc", "tls_xdp"}
	objs := s.waitFor(t, "events of every L7 rule", 10*time.Second, func(objs []map[string]any) bool {
		for _, r := range want {
			if n := len(byRule(objs, r)); n == 0 || strings.HasPrefix(r, "dns") && n < 2 {
				return false
			}
		}
		return true
	})
	s.stop(t)
	for _, r := range []string{"http_tc", "http_xdp"} {
		evs := byRule(objs, r)
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1: %v", r, len(evs), evs)
			continue
		}
		assertFields(t, evs[0], map[string]any{
			"ip.src": p.AddrA, "tcp.dstport": 80, "http.request.method": "GET", "http.request.uri": "/hello/world?x=1",
			"http.request.version": "HTTP/1.1", "http.host": "WWW.Example.COM", "http.user_agent": "hdrlog-live/1.0",
			"http.header.X-Request-Id": "live-42", "http.authorization": "[redacted]", "http.authorization.len": len("Basic dXNlcjpzZWNyZXQ="),
		})
	}
	for _, r := range []string{"dns_tc", "dns_xdp"} {
		evs := byRule(objs, r)
		if len(evs) != 2 {
			t.Errorf("%s: %d events, want 2 (UDP and TCP): %v", r, len(evs), evs)
		}
		for _, ev := range evs {
			assertFields(t, ev, map[string]any{"dns.qry.name": "www.dig.test", "dns.qry.type": 28, "dns.qry.class": "0x0001", "dns.count.queries": 1})
		}
		if len(matching(evs, map[string]any{"udp.dstport": 53})) != 1 || len(matching(evs, map[string]any{"tcp.dstport": 53})) != 1 {
			t.Errorf("%s: want one query over UDP and one over TCP: %v", r, evs)
		}
	}
	for _, r := range []string{"tls_tc", "tls_xdp"} {
		evs := byRule(objs, r)
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1: %v", r, len(evs), evs)
			continue
		}
		assertFields(t, evs[0], map[string]any{
			"tls.handshake.version": "0x0303", "tls.handshake.extensions_server_name": "sni.hdrlog.test", "tls.handshake.extensions_alpn_str": "h2,http/1.1",
		})
	}
}

// TestLiveL7TLSHeldClientHello: a ClientHello that spans two segments,
// with its server_name in the second (openssl with every cipher suite,
// ~460 bytes, through a 250-byte MSS, one segment per skb): the first
// segment shows no TLS; the second carries the whole hello's fields, at tc
// ingress and at XDP alike.
func TestLiveL7TLSHeldClientHello(t *testing.T) {
	kerneltest.RequireRoot(t)
	haveTool(t, "openssl")
	c := loadDSL(t, `
rule tls_tc { match tls log tcp.len, tls.handshake.type, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str }
rule tls_xdp { hook xdp match tls log tcp.len, tls.handshake.type, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str }
rule seg_tc { match tcp.dstport == 443 && tcp.len > 0 log tcp.len }
`, 0)
	p := netns.NewPair(t)
	l7test.SplitClientHellos(t, p)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	l7test.TLSServer(t, p, 443)
	l7test.TLSClient(t, p, 443, "held.hdrlog.test", l7test.SplitArgs...)
	objs := s.waitFor(t, "the held ClientHello at both hooks", 10*time.Second, func(objs []map[string]any) bool {
		return len(byRule(objs, "tls_tc")) > 0 && len(byRule(objs, "tls_xdp")) > 0
	})
	time.Sleep(200 * time.Millisecond)
	s.stop(t)
	objs = s.sink.objects(t)
	segs := byRule(objs, "seg_tc")
	if len(segs) < 2 {
		t.Fatalf("the client's hello came in %d segments, want 2 or more (MSS not applied?): %v", len(segs), segs)
	}
	first, second := segs[0]["tcp.len"], segs[1]["tcp.len"]
	for _, r := range []string{"tls_tc", "tls_xdp"} {
		hellos := matching(byRule(objs, r), map[string]any{"tls.handshake.type": 1})
		if len(hellos) != 1 {
			t.Errorf("%s: %d ClientHello events, want 1: %v", r, len(hellos), byRule(objs, r))
			continue
		}
		assertFields(t, hellos[0], map[string]any{"tcp.len": second, "tls.handshake.extensions_server_name": "held.hdrlog.test", "tls.handshake.extensions_alpn_str": "h2,http/1.1"})
		if len(matching(byRule(objs, r), map[string]any{"tcp.len": first})) != 0 {
			t.Errorf("%s: the first segment (%v bytes) shows TLS: %v", r, first, byRule(objs, r))
		}
	}
}

// TestLiveL7Cases: what real clients send that the plain cases do not
// show, at tc ingress and XDP: a second ClientHello after a
// HelloRetryRequest (the server accepts only P-256, the client's first key
// share is X25519), which follows a ChangeCipherSpec record in its segment;
// dig to the mDNS and LLMNR ports (protocols mdns and llmnr, with the dns.*
// fields); a version-less request line sent with nc.
func TestLiveL7Cases(t *testing.T) {
	kerneltest.RequireRoot(t)
	for _, tool := range []string{"dig", "openssl", "nc"} {
		haveTool(t, tool)
	}
	c := loadDSL(t, `
rule hello_tc { match tls.handshake.type == 1 log tcp.srcport, tcp.len, tls.record.version, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str }
rule hello_xdp { hook xdp match tls.handshake.type == 1 log tcp.srcport, tcp.len, tls.record.version, tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str }
rule mdns_tc { match mdns && !dns log udp.dstport, dns.qry.name, dns.qry.class }
rule llmnr_xdp { hook xdp match llmnr && !dns log udp.dstport, dns.qry.name, dns.qry.type }
rule dns_tc { match dns log udp.dstport }
rule http09_tc { match http.request.version == "" log http.request.method, http.request.uri }
rule http09_xdp { hook xdp match http.request.version == "" log http.request.method, http.request.uri }
rule pipe_tc { match http.request.uri matches "^/pipe/" log http.request.uri, http.host }
rule pipe_xdp { hook xdp match http.request.uri matches "^/pipe/" log http.request.uri, http.host }
rule segs_tc { match tcp.dstport == 80 && tcp.len > 0 log tcp.len }
`, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	l7test.TLSServer(t, p, 443, "-groups", "P-256")
	l7test.TLSClient(t, p, 443, "retry.hdrlog.test", "-groups", "X25519:P-256")
	for _, port := range []string{"5353", "5355"} {
		l7test.ServeDNS(t, p, p.AddrB.String()+":"+port)
		if out, err := p.Run("A", "dig", "@"+p.AddrB.String(), "-p", port, "+notcp", "+tries=1", "+time=3", "printer.local", "A"); err != nil {
			t.Fatalf("dig -p %s: %v\n%s", port, err, out)
		}
	}
	l7test.ServeHTTP(t, p, netip.AddrPortFrom(p.AddrB, 80).String())
	runInput(t, p, "GET /old-school\r\n", "nc", "-q", "1", "-w", "3", p.AddrB.String(), "80")
	pipelined := "GET /pipe/1 HTTP/1.1\r\nHost: one.test\r\n\r\nGET /pipe/2 HTTP/1.1\r\nHost: two.test\r\n\r\n" +
		"GET /pipe/3 HTTP/1.1\r\nHost: three.test\r\nConnection: close\r\n\r\n"
	runInput(t, p, pipelined, "nc", "-q", "1", "-w", "3", p.AddrB.String(), "80")
	objs := s.waitFor(t, "the cases at both hooks", 10*time.Second, func(objs []map[string]any) bool {
		for _, r := range []string{"hello_tc", "hello_xdp", "mdns_tc", "llmnr_xdp", "http09_tc", "http09_xdp", "pipe_tc", "pipe_xdp"} {
			if len(byRule(objs, r)) == 0 {
				return false
			}
		}
		return len(byRule(objs, "hello_tc")) >= 2 && len(byRule(objs, "hello_xdp")) >= 2
	})
	time.Sleep(200 * time.Millisecond)
	s.stop(t)
	objs = s.sink.objects(t)
	for _, r := range []string{"hello_tc", "hello_xdp"} {
		evs := byRule(objs, r)
		if len(evs) != 2 {
			t.Errorf("%s: %d ClientHellos, want 2 (before and after the HelloRetryRequest): %v", r, len(evs), evs)
			continue
		}
		for _, ev := range evs {
			assertFields(t, ev, map[string]any{"tls.handshake.extensions_server_name": "retry.hdrlog.test", "tls.handshake.extensions_alpn_str": "h2,http/1.1"})
		}
		// The second hello follows a ChangeCipherSpec record (version
		// 0x0303) in its segment: 6 bytes, besides the 33 its P-256 key
		// share (65 bytes) has over the first hello's X25519 one (32).
		assertFields(t, evs[1], map[string]any{"tls.record.version": "0x0303", "tcp.len": evs[0]["tcp.len"].(float64) + 6 + 33})
	}
	assertFields(t, only(t, byRule(objs, "mdns_tc")), map[string]any{"udp.dstport": 5353, "dns.qry.name": "printer.local", "dns.qry.class": "0x0001"})
	assertFields(t, only(t, byRule(objs, "llmnr_xdp")), map[string]any{"udp.dstport": 5355, "dns.qry.name": "printer.local", "dns.qry.type": 1})
	if evs := byRule(objs, "dns_tc"); len(evs) != 0 {
		t.Errorf("mDNS or LLMNR shown as the protocol dns: %v", evs)
	}
	for _, r := range []string{"http09_tc", "http09_xdp"} {
		assertFields(t, only(t, byRule(objs, r)), map[string]any{"http.request.method": "GET", "http.request.uri": "/old-school"})
	}
	// The three pipelined requests came in one segment (nc writes them at
	// once): one event each, in order.
	if n := len(byRule(objs, "segs_tc")); n != 2 {
		t.Errorf("the HTTP clients sent %d segments with data, want 2 (the HTTP/0.9 line, the pipelined requests): %v", n, byRule(objs, "segs_tc"))
	}
	for _, r := range []string{"pipe_tc", "pipe_xdp"} {
		evs := byRule(objs, r)
		if len(evs) != 3 {
			t.Errorf("%s: %d events, want 3: %v", r, len(evs), evs)
			continue
		}
		for i, host := range []string{"one.test", "two.test", "three.test"} {
			assertFields(t, evs[i], map[string]any{"http.request.uri": fmt.Sprintf("/pipe/%d", i+1), "http.host": host})
		}
	}
}

func only(t *testing.T, evs []map[string]any) map[string]any {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %v", len(evs), evs)
	}
	return evs[0]
}

// runInput runs a command in namespace A with input on its standard input.
func runInput(t *testing.T, p *netns.Pair, input string, name string, args ...string) {
	t.Helper()
	cmd, err := p.Command("A", name, args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
