package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

const sshRules = `rule ssh_syn { match tcp.dstport == 22 && tcp.flags.syn == 1 log ip.src, tcp.srcport, tcp.flags }
rule big { hook xdp match frame.len > 100 log frame.len, tcp.len }
`

// `hdrlog test` as a user's CI runs it: print the events of a capture,
// keep them as the expected file, check against it, and see a readable
// diff when the rules change.
func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "ssh.rules", sshRules)
	capture, err := filepath.Abs(filepath.Join(repoRoot, "testdata/captures/tcpdump/ssh.pcap"))
	if err != nil {
		t.Fatal(err)
	}

	code, ref, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--no-kernel")
	if code != 0 {
		t.Fatalf("--no-kernel: exit %d: %s", code, stderr)
	}
	if first, _, _ := strings.Cut(ref, "\n"); !strings.HasPrefix(first, `{"time":"2018-12-23T10:50:09.891237`) ||
		!strings.HasSuffix(first, `"rule":"ssh_syn","iface":null,"hook":"tc ingress","frame":1,"ip.src":"202.108.87.165","tcp.srcport":62146,"tcp.flags":"0x0002"}`) {
		t.Errorf("--no-kernel: unexpected output:\n%s", ref)
	}
	for _, want := range []string{"54 frames from ssh.pcap through the reference evaluator", "ssh_syn  tc ingress       1", "big      xdp             21"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--no-kernel: summary lacks %q:\n%s", want, stderr)
		}
	}
	expected := writeFile(t, dir, "ssh.expected.jsonl", ref)

	if code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--expect", expected, "--no-kernel"); code != 0 || !strings.Contains(stderr, "ok: the events match") {
		t.Errorf("--expect, same events: exit %d:\n%s", code, stderr)
	}

	changed := writeFile(t, dir, "changed.rules", strings.Replace(sshRules, "frame.len > 100", "frame.len > 200", 1))
	code, stdout, stderr := hdrlog(t, dir, "test", changed, "--pcap", capture, "--expect", expected, "--no-kernel")
	if code != 1 || stdout != "" {
		t.Errorf("--expect, different events: exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"events differ from", "frame 22:\n  rule big: missing event", "11 frames differ (22 events compared)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--expect, different events: stderr lacks %q:\n%s", want, stderr)
		}
	}

	if code, _, stderr := hdrlog(t, dir, "test", rules); code != 2 || !strings.Contains(stderr, "--pcap") {
		t.Errorf("without --pcap: exit %d: %s", code, stderr)
	}
	if code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--hook", "egress"); code != 2 || !strings.Contains(stderr, `unknown hook "egress"`) {
		t.Errorf("bad --hook: exit %d: %s", code, stderr)
	}
	if code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", rules); code != 1 || !strings.Contains(stderr, "not a pcap or pcapng file") {
		t.Errorf("not a capture: exit %d: %s", code, stderr)
	}

	kerneltest.Require(t)
	code, kern, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture)
	if code != 0 {
		t.Fatalf("kernel: exit %d: %s", code, stderr)
	}
	if kern != ref {
		t.Errorf("the kernel's events differ from the reference's:\n%s\nreference:\n%s", kern, ref)
	}
	if !strings.Contains(stderr, "through the kernel (BPF_PROG_TEST_RUN)") {
		t.Errorf("kernel: summary:\n%s", stderr)
	}
	code, xdpOnly, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--hook", "xdp")
	if code != 0 || strings.Contains(xdpOnly, "ssh_syn") || !strings.Contains(xdpOnly, `"rule":"big"`) {
		t.Errorf("--hook xdp: exit %d:\n%s\n%s", code, xdpOnly, stderr)
	}
}
