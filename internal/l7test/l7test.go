//go:build linux

// Package l7test runs the servers and clients of hdrlog's L7 tests inside a
// netns pair: a Go HTTP server, a Go DNS responder (UDP and TCP), openssl
// s_server and s_client, and tcpdump to record what they exchange.
package l7test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/netns"
)

// ServeHTTP answers every request with 200 "ok", in namespace B on addr,
// until the test ends.
func ServeHTTP(t testing.TB, p *netns.Pair, addr string) {
	t.Helper()
	var ln net.Listener
	if err := p.Do("B", func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// ServeDNS answers every query in namespace B on addr, over UDP and TCP,
// with NXDOMAIN and the question echoed.
func ServeDNS(t testing.TB, p *netns.Pair, addr string) {
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
		r[2] |= 0x80         // a response
		r[3] = r[3]&0xf0 | 3 // NXDOMAIN
		binary.BigEndian.PutUint16(r[6:], 0)
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
					if _, err := readFull(c, l[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := readFull(c, q); err != nil {
						return
					}
					r := answer(q)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
				}
			}()
		}
	}()
}

func readFull(c net.Conn, b []byte) (int, error) {
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

// TLSServer starts openssl s_server in namespace B on port, with a fresh
// self-signed certificate, offering ALPN h2 and http/1.1 (and extra
// arguments), and waits until it listens.
func TLSServer(t testing.TB, p *netns.Pair, port int, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=hdrlog.test", "-days", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	args := append([]string{"s_server", "-accept", fmt.Sprint(port), "-cert", cert, "-key", key,
		"-alpn", "h2,http/1.1", "-quiet", "-naccept", "20"}, extra...)
	if _, err := p.Start("B", "openssl", args...); err != nil {
		t.Fatal(err)
	}
	WaitListening(t, p, netip.AddrPortFrom(p.AddrB, uint16(port)))
}

// WaitListening waits until a TCP connection from A to addr succeeds.
func WaitListening(t testing.TB, p *netns.Pair, addr netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var c net.Conn
		err := p.Do("A", func() (err error) {
			c, err = net.DialTimeout("tcp", addr.String(), time.Second)
			return err
		})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TLSClient runs openssl s_client from namespace A to port of B, with the
// server name sni and ALPN h2,http/1.1, and extra arguments.
func TLSClient(t testing.TB, p *netns.Pair, port int, sni string, extra ...string) {
	t.Helper()
	args := append([]string{"s_client", "-connect", netip.AddrPortFrom(p.AddrB, uint16(port)).String(), "-servername", sni, "-alpn", "h2,http/1.1"}, extra...)
	cmd, err := p.Command("A", "openssl", args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader("")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
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

// SplitClientHellos makes the ClientHellos from A span two segments: B
// advertises an MSS of 250 bytes and A sends one segment per skb (no
// segmentation offload to merge them).
func SplitClientHellos(t testing.TB, p *netns.Pair) {
	t.Helper()
	for _, args := range [][]string{
		{"-n", p.NSB, "route", "replace", p.Prefix4().String(), "dev", p.PeerIf, "advmss", "250"},
		{"-n", p.NSA, "link", "set", "dev", p.HostIf, "gso_max_segs", "1"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
}

// SplitArgs are s_client arguments for a ClientHello of ~460 bytes whose
// server name lies past the first 250 (every cipher suite).
var SplitArgs = []string{"-cipher", "ALL:@SECLEVEL=0"}

// Recorder is tcpdump recording on B's end of the pair.
type Recorder struct {
	cmd  *exec.Cmd
	Path string
}

// Record starts tcpdump in namespace B on its veth end, writing to path.
func Record(t testing.TB, p *netns.Pair, path string) *Recorder {
	t.Helper()
	cmd, err := p.Command("B", "tcpdump", "-i", p.PeerIf, "--immediate-mode", "-U", "-s", "0", "-w", path, "ip or ip6")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Recorder{cmd: cmd, Path: path}
}

// Stop stops tcpdump and waits for it to write the file out.
func (r *Recorder) Stop(t testing.TB) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	r.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		t.Fatal("tcpdump did not stop")
	}
}

// Clients runs every client once: curl with headers (HTTP, port 80), dig over
// UDP and TCP (port 53), openssl s_client (port 443); then, when split is
// set, a ClientHello in two segments (which changes the pair's MSS for what
// follows).
func Clients(t testing.TB, p *netns.Pair, split bool) {
	t.Helper()
	url := fmt.Sprintf("http://%s/hello/world?x=1", p.AddrB)
	if out, err := p.Run("A", "curl", "-sS", "-m", "5", "-H", "Host: WWW.Example.COM", "-H", "X-Request-Id: live-42",
		"-H", "Referer: http://ref.example/", "-u", "user:secret", "-A", "hdrlog-live/1.0", url); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for _, proto := range []string{"+notcp", "+tcp"} {
		if out, err := p.Run("A", "dig", "@"+p.AddrB.String(), "-p", "53", proto, "+tries=1", "+time=3", "www.dig.test", "AAAA"); err != nil {
			t.Fatalf("dig %s: %v\n%s", proto, err, out)
		}
	}
	TLSClient(t, p, 443, "sni.hdrlog.test")
	if split {
		SplitClientHellos(t, p)
		TLSClient(t, p, 443, "held.hdrlog.test", SplitArgs...)
	}
}
