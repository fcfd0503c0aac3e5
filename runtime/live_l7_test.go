package runtime_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
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

// l7ServeHTTP serves 200 OK in namespace B on addr.
func l7ServeHTTP(t *testing.T, p *netns.Pair, addr string) {
	t.Helper()
	var ln net.Listener
	if err := p.Do("B", func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// l7ServeDNS answers every query in namespace B, over UDP and TCP on addr,
// with NXDOMAIN and the question echoed.
func l7ServeDNS(t *testing.T, p *netns.Pair, addr string) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	err := p.Do("B", func() (err error) {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	answer := func(q []byte) []byte {
		if len(q) < 12 {
			return nil
		}
		r := append([]byte(nil), q...)
		r[2] |= 0x80                         // response
		r[3] = r[3]&0xf0 | 3                 // NXDOMAIN
		binary.BigEndian.PutUint16(r[6:], 0) // no answers
		return r
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := answer(buf[:n]); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var l [2]byte
				for {
					if _, err := l7ReadFull(c, l[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := l7ReadFull(c, q); err != nil {
						return
					}
					r := answer(q)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
				}
			}()
		}
	}()
}

func l7ReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// l7TLSServer starts openssl s_server in namespace B on port 443 with a fresh
// self-signed certificate.
func l7TLSServer(t *testing.T, p *netns.Pair, port int) {
	t.Helper()
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=hdrlog.test", "-days", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	if _, err := p.Start("B", "openssl", "s_server", "-accept", fmt.Sprint(port), "-cert", cert, "-key", key,
		"-alpn", "h2,http/1.1", "-quiet", "-naccept", "10"); err != nil {
		t.Fatal(err)
	}
	// Wait until it listens.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var c net.Conn
		err := p.Do("A", func() (err error) {
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(p.AddrB, uint16(port)).String(), time.Second)
			return err
		})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl s_server does not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// l7TLSClient runs openssl s_client from namespace A and returns its source port.
func l7TLSClient(t *testing.T, p *netns.Pair, port int, sni string, extra ...string) {
	t.Helper()
	args := append([]string{"s_client", "-connect", netip.AddrPortFrom(p.AddrB, uint16(port)).String(), "-servername", sni, "-alpn", "h2,http/1.1"}, extra...)
	cmd, err := p.Command("A", "openssl", args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader("")
	done := make(chan error, 1)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(out.String(), "CONNECTED") {
			t.Fatalf("openssl s_client: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("openssl s_client did not finish:\n%s", out.String())
	}
}

func TestLiveL7(t *testing.T) {
	kerneltest.RequireRoot(t)
	for _, tool := range []string{"curl", "dig", "openssl"} {
		haveTool(t, tool)
	}
	c := loadDSL(t, liveL7Rules, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})

	l7ServeHTTP(t, p, netip.AddrPortFrom(p.AddrB, 80).String())
	l7ServeDNS(t, p, netip.AddrPortFrom(p.AddrB, 53).String())
	l7TLSServer(t, p, 443)

	url := fmt.Sprintf("http://%s/hello/world?x=1", p.AddrB)
	if out, err := p.Run("A", "curl", "-sS", "-m", "5", "-H", "Host: WWW.Example.COM", "-H", "X-Request-Id: live-42",
		"-u", "user:secret", "-A", "hdrlog-live/1.0", url); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for _, proto := range []string{"+notcp", "+tcp"} {
		if out, err := p.Run("A", "dig", "@"+p.AddrB.String(), "-p", "53", proto, "+tries=1", "+time=3", "www.dig.test", "AAAA"); err != nil {
			t.Fatalf("dig %s: %v\n%s", proto, err, out)
		}
	}
	l7TLSClient(t, p, 443, "sni.hdrlog.test")

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
			"tls.handshake.version": "0x0303", "tls.handshake.extensions_server_name": "sni.hdrlog.test", "tls.handshake.extensions_alpn_str": "h2",
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
	for _, args := range [][]string{
		{"-n", p.NSB, "route", "replace", p.Prefix4().String(), "dev", p.PeerIf, "advmss", "250"},
		{"-n", p.NSA, "link", "set", "dev", p.HostIf, "gso_max_segs", "1"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	l7TLSServer(t, p, 443)
	l7TLSClient(t, p, 443, "held.hdrlog.test", "-cipher", "ALL:@SECLEVEL=0")
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
		assertFields(t, hellos[0], map[string]any{"tcp.len": second, "tls.handshake.extensions_server_name": "held.hdrlog.test", "tls.handshake.extensions_alpn_str": "h2"})
		if len(matching(byRule(objs, r), map[string]any{"tcp.len": first})) != 0 {
			t.Errorf("%s: the first segment (%v bytes) shows TLS: %v", r, first, byRule(objs, r))
		}
	}
}
