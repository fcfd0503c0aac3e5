package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

const udpInRules = `rule udp_in { hook tc ingress  match udp.dstport == 9999  log udp.srcport, ip.dst }`

// TestRunFollowsInterfaces drives a running hdrlog through an interface
// deleted and created again under the same name, a reload, and new
// interfaces matching a pattern (attached with the reloaded rules): each
// datagram sent on an attached interface is logged once, and each change
// is a record in the stream.
func TestRunFollowsInterfaces(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, t.TempDir(), "udp.rules", udpInRules)
	pattern := p.Name + "x*"
	r := startRun(t, p, "--poll-interval", "5ms", "-i", pattern, rules)

	// The veth of the pair, then deleted (with its peer), then again.
	sent := map[int]string{} // UDP source port -> interface it arrives on
	send := func(from, to netip.Addr, iface string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			sent[sendUDP(t, p, from, to)] = iface
		}
	}
	send(p.AddrA, p.AddrB, p.PeerIf, 3)
	waitEvents(t, r, sent)

	if _, err := p.Run("A", "ip", "link", "del", p.HostIf); err != nil {
		t.Fatal(err)
	}
	waitRecord(t, r, p.PeerIf, "gone", 1)
	if !strings.Contains(r.errOut.String(), "interface "+p.PeerIf) || !strings.Contains(r.errOut.String(), "went away") {
		t.Errorf("no notice of the interface going away:\n%s", r.errOut)
	}
	addVeth(t, p, p.HostIf, p.PeerIf, netip.PrefixFrom(p.AddrA, netns.PrefixLen4), netip.PrefixFrom(p.AddrB, netns.PrefixLen4))
	waitRecord(t, r, p.PeerIf, "attached", 1)
	send(p.AddrA, p.AddrB, p.PeerIf, 3)
	waitEvents(t, r, sent)

	// A reload: the rule now logs udp.length too.
	writeFile(t, filepath.Dir(rules), "udp.rules", strings.Replace(udpInRules, "ip.dst", "ip.dst, udp.length", 1))
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, r, 1)
	send(p.AddrA, p.AddrB, p.PeerIf, 3)
	waitEvents(t, r, sent)

	// New interfaces whose names match the pattern.
	for i := 1; i <= 2; i++ {
		a, b := fmt.Sprintf("%sy%d", p.Name, i), fmt.Sprintf("%sx%d", p.Name, i)
		pa := netip.MustParsePrefix(fmt.Sprintf("192.168.%d.1/24", 240+i))
		pb := netip.MustParsePrefix(fmt.Sprintf("192.168.%d.2/24", 240+i))
		addVeth(t, p, a, b, pa, pb)
		waitRecord(t, r, b, "attached", 1)
		send(pa.Addr(), pb.Addr(), b, 3)
	}
	waitEvents(t, r, sent)

	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v:\n%s", st, r.errOut)
	}
	// Exactly once each, nothing else; the pattern's interfaces, attached
	// after the reload, with the new rules.
	got := map[int]int{}
	for _, l := range find(r.lines(t), "udp_in") {
		got[int(l["udp.srcport"].(float64))]++
		if _, newShape := l["udp.length"]; !newShape && strings.HasPrefix(fmt.Sprint(l["iface"]), p.Name+"x") {
			t.Errorf("an interface attached after the reload ran the old rules: %v", l)
		}
	}
	for port := range sent {
		if got[port] != 1 {
			t.Errorf("datagram from port %d (%s) logged %d times", port, sent[port], got[port])
		}
	}
	if len(got) != len(sent) {
		t.Errorf("%d datagrams logged, %d sent", len(got), len(sent))
	}
}

// sendUDP sends one datagram from A to to:9999 and returns its source port.
func sendUDP(t *testing.T, p *netns.Pair, from, to netip.Addr) int {
	t.Helper()
	var port int
	err := p.Do("A", func() error {
		u, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, 9999)))
		if err != nil {
			return err
		}
		defer u.Close()
		port = u.LocalAddr().(*net.UDPAddr).Port
		_, err = u.Write([]byte("hdrlog"))
		return err
	})
	if err != nil {
		t.Fatalf("send from A: %v", err)
	}
	return port
}

// addVeth creates a veth pair between A (end a) and B (end b), with
// addresses, up, and waits until both ends run.
func addVeth(t *testing.T, p *netns.Pair, a, b string, pa, pb netip.Prefix) {
	t.Helper()
	for _, s := range [][]string{
		{"A", "ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", p.NSB},
		{"A", "ip", "addr", "add", pa.String(), "dev", a},
		{"B", "ip", "addr", "add", pb.String(), "dev", b},
		{"A", "ip", "link", "set", a, "up"},
		{"B", "ip", "link", "set", b, "up"},
	} {
		if out, err := p.Run(s[0], s[1], s[2:]...); err != nil {
			t.Fatalf("%v: %v\n%s", s, err, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, end := range [][2]string{{"A", a}, {"B", b}} {
		for {
			out, err := p.Run(end[0], "ip", "-j", "link", "show", "dev", end[1])
			var links []struct{ Operstate string }
			if err == nil && json.Unmarshal(out, &links) == nil && len(links) == 1 && links[0].Operstate == "UP" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s in %s not up after 5 s: %s", end[1], end[0], out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitRecord waits until the stream holds n records of event for iface.
func waitRecord(t *testing.T, r *liveRun, iface, event string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := 0
		for _, l := range r.lines(t) {
			if l["interface"] == iface && l["event"] == event {
				c++
			}
		}
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q record for %s after 5 s:\n%s\n%s", event, iface, r.out, r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEvents waits until every datagram sent is logged on its interface.
func waitEvents(t *testing.T, r *liveRun, sent map[int]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		seen := map[int]string{}
		for _, l := range find(r.lines(t), "udp_in") {
			seen[int(l["udp.srcport"].(float64))] = fmt.Sprint(l["iface"])
		}
		missing := 0
		for port, iface := range sent {
			if seen[port] != iface {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d datagrams not logged on their interface after 5 s:\n%s\n%s", missing, len(sent), r.out, r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startRunHere starts hdrlog run in the test's own network namespace.
func startRunHere(t *testing.T, args ...string) *liveRun {
	t.Helper()
	cmd := exec.Command(hdrlogBin, append([]string{"run"}, args...)...)
	return startLive(t, cmd, cmd.Start)
}

// --netns attaches inside another namespace, from outside it; events name
// the interface as that namespace knows it. A second hdrlog whose XDP
// program finds the hook taken names the program and the first hdrlog.
func TestRunNetnsAndTakenXDPHook(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "udp.rules", udpInRules+"\nrule x { hook xdp match udp.dstport == 9999 log udp.srcport }\n")
	r := startRunHere(t, "--netns", p.NSB, "-i", p.PeerIf, "--poll-interval", "5ms", rules)
	sent := map[int]string{sendUDP(t, p, p.AddrA, p.AddrB): p.PeerIf}
	waitEvents(t, r, sent)
	if n := len(find(r.lines(t), "x")); n != 1 {
		t.Errorf("%d xdp events, want 1", n)
	}

	code, _, stderr := hdrlog(t, dir, "run", "--netns", "/run/netns/"+p.NSB, "-i", p.PeerIf, rules)
	want := regexp.MustCompile(`^hdrlog run: attach xdp program to ` + p.PeerIf + `: the XDP hook of ` + p.PeerIf +
		` is taken by program \d+ "hdrlog_xdp" \(tag [0-9a-f]+\) in driver mode, through bpf_link \d+, held by hdrlog \(pid ` +
		fmt.Sprint(r.cmd.Process.Pid) + `\); stop that process`)
	if code != 1 || !want.MatchString(stderr) {
		t.Errorf("second hdrlog: exit %d, stderr %q; want %s", code, stderr, want)
	}
	code, _, stderr = hdrlog(t, dir, "run", "--netns", "nosuch-ns", "-i", "eth0", rules)
	if code != 1 || !strings.Contains(stderr, "network namespace nosuch-ns: /run/netns/nosuch-ns does not exist") {
		t.Errorf("unknown namespace: exit %d, stderr %q", code, stderr)
	}
}

// --all attaches to every interface but loopback, present and future.
func TestRunAll(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, t.TempDir(), "udp.rules", udpInRules)
	r := startInB(t, p, hdrlogBin, nil, "run", "--all", "--poll-interval", "5ms", rules)
	if s := r.errOut.String(); !strings.Contains(s, "hdrlog: attached "+p.PeerIf+" tc ingress\n") {
		t.Errorf("--all did not attach to %s alone (lo is left out):\n%s", p.PeerIf, s)
	}
	a, b := p.Name+"y", p.Name+"z"
	pa, pb := netip.MustParsePrefix("192.168.250.1/24"), netip.MustParsePrefix("192.168.250.2/24")
	addVeth(t, p, a, b, pa, pb)
	waitRecord(t, r, b, "attached", 1)
	sent := map[int]string{sendUDP(t, p, pa.Addr(), pb.Addr()): b, sendUDP(t, p, p.AddrA, p.AddrB): p.PeerIf}
	waitEvents(t, r, sent)
	for _, l := range r.lines(t) {
		if l["interface"] == "lo" {
			t.Errorf("loopback attached: %v", l)
		}
	}
}
