package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// The tests build the hdrlog binary and run it as a user would.

var hdrlogBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hdrlog-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hdrlogBin = filepath.Join(dir, "hdrlog")
	// As make build does: without cgo, hdrlog can drop capabilities in
	// every thread.
	build := exec.Command("go", "build", "-o", hdrlogBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building hdrlog: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hdrlog runs the binary to completion and returns its exit status and output.
func hdrlog(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(hdrlogBin, args...)
	cmd.Dir = dir
	return runCommand(t, cmd)
}

// runCommand runs cmd to its end and returns its exit status and output.
func runCommand(t *testing.T, cmd *exec.Cmd) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return code, o.String(), e.String()
}

// writeFile writes a file into dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const repoRoot = "../.."

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "a.rules", "rule a { match udp  log udp.dstport }\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"chek"}, `did you mean "check"?`},
		{[]string{"run", rules}, "name the interface to attach to with -i IFACE"},
		{[]string{"run", "-i", "lo"}, "name at least one rule file"},
		{[]string{"check", "--bogus", rules}, "unknown flag: --bogus"},
		{[]string{"check"}, "name at least one rule file"},
		{[]string{"run", "-i", "lo", "--poll-interval", "999us", rules}, "--poll-interval 999µs is below 1ms"},
		{[]string{"run", "-i", "lo", "--ring-size", "3000", rules}, "not a power of two"},
		{[]string{"run", "-i", "lo", "--ring-size", "lots", rules}, `--ring-size "lots" is not a size`},
		{[]string{"run", "-i", "lo", "--ring-size", "64K", "--wakeup-bytes", "64K", rules}, "more than half of --ring-size"},
		{[]string{"version", "extra"}, "version takes no arguments"},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
	} {
		code, _, stderr := hdrlog(t, dir, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("hdrlog %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"run ", "check ", "compile ", "version ", "demo "}},
		{[]string{"-h"}, []string{"Commands:"}},
		{[]string{"run", "-h"}, []string{"Usage: hdrlog run (-i IFACE|PATTERN", "--poll-interval", "--ring-size", "--wakeup-bytes", "SIGKILL"}},
		{[]string{"help", "check"}, []string{"Usage: hdrlog check", "--no-kernel"}},
		{[]string{"compile", "--help"}, []string{"Usage: hdrlog compile"}},
		{[]string{"demo", "-h"}, []string{"--duration"}},
	} {
		code, stdout, stderr := hdrlog(t, ".", tc.args...)
		if code != 0 {
			t.Errorf("hdrlog %v: exit %d, stderr %q", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("hdrlog %v: output lacks %q:\n%s", tc.args, w, stdout)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := hdrlog(t, ".", "version")
	if code != 0 || !regexp.MustCompile(`(?m)^hdrlog dev\ngo go1\.\d+.*\ncilium/ebpf v0\.\d+\.\d+`).MatchString(stdout) {
		t.Errorf("version: exit %d\n%s", code, stdout)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "notes.txt", "hello\n")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--no-kernel", "nosuch.rules"}, "hdrlog check: rule file nosuch.rules does not exist\n"},
		{[]string{"compile", "notes.txt"}, `hdrlog compile: notes.txt: unknown rule file type ".txt" (hdrlog reads .hcl, .rules files)` + "\n"},
		{[]string{"check", "--no-kernel", "empty"}, "hdrlog check: directory empty holds no rule files (.hcl, .rules)\n"},
	} {
		code, _, stderr := hdrlog(t, dir, tc.args...)
		if code != 1 || stderr != tc.want {
			t.Errorf("hdrlog %v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestSyntaxErrorRendered(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.rules", "rule ok {\n    match udp\n    log udp.dstport\n}\nrule broken {\n    match tcp.dstport == == 22\n    log tcp.dstport\n}\n")
	for _, cmd := range []string{"check", "compile"} {
		code, stdout, stderr := hdrlog(t, dir, cmd, "bad.rules")
		if code != 1 || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q", cmd, code, stdout)
		}
		// file:line:col, the source line, a caret under the column.
		m := regexp.MustCompile(`bad\.rules:6:(\d+): error: .*\n.*match tcp\.dstport == == 22\n( *)\^`).FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("%s: no rendered diagnostic with position, source line and caret:\n%s", cmd, stderr)
		}
		if !strings.HasSuffix(stderr, "hdrlog "+cmd+": 1 error in rule files\n") {
			t.Errorf("%s: stderr should end with the error count:\n%s", cmd, stderr)
		}
	}
}

func TestDirectoriesAndUniqueNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.rules", "rule second { hook xdp  match udp  log udp.dstport }\n")
	writeFile(t, dir, "a.rules", "rule first { match tcp  log tcp.dstport }\n")
	writeFile(t, dir, "README.md", "not a rule file\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", ".")
	if code != 0 || !strings.Contains(stdout, "ok: 2 rules in 2 files, 2 programs") {
		t.Fatalf("check dir: exit %d\n%s%s", code, stdout, stderr)
	}
	// The listing follows file order: a.rules before b.rules.
	code, stdout, _ = hdrlog(t, dir, "compile", ".")
	if code != 0 || strings.Index(stdout, "rule first") > strings.Index(stdout, "rule second") {
		t.Errorf("compile dir: exit %d, rules out of file order:\n%s", code, stdout)
	}

	writeFile(t, dir, "c.rules", "rule first { match udp  log udp.srcport }\n")
	code, _, stderr = hdrlog(t, dir, "check", "--no-kernel", ".")
	if code != 1 || !strings.Contains(stderr, "c.rules:1:6: error") || !strings.Contains(stderr, `rule "first" is already defined at a.rules:1:6`) {
		t.Errorf("duplicate rule names across files: exit %d\n%s", code, stderr)
	}
}

func TestCompileListing(t *testing.T) {
	code, stdout, stderr := hdrlog(t, repoRoot, "compile", "examples/demo.rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"; program hdrlog_tc_in, hook tc ingress",
		"; program hdrlog_tc_eg, hook tc egress",
		"; program hdrlog_xdp, hook xdp",
		"rule new_tcp: ", "rule tcp_refused: ", "rule frames: ",
		"call ringbuf_reserve", "r1 = map[events]", "r1 = map[lost]", ".parse.done:",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^ +\d+: r\d = \*\(u(8|16|32) \*\)\(r\d+ [+-]\d+\)$`).MatchString(stdout) {
		t.Error("listing has no load in bpftool syntax")
	}
	if !regexp.MustCompile(`(?m)^ +\d+: if r\d+ [!=<>&s]+ (\w+|r\d+) goto \.[\w.]+$`).MatchString(stdout) {
		t.Error("listing has no conditional jump to a label")
	}
}

func TestCheckNoKernel(t *testing.T) {
	code, stdout, stderr := hdrlog(t, repoRoot, "check", "--no-kernel", "examples/demo.rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^tc ingress +hdrlog_tc_in +\d+ +not loaded +new_tcp, new_tcp6, udp, ping$`).MatchString(stdout) ||
		!strings.Contains(stdout, "ok: 7 rules in 1 file, 3 programs compiled (not loaded: --no-kernel)") {
		t.Errorf("check --no-kernel output:\n%s", stdout)
	}
}

func TestCheckKernel(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	writeFile(t, dir, "w.rules", "rule w {\n    match tcp.flags.syn\n    log tcp.dstport\n}\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "w.rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The warning is rendered like an error, with position and caret.
	if !regexp.MustCompile(`w\.rules:2:11: warning: .*\n.*match tcp\.flags\.syn\n +\^`).MatchString(stderr) {
		t.Errorf("warning not rendered:\n%s", stderr)
	}
	m := regexp.MustCompile(`(?m)^tc ingress +hdrlog_tc_in +(\d+) +(\d+) +w$`).FindStringSubmatch(stdout)
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("check should print the instruction and verifier-processed counts:\n%s", stdout)
	}
	if !strings.Contains(stdout, "ok: 1 rule in 1 file, 1 program verified by the kernel") {
		t.Errorf("check verdict:\n%s", stdout)
	}
}

const runRules = `
rule syn_in {
    hook tc ingress
    match tcp.dstport == 8080 && tcp.flags.syn == 1 && tcp.flags.ack == 0
    log ip.src, ip.dst, tcp.srcport, tcp.dstport, tcp.flags
}
rule synack_out {
    hook tc egress
    match tcp.srcport == 8080 && tcp.flags == 0x012
    log ip.src, ip.dst, tcp.srcport, tcp.dstport, tcp.flags
}
rule udp_in {
    hook tc ingress
    match udp.dstport == 9999
    log ip.src, ip.dst, udp.srcport, udp.dstport, udp.length
}
rule udp_xdp {
    hook xdp
    match udp.dstport == 9999
    log ip.src, udp.dstport, frame.len
}
`

// liveRun is `hdrlog run` running inside namespace B.
type liveRun struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	errOut *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startRun(t *testing.T, p *netns.Pair, args ...string) *liveRun {
	t.Helper()
	cmd, err := p.Command("B", hdrlogBin, append([]string{"run", "-i", p.PeerIf}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return startLive(t, cmd, cmd.Start)
}

// startLive starts cmd (a hdrlog run) with start, which may start it in
// another namespace, and waits until it has attached. The process is killed
// when the test ends.
func startLive(t *testing.T, cmd *exec.Cmd, start func() error) *liveRun {
	t.Helper()
	r := &liveRun{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.errOut
	if err := start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	// Wait until it has attached. Loading a large rule set takes seconds of
	// verifier time on a loaded machine; the deadline only bounds a hang.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(r.errOut.String(), "streaming events") {
		select {
		case <-r.done:
			t.Fatalf("hdrlog run exited before attaching: %v\n%s", cmd.ProcessState, r.errOut)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("hdrlog run did not attach within 90 s:\n%s", r.errOut)
		}
	}
	return r
}

// lines parses the JSON lines written so far.
func (r *liveRun) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func (r *liveRun) wait(t *testing.T) *os.ProcessState {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("hdrlog run did not exit within 10 s:\n%s", r.errOut)
	}
	return r.cmd.ProcessState
}

// sendTraffic connects over TCP and sends one UDP datagram from A to B,
// and returns the client ports.
func sendTraffic(t *testing.T, p *netns.Pair) (tcpPort, udpPort int) {
	t.Helper()
	var ln net.Listener
	if err := p.Do("B", func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	err := p.Do("A", func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(p.AddrB, 8080).String(), 5*time.Second)
		if err != nil {
			return err
		}
		tcpPort = c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, 9999)))
		if err != nil {
			return err
		}
		defer u.Close()
		udpPort = u.LocalAddr().(*net.UDPAddr).Port
		_, err = u.Write(make([]byte, 20))
		return err
	})
	if err != nil {
		t.Fatalf("traffic from A: %v", err)
	}
	return tcpPort, udpPort
}

// attachedPrograms counts what is attached to the veth end in B: tcx
// programs by BPF_PROG_QUERY, XDP by netlink (through iproute2).
func attachedPrograms(t *testing.T, p *netns.Pair) (tcx int, xdp bool) {
	t.Helper()
	err := p.Do("B", func() error {
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			r, err := link.QueryPrograms(link.QueryOptions{Target: p.IfindexB, Attach: at})
			if err != nil {
				return err
			}
			tcx += len(r.Programs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query tcx: %v", err)
	}
	out, err := p.Run("B", "ip", "-d", "-j", "link", "show", "dev", p.PeerIf)
	if err != nil {
		t.Fatal(err)
	}
	var links []map[string]any
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show: %v\n%s", err, out)
	}
	_, xdp = links[0]["xdp"]
	return tcx, xdp
}

// waitDetached waits until nothing is attached to the veth end in B.
func waitDetached(t *testing.T, p *netns.Pair) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tcx, xdp := attachedPrograms(t, p)
		if tcx == 0 && !xdp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after hdrlog ended, %d tcx programs and xdp %v are still attached to %s", tcx, xdp, p.PeerIf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func find(lines []map[string]any, rule string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["rule"] == rule {
			out = append(out, l)
		}
	}
	return out
}

func TestRunSIGINT(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, t.TempDir(), "run.rules", runRules)
	r := startRun(t, p, "--poll-interval", "5ms", rules)
	if tcx, xdp := attachedPrograms(t, p); tcx != 2 || !xdp {
		t.Errorf("while running: %d tcx programs, xdp %v; want 2 and true", tcx, xdp)
	}
	tcpPort, udpPort := sendTraffic(t, p)

	deadline := time.Now().Add(5 * time.Second)
	for len(find(r.lines(t), "udp_xdp")) == 0 || len(find(r.lines(t), "synack_out")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("events did not arrive while running:\n%s\n%s", r.out, r.errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v after SIGINT:\n%s", st, r.errOut)
	}
	lines := r.lines(t)
	check := func(rule string, want map[string]any) {
		t.Helper()
		evs := find(lines, rule)
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1: %v", rule, len(evs), evs)
			return
		}
		for k, v := range want {
			if fmt.Sprint(evs[0][k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v", rule, k, evs[0][k], v)
			}
		}
	}
	check("syn_in", map[string]any{"hook": "tc ingress", "iface": p.PeerIf, "ip.src": p.AddrA, "ip.dst": p.AddrB,
		"tcp.srcport": tcpPort, "tcp.dstport": 8080, "tcp.flags": "0x0002"})
	check("synack_out", map[string]any{"hook": "tc egress", "iface": p.PeerIf, "ip.src": p.AddrB, "ip.dst": p.AddrA,
		"tcp.srcport": 8080, "tcp.dstport": tcpPort, "tcp.flags": "0x0012"})
	check("udp_in", map[string]any{"hook": "tc ingress", "ip.src": p.AddrA, "ip.dst": p.AddrB,
		"udp.srcport": udpPort, "udp.dstport": 9999, "udp.length": 28})
	check("udp_xdp", map[string]any{"hook": "xdp", "ip.src": p.AddrA, "udp.dstport": 9999, "frame.len": 14 + 20 + 28})
	for _, l := range lines {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err != nil {
			t.Errorf("time %v: %v", l["time"], err)
		}
	}

	// The summary: a table of events and lost events per rule.
	stderr := r.errOut.String()
	for _, re := range []string{
		`(?m)^rule +hook +events +lost$`,
		`(?m)^syn_in +tc ingress +1 +0$`,
		`(?m)^synack_out +tc egress +1 +0$`,
		`(?m)^udp_in +tc ingress +1 +0$`,
		`(?m)^udp_xdp +xdp +1 +0$`,
		`(?m)^total +4 +0$`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("summary lacks %s:\n%s", re, stderr)
		}
	}
	waitDetached(t, p)
}

func TestRunSIGKILLLeavesNothingAttached(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, t.TempDir(), "run.rules", runRules)
	r := startRun(t, p, rules)
	if tcx, xdp := attachedPrograms(t, p); tcx != 2 || !xdp {
		t.Fatalf("while running: %d tcx programs, xdp %v; want 2 and true", tcx, xdp)
	}
	sendTraffic(t, p)
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hdrlog ended with %v, not by SIGKILL", st)
	}
	waitDetached(t, p)
}

func TestRunErrors(t *testing.T) {
	kerneltest.Require(t)
	rules := writeFile(t, t.TempDir(), "a.rules", "rule a { match udp  log udp.dstport }\n")
	code, stdout, stderr := hdrlog(t, ".", "run", "-i", "nosuch0", rules)
	if code != 1 || stdout != "" || !regexp.MustCompile(`^hdrlog run: no interface named "nosuch0" here \(interfaces: .*\)\n$`).MatchString(stderr) {
		t.Errorf("unknown interface: exit %d, stderr %q", code, stderr)
	}
}

func TestDemo(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	// From a directory without examples/: the demo's rules are built in.
	code, stdout, stderr := hdrlog(t, t.TempDir(), "demo", "--duration", "1s")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, stderr)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("demo line is not JSON: %s", sc.Text())
		}
		seen[fmt.Sprint(m["rule"])]++
	}
	for _, rule := range []string{"new_tcp", "new_tcp6", "tcp_refused", "udp", "ping", "pong", "frames"} {
		if seen[rule] == 0 {
			t.Errorf("demo printed no event of rule %s:\n%s", rule, stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^total +\d+ +0$`).MatchString(stderr) {
		t.Errorf("demo summary missing:\n%s", stderr)
	}
	m := regexp.MustCompile(`removed namespaces (\S+) and (\S+)\n`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("demo did not report removing its namespaces:\n%s", stderr)
	}
	for _, ns := range m[1:] {
		if _, err := os.Stat(filepath.Join(netns.RunDir, ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after the demo", ns)
		}
	}
}

// A refusal for lack of privileges is one line naming what is missing.
func TestPrivilegeErrors(t *testing.T) {
	kerneltest.RequireRoot(t)
	dir, bin := nobodyCopy(t)
	rules := writeFile(t, dir, "a.rules", "rule a { match udp  log udp.dstport }\n")
	capture, err := os.ReadFile(filepath.Join("..", "..", "testdata", "captures", "tcpdump", "dns_udp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "dns.pcap")
	if err := os.WriteFile(pcap, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		ambient []uintptr
		want    string
	}{
		{[]string{"check", rules}, nil, "this process lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON; without them, --no-kernel parses, type-checks and compiles"},
		{[]string{"check", rules}, []uintptr{39 /* CAP_BPF */, 38 /* CAP_PERFMON */}, "this process lacks CAP_NET_ADMIN; without them, --no-kernel"},
		// test names what it lacks as check does, not the library's hint.
		{[]string{"test", rules, "--pcap", pcap}, nil, "this process lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON; without them, --no-kernel replays the capture through the reference evaluator"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: tc.ambient,
		}
		var e bytes.Buffer
		cmd.Stderr = &e
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s as nobody with capabilities %v: %v, want exit status 1\n%s", tc.args[0], tc.ambient, err, e.String())
			continue
		}
		msg := e.String()
		if !strings.HasPrefix(msg, "hdrlog "+tc.args[0]+": loading eBPF programs needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON") ||
			!strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 || strings.Contains(msg, "rlimit") {
			t.Errorf("%s as nobody with capabilities %v: stderr %q, want one line with %q", tc.args[0], tc.ambient, msg, tc.want)
		}
	}
}

// nobodyCopy copies the hdrlog binary into a fresh directory that the user
// nobody can reach (t.TempDir's parent is private to root).
func nobodyCopy(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hdrlog-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "hdrlog")
	data, err := os.ReadFile(hdrlogBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// runAsNobody runs bin as the user nobody with the given ambient
// capabilities, and returns its exit status and output.
func runAsNobody(t *testing.T, bin string, ambient []uintptr, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: ambient,
	}
	return runCommand(t, cmd)
}
