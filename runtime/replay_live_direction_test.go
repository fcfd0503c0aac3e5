package runtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// Rules at tc ingress, tc egress and XDP of B's veth end, about traffic
// both ways. None reads eth.*: a Linux cooked capture does not hold eth.dst.
const runVsTestRules = `
rule syn_in { match tcp.flags.syn == 1 && tcp.flags.ack == 0 log ip.src, ip.dst, tcp.srcport, tcp.dstport, tcp.flags, frame.len }
rule synack_out { hook tc egress match tcp.flags.syn == 1 && tcp.flags.ack == 1 log ip.src, tcp.srcport, tcp.dstport, tcp.flags, frame.len }
rule big_out { hook tc egress match tcp.srcport == 8080 && frame.len > 1000 log frame.len, ip.len, tcp.dstport }
rule fin_in { match tcp.flags.fin == 1 log ip.src, tcp.srcport, tcp.flags }
rule fin_out { hook tc egress match tcp.flags.fin == 1 log ip.src, tcp.srcport, tcp.flags }
rule icmp_in { match icmp log icmp.type, ip.src, ip.flags.mf, frame.len }
rule icmp_out { hook tc egress match icmp log icmp.type, ip.src, ip.flags.mf, frame.len }
rule udp_in { match ip && udp log ip.src, udp.srcport, udp.dstport, udp.length, frame.len }
rule udp6_in { match ipv6 && udp log ipv6.src, udp.dstport, frame.len }
rule udp_out { hook tc egress match ip && udp log ip.src, udp.dstport, frame.len }
rule udp_xdp { hook xdp match udp log udp.srcport, udp.dstport, frame.len }
rule http_in { match http.request log http.request.method, http.request.uri, http.host, tcp.dstport, http.time }
rule http_out { hook tc egress match http.response log http.response.code, http.response_for.method, http.response_for.uri, http.response_for.host }
`

// TestReplayGivesRunsEvents: `hdrlog test` on a capture of live traffic
// gives exactly the events `hdrlog run` gave on that traffic, hook
// (direction) included. The rules run live (Stream) at tc ingress, tc egress
// and XDP of B's veth end while tcpdump records the traffic three times:
// Linux cooked v2 with a snap length (tcpdump -i any -y LINUX_SLL2 -s 128:
// the packet type gives the direction, frame.len must come from the
// original length), Linux cooked v1, and Ethernet on the interface (the
// direction from --local-mac or --local-addr). Both replays, through the kernel and through
// the reference, must give the live events (times and frame numbers aside).
//
// An HTTP request to B and its response (short enough for the snap length)
// bring the L7 stage and the pairing of a response, seen at tc egress, with
// its request, seen at tc ingress, into the comparison (http_in logs
// http.time, always absent on a request, so that tc ingress keeps the
// requests: docs/transactions.md); the live run's transactions record and
// the replay's counters must agree, one pair and no orphan.
//
// Tools: tcpdump, ping (iputils-ping).
func TestReplayGivesRunsEvents(t *testing.T) {
	kerneltest.Require(t)
	kerneltest.RequireRoot(t)
	tcpdump, ping := requireTool(t, "tcpdump"), requireTool(t, "ping")
	rs := mustRules(t, runVsTestRules)
	c := loadDSL(t, runVsTestRules, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	if len(as) != 3 {
		t.Fatalf("attached %d programs, want 3: %v", len(as), as)
	}
	dir := t.TempDir()
	// Namespace B has no other traffic: "any" records each frame once.
	sll2, sll, plain := filepath.Join(dir, "sll2.pcap"), filepath.Join(dir, "sll.pcap"), filepath.Join(dir, "eth.pcap")
	dumps := []*dump{
		startDump(t, p, tcpdump, "-i", "any", "-n", "--immediate-mode", "-B", "32768", "-y", "LINUX_SLL2", "-s", "128", "-U", "-w", sll2),
		startDump(t, p, tcpdump, "-i", "any", "-n", "--immediate-mode", "-B", "32768", "-y", "LINUX_SLL", "-s", "0", "-U", "-w", sll),
		startDump(t, p, tcpdump, "-i", p.PeerIf, "-n", "--immediate-mode", "-B", "32768", "-s", "0", "-U", "-w", plain),
	}
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})

	liveTraffic(t, p)
	liveHTTP(t, p)
	if out, err := p.Run("A", ping, "-c", "2", "-i", "0.2", "-s", "2000", p.AddrB.String()); err != nil {
		t.Fatalf("ping: %v: %s", err, out)
	}
	time.Sleep(500 * time.Millisecond) // the last FINs and ACKs
	for _, d := range dumps {
		d.stop(t)
	}
	s.stop(t)
	live := canonicalEvents(t, s.sink.String())
	liveTx := httpTxRecord(t, s.sink.String())
	if liveTx["requests"] != 1.0 || liveTx["paired"] != 1.0 || liveTx["orphans"] != 0.0 {
		t.Errorf("live HTTP transactions %v: want the request kept and paired, no orphan", liveTx)
	}
	for _, r := range rs.Rules {
		if !strings.Contains(strings.Join(live, "\n"), `"rule":"`+r.Name+`"`) {
			t.Errorf("rule %s logged nothing live: the traffic does not exercise it", r.Name)
		}
	}
	t.Logf("%d live events", len(live))

	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		opts       runtime.ReplayOptions
	}{
		{"SLL2 capture, snap length 128", sll2, runtime.ReplayOptions{}},
		{"SLL capture", sll, runtime.ReplayOptions{}},
		{"Ethernet capture, --local-mac", plain, runtime.ReplayOptions{Local: runtime.Local{MACs: []net.HardwareAddr{p.MACB}}}},
		{"Ethernet capture, --local-addr", plain, runtime.ReplayOptions{Local: runtime.Local{Prefixes: []netip.Prefix{netip.PrefixFrom(p.AddrB, 32), netip.PrefixFrom(p.Addr6B, 128)}}}},
	} {
		for _, noKernel := range []bool{false, true} {
			c.opts.NoKernel = noKernel
			r, err := runtime.NewReplayer(rs, out, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			capture, err := runtime.OpenCapture(c.path)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			sum, err := runtime.Replay(r, capture, &buf, func(sk runtime.Skip) { t.Errorf("%s: %s", c.name, sk) }, nil)
			capture.Close()
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := canonicalEvents(t, buf.String()); !equalStrings(got, live) {
				t.Errorf("%s (no kernel: %v): the replay's events differ from the live ones\n%s", c.name, noKernel, diffLines(got, live))
			}
			if !noKernel {
				var tx *runtime.TxStats
				for i := range sum.Tx {
					if sum.Tx[i].Proto == "http" {
						tx = &sum.Tx[i]
					}
				}
				if tx == nil || float64(tx.Requests) != liveTx["requests"] || float64(tx.Paired) != liveTx["paired"] || float64(tx.Orphans) != liveTx["orphans"] {
					t.Errorf("%s: the replay's HTTP transactions %+v differ from the live run's %v", c.name, tx, liveTx)
				}
			}
			t.Logf("%s (no kernel: %v): %d frames, directions %v", c.name, noKernel, sum.Frames, sum.Direction)
		}
	}
}

// dump is a tcpdump running in namespace B.
type dump struct {
	cmd    *exec.Cmd
	args   []string
	stderr chan []byte // what tcpdump wrote after "listening on"
}

// startDump starts tcpdump in namespace B and waits until it listens.
func startDump(t *testing.T, p *netns.Pair, tcpdump string, args ...string) *dump {
	t.Helper()
	cmd, err := p.Command("B", tcpdump, args...)
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &dump{cmd: cmd, args: args, stderr: make(chan []byte, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		rest, _ := io.ReadAll(stderr)
		d.stderr <- rest
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpdump %v did not start listening within 10s", args)
	}
	return d
}

// stop ends the capture; a frame the capture lost would make the
// comparison meaningless.
func (d *dump) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGINT)
	d.cmd.Wait()
	if rest := <-d.stderr; !regexp.MustCompile(`(?m)^0 packets dropped by kernel`).Match(rest) {
		t.Fatalf("tcpdump %v lost frames:\n%s", d.args, rest)
	}
}

// liveTraffic: a TCP download of 200 KB from B to A (large GSO frames at
// B's egress), UDP datagrams from A to B over IPv4 and IPv6, one from B to A.
func liveTraffic(t *testing.T, p *netns.Pair) {
	t.Helper()
	var ln net.Listener
	var fromB *net.UDPConn
	var aUDP *net.UDPConn
	if err := p.Do("B", func() (err error) {
		if ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String()); err != nil {
			return err
		}
		fromB, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, 9998)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer fromB.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write(make([]byte, 200<<10))
		conn.Close()
	}()
	err := p.Do("A", func() error {
		var err error
		if aUDP, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrA, 9998))); err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String(), 5*time.Second)
		if err != nil {
			return err
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, conn)
		conn.Close()
		if err != nil || n != 200<<10 {
			return err
		}
		for _, dst := range []netip.AddrPort{netip.AddrPortFrom(p.AddrB, 9999), netip.AddrPortFrom(p.Addr6B, 9999)} {
			u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
			if err != nil {
				return err
			}
			_, err = u.Write(make([]byte, 100))
			u.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("traffic from A: %v", err)
	}
	defer aUDP.Close()
	if _, err := fromB.Write(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
}

// liveHTTP: A sends one HTTP request to B's port 80 and reads B's response
// (both under 60 bytes, so that the 128-byte snap length keeps them whole).
func liveHTTP(t *testing.T, p *netns.Pair) {
	t.Helper()
	var ln net.Listener
	if err := p.Do("B", func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, 80).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		req := make([]byte, 512)
		n, err := conn.Read(req)
		if err == nil && !strings.HasSuffix(string(req[:n]), "\r\n\r\n") {
			err = fmt.Errorf("request %q came in pieces", req[:n])
		}
		if err == nil {
			_, err = conn.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
		}
		served <- err
	}()
	if err := p.Do("A", func() error {
		conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(p.AddrB, 80).String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("GET /x HTTP/1.1\r\nHost: h.example\r\n\r\n")); err != nil {
			return err
		}
		resp, err := io.ReadAll(conn)
		if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.1 404 ") {
			return fmt.Errorf("response %q: %v", resp, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("HTTP from A: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("HTTP server in B: %v", err)
	}
}

// httpTxRecord returns the stream's HTTP transactions record (the
// counters it writes at the end).
func httpTxRecord(t *testing.T, text string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["transactions"] == "http" {
			return m
		}
	}
	t.Fatalf("no HTTP transactions record in the stream:\n%s", text)
	return nil
}

// canonicalEvents turns JSON lines into sorted canonical events: rule,
// hook and fields, without the time, the interface and the frame number.
func canonicalEvents(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON object: %v\n%s", err, line)
		}
		if _, tx := m["transactions"]; tx {
			continue // compared with the replay's counters apart
		}
		if _, lost := m["lost"]; lost {
			t.Errorf("lost events: %s", line)
			continue
		}
		delete(m, "time")
		delete(m, "iface")
		delete(m, "frame")
		b, _ := json.Marshal(m) // sorted keys
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diffLines lists the events only one side has.
func diffLines(got, want []string) string {
	count := map[string]int{}
	for _, s := range want {
		count[s]++
	}
	for _, s := range got {
		count[s]--
	}
	var b strings.Builder
	for s, n := range count {
		switch {
		case n > 0:
			b.WriteString("  live only: " + s + "\n")
		case n < 0:
			b.WriteString("  replay only: " + s + "\n")
		}
	}
	return b.String()
}
