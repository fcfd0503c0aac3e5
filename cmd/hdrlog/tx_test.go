package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestRunAPIExample runs examples/rules/api.rules as a user would, with
// `hdrlog run`, on B's end of a veth pair, where B serves an HTTP API on
// port 8081 and answers DNS on port 53: curl's requests from A get their
// responses logged at tc egress with status, method, host, path and an
// http.time between 0 and curl's own time; a NXDOMAIN answer is logged
// with its dns.time; a query B never answers is reported once, by the
// sweep, as an unanswered record naming its endpoints and id (10 to 20
// seconds after it was sent); the summary says what became of the
// transactions.
func TestRunAPIExample(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	requireTool(t, "curl")
	p := netns.NewPair(t)
	r := startRun(t, p, filepath.Join(repoRoot, "examples", "rules", "api.rules"))

	// The API on B:8081.
	var ln net.Listener
	if err := p.Do("B", func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, 8081).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/orders" {
			time.Sleep(30 * time.Millisecond)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// A resolver on B:53 that answers NXDOMAIN, except to lost.example.
	var pc net.PacketConn
	if err := p.Do("B", func() (err error) {
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(p.AddrB, 53).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 || strings.Contains(string(buf[12:n]), "lost") {
				continue
			}
			resp := append([]byte(nil), buf[:n]...)
			binary.BigEndian.PutUint16(resp[2:], 0x8183) // a response, NXDOMAIN
			pc.WriteTo(resp, from)
		}
	}()

	// curl from A: a 200, then a slow 503, on one connection.
	out, err := p.Run("A", "curl", "-sS", "-m", "10", "-H", "Host: api.example", "-w", `%{http_code} %{time_total}\n`,
		"-o", "/dev/null", fmt.Sprintf("http://%s:8081/users/7", p.AddrB),
		"-o", "/dev/null", fmt.Sprintf("http://%s:8081/orders", p.AddrB))
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var codes []int
	var times []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var code int
		var total float64
		if _, err := fmt.Sscanf(line, "%d %f", &code, &total); err != nil {
			t.Fatalf("curl printed %q: %v", line, err)
		}
		codes, times = append(codes, code), append(times, total)
	}
	if fmt.Sprint(codes) != "[200 503]" {
		t.Fatalf("curl's status codes %v, want [200 503]", codes)
	}

	// Two queries from A: one answered NXDOMAIN, one never answered.
	var lostPort int
	if err := p.Do("A", func() error {
		for _, q := range []struct {
			id   uint16
			name string
		}{{0x1111, "nx.example"}, {0x4242, "lost.example"}} {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, 53)))
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write(testpkt.DNSMessage(q.id, 0x0100, 1, 0, testpkt.DNSName(q.name), 1, 1)); err != nil {
				return err
			}
			if q.name == "lost.example" {
				lostPort = c.LocalAddr().(*net.UDPAddr).Port
			} else {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(make([]byte, 512)); err != nil {
					return fmt.Errorf("no answer to %s: %w", q.name, err)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()

	deadline := time.Now().Add(35 * time.Second)
	for !strings.Contains(r.out.String(), `"unanswered":"dns"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no unanswered record 35 s after the query:\n%s\n%s", r.out, r.errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	reported := time.Since(sent)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v after SIGINT:\n%s", st, r.errOut)
	}
	lines := r.lines(t)

	served := find(lines, "api_served")
	if len(served) != 2 {
		t.Fatalf("%d api_served events, want 2:\n%s", len(served), r.out)
	}
	for i, want := range []map[string]any{
		{"hook": "tc egress", "ip.dst": p.AddrA, "tcp.srcport": 8081, "http.response_for.method": "GET", "http.response_for.host": "api.example", "http.response_for.uri": "/users/7", "http.response.code": 200},
		{"hook": "tc egress", "ip.dst": p.AddrA, "tcp.srcport": 8081, "http.response_for.method": "GET", "http.response_for.host": "api.example", "http.response_for.uri": "/orders", "http.response.code": 503},
	} {
		for k, v := range want {
			if fmt.Sprint(served[i][k]) != fmt.Sprint(v) {
				t.Errorf("api_served %d: %s = %v, want %v", i, k, served[i][k], v)
			}
		}
		secs, ok := served[i]["http.time"].(float64)
		if !ok || secs <= 0 || secs > times[i] {
			t.Errorf("api_served %d: http.time %v, want in (0, %v] (curl's time)", i, served[i]["http.time"], times[i])
		}
		if i == 1 && secs < 0.030 {
			t.Errorf("the 503 took %v s, the server waited 0.030 s", secs)
		}
	}
	nx := find(lines, "dns_failed_served")
	if len(nx) != 1 || nx[0]["dns.qry.name"] != "nx.example" || fmt.Sprint(nx[0]["dns.flags.rcode"]) != "3" {
		t.Fatalf("dns_failed_served: %v, want the NXDOMAIN for nx.example", nx)
	}
	if secs, ok := nx[0]["dns.time"].(float64); !ok || secs <= 0 || secs > 1 {
		t.Errorf("dns_failed_served: dns.time %v", nx[0]["dns.time"])
	}
	var unanswered []map[string]any
	for _, l := range lines {
		if l["unanswered"] != nil {
			unanswered = append(unanswered, l)
		}
	}
	want := map[string]any{"unanswered": "dns", "client": fmt.Sprintf("%s:%d", p.AddrA, lostPort), "server": fmt.Sprintf("%s:53", p.AddrB),
		"transport": "udp", "dns.id": "0x4242"}
	if len(unanswered) != 1 {
		t.Fatalf("%d unanswered records, want 1: %v", len(unanswered), unanswered)
	}
	for k, v := range want {
		if fmt.Sprint(unanswered[0][k]) != fmt.Sprint(v) {
			t.Errorf("unanswered record: %s = %v, want %v", k, unanswered[0][k], v)
		}
	}
	if w, ok := unanswered[0]["waited"].(float64); !ok || w < 10 || w > reported.Seconds()+1 {
		t.Errorf("unanswered record: waited %v, want between the timeout (10 s) and %v", unanswered[0]["waited"], reported)
	}
	stderr := r.errOut.String()
	for _, re := range []string{
		`http transactions: 2 requests, 2 paired, 0 unpaired`,
		`dns transactions: 2 requests, 1 paired, 1 unpaired \(1 timed out, 0 pushed out of a full queue, 0 evicted from the flow map\), 0 waiting, 0 responses without a request`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("summary lacks %q:\n%s", re, stderr)
		}
	}
	t.Logf("unanswered query reported %v after it was sent", reported.Round(time.Millisecond))
}

// TestTestTxFlows: --tx-flows sizes the transaction maps. 200 connections
// each send a request, then each gets its response (a millisecond apart,
// from a capture): with the default map every response is paired; with
// --tx-flows 64 the flows pushed out are counted as evicted and their
// responses pair with nothing, in the summary, and the events with an
// http.time are the kept flows' own.
func TestTestTxFlows(t *testing.T) {
	kerneltest.Require(t)
	const conns = 200
	var frames [][]byte
	for i := range conns {
		frames = append(frames, testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(uint16(20000+i), 80).Seq(1).Flags(testpkt.ACK|testpkt.PSH).
			Payload(testpkt.HTTPRequest("GET", fmt.Sprintf("/r%d", i), "HTTP/1.1", "Host: h")).Bytes())
	}
	for i := range conns {
		frames = append(frames, testpkt.New().IPv4("10.0.0.2", "10.0.0.1").TCP(80, uint16(20000+i)).Seq(1).Flags(testpkt.ACK|testpkt.PSH).
			Payload([]byte("HTTP/1.1 200 OK\r\n\r\n")).Bytes())
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "flows.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1_000_000), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, c := range []struct {
		flags   []string
		summary string
	}{
		{nil, `http transactions: 200 requests, 200 paired, 0 unpaired \(0 timed out, 0 pushed out of a full queue, 0 evicted from the flow map\), 0 waiting, 0 responses without a request`},
		{[]string{"--tx-flows", "64"}, `http transactions: 200 requests, (\d+) paired, (\d+) unpaired \(0 timed out, 0 pushed out of a full queue, (\d+) evicted from the flow map\), 0 waiting, (\d+) responses without a request`},
	} {
		args := append([]string{"test", "-r", capture, "-e", "http.response", "--log", "tcp.dstport,http.time,http.response_for.uri"}, c.flags...)
		code, stdout, stderr := hdrlog(t, dir, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", c.flags, code, stderr)
		}
		m := regexp.MustCompile(c.summary).FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("%v: summary lacks %s:\n%s", c.flags, c.summary, stderr)
		}
		paired := 0
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%v: %v: %s", c.flags, err, line)
			}
			if ev["http.time"] == nil {
				continue
			}
			paired++
			if want := fmt.Sprintf("/r%v", ev["tcp.dstport"].(float64)-20000); ev["http.response_for.uri"] != want {
				t.Errorf("%v: the response to port %v carries %v, want %s", c.flags, ev["tcp.dstport"], ev["http.response_for.uri"], want)
			}
		}
		if len(m) > 1 {
			if m[1] != fmt.Sprint(paired) || m[2] != m[3] || m[3] != m[4] || paired == 0 || paired > 64 {
				t.Errorf("--tx-flows 64: %d events paired, summary %q", paired, m[0])
			}
		} else if paired != conns {
			t.Errorf("default map: %d events paired, want %d", paired, conns)
		}
	}
	code, _, stderr := hdrlog(t, dir, "test", "-r", capture, "-e", "http.time", "--tx-flows", "0")
	if code != 2 || !strings.Contains(stderr, "--tx-flows 0 is out of range") {
		t.Errorf("--tx-flows 0: exit %d\n%s", code, stderr)
	}
}
