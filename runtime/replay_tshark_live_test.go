package runtime_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestAgainstWiresharkLive records real traffic and compares hdrlog and
// Wireshark on it: tcpdump -w in namespace B while curl, nc, dig and ping run
// from namespace A against servers in B (HTTP and DNS served by this test,
// TCP and UDP by nc), plus VLAN-tagged, QinQ and fragmented frames injected
// raw (captured with their tags inline, as libpcap restores them). The
// download is large enough for the sender's GSO frames (tens of KB, beyond
// the tc test-run limit) to be in the capture.
//
// Tools: tcpdump, tshark, curl, nc (netcat-openbsd), dig (dnsutils),
// ping (iputils-ping).
func TestAgainstWiresharkLive(t *testing.T) {
	kerneltest.Require(t)
	kerneltest.RequireRoot(t)
	tools := map[string]string{}
	for _, name := range []string{"tcpdump", "tshark", "curl", "nc", "dig", "ping"} {
		tools[name] = requireTool(t, name)
	}
	p := netns.NewPair(t)
	file := filepath.Join(t.TempDir(), "live.pcap")

	serveHTTP(t, p)
	serveDNS(t, p)
	for _, args := range [][]string{{"-4", "-l", "-k", "9000"}, {"-6", "-l", "-k", "9000"}, {"-4", "-u", "-l", "9001"}} {
		if _, err := p.Start("B", tools["nc"], args...); err != nil {
			t.Fatal(err)
		}
	}

	dump, err := p.Command("B", tools["tcpdump"], "-i", p.PeerIf, "-n", "-s", "0", "-U", "-w", file)
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening within 10s")
	}

	b4, b6 := p.AddrB.String(), p.Addr6B.String()
	run := func(args ...string) {
		t.Helper()
		if out, err := p.Run("A", args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	run(tools["curl"], "-sS", "-o", "/dev/null", "http://"+b4+":8080/")
	run(tools["curl"], "-sS", "-o", "/dev/null", "-H", "User-Agent: hdrlog-test", "http://"+b4+":8080/big")
	run(tools["curl"], "-sS", "-o", "/dev/null", "http://["+b6+"]:8080/big")
	run("sh", "-c", fmt.Sprintf("echo hello | %s -N %s 9000", tools["nc"], b4))
	run("sh", "-c", fmt.Sprintf("echo hello | %s -N %s 9000", tools["nc"], b6))
	run("sh", "-c", fmt.Sprintf("echo datagram | %s -u -w 1 %s 9001", tools["nc"], b4))
	run(tools["dig"], "+tries=1", "+time=2", "@"+b4, "hdrlog.test", "A")
	run(tools["dig"], "+tries=1", "+time=2", "@"+b6, "hdrlog.test", "AAAA")
	run(tools["ping"], "-c", "2", "-i", "0.2", "-s", "3000", b4) // fragmented echo requests and replies
	run(tools["ping"], "-6", "-c", "2", "-i", "0.2", b6)
	if err := p.InjectRaw("A", p.HostIf, injectedFrames(p)...); err != nil {
		t.Fatal(err)
	}

	time.Sleep(300 * time.Millisecond) // let the last frames reach tcpdump
	dump.Process.Signal(syscall.SIGINT)
	dump.Wait()

	checkAgainstWireshark(t, map[string]string{"live": file}, false)
}

// injectedFrames are frames no client sends: VLAN-tagged and QinQ traffic
// and IPv4 fragments, addressed to B.
func injectedFrames(p *netns.Pair) [][]byte {
	a, b := p.MACA.String(), p.MACB.String()
	a4, b4 := p.AddrA.String(), p.AddrB.String()
	return [][]byte{
		testpkt.New().Eth(a, b).VLAN(testpkt.TPID8021Q, 3, false, 165).IPv4(a4, b4).TTL(7).TCP(40000, 80).Flags(testpkt.SYN).Bytes(),
		testpkt.New().Eth(a, b).VLAN(testpkt.TPID8021Q, 0, true, 42).VLAN(testpkt.TPID8021Q, 5, false, 7).IPv4(a4, b4).UDP(5353, 53).Payload([]byte("not dns")).Bytes(),
		testpkt.New().Eth(a, b).IPv4(a4, b4).ID(0x4242).MF().UDP(1234, 53).Payload(make([]byte, 64)).Bytes(),
		testpkt.New().Eth(a, b).IPv4(a4, b4).ID(0x4242).FragOffset(9).Proto(17).Payload(make([]byte, 32)).Bytes(),
		testpkt.New().Eth(a, b).IPv4(a4, b4).TOS(0xb8).TCP(1500, 22).Flags(testpkt.SYN | testpkt.ECE | testpkt.CWR).Bytes(),
	}
}

// serveHTTP serves, in namespace B on port 8080, a small page at / and
// 256 KB at /big.
func serveHTTP(t *testing.T, p *netns.Pair) {
	var ln net.Listener
	err := p.Do("B", func() error {
		var err error
		ln, err = net.Listen("tcp", ":8080")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("hdrlog test body\n", 256<<10/17)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "hello\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
}

// serveDNS answers every query in namespace B on port 53 with one A record
// (10.53.53.53), enough for dig.
func serveDNS(t *testing.T, p *netns.Pair) {
	var conn net.PacketConn
	err := p.Do("B", func() error {
		var err error
		conn, err = net.ListenPacket("udp", ":53")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n]); resp != nil {
				conn.WriteTo(resp, from)
			}
		}
	}()
}

// dnsAnswer builds the response to a query with one question: the question
// and an A record pointing at it. Anything else gets no answer (an answer to
// a port nobody listens on would bring back an ICMP error, which Wireshark
// and hdrlog decode differently).
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	end := 12
	for end < len(q) && q[end] != 0 {
		end += int(q[end]) + 1
	}
	end += 5 // root label, type, class
	if end > len(q) {
		return nil
	}
	resp := append([]byte(nil), q[:end]...)
	binary.BigEndian.PutUint16(resp[2:], 0x8180)   // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[4:], 1)        // questions
	binary.BigEndian.PutUint16(resp[6:], 1)        // answers
	binary.BigEndian.PutUint32(resp[8:], 0)        // authority, additional
	resp = append(resp, 0xc0, 12, 0, 1, 0, 1)      // name (pointer to the question), A, IN
	resp = binary.BigEndian.AppendUint32(resp, 60) // TTL
	resp = append(resp, 0, 4, 10, 53, 53, 53)      // address
	return resp
}
