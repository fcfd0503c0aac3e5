package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestGroupMapCLI: 5,000 rules of one shape (more than
// compiler.GroupMapMin) compile into a hash map, which `hdrlog compile`
// lists, and `hdrlog test` logs the rules that frames hit, by name, as the
// reference evaluator (--no-kernel) does.
func TestGroupMapCLI(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	const n = 5000
	host := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+i>>16, i>>8&0xff, i&0xff) }
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "rule h%d {\n    match ip.src == %s && tcp.dstport == %d\n    log ip.src, tcp.dstport\n}\n", i, host(i), 1000+i%7000)
	}
	// A second rule on h17's key: both log, in rule order.
	fmt.Fprintf(&b, "rule twin {\n    match ip.src == %s && tcp.dstport == %d\n    log ip.src, tcp.dstport\n}\n", host(17), 1017)
	rulesFile := writeFile(t, dir, "many.rules", b.String())

	code, out, errOut := hdrlog(t, dir, "compile", rulesFile)
	if code != 0 {
		t.Fatalf("compile: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "; map grp") || !strings.Contains(out, fmt.Sprintf("selecting %d rules", n+1)) {
		t.Fatalf("compile lists no group map of %d rules:\n%s", n+1, firstLines(out, 5))
	}

	frame := func(i, port int) []byte {
		return testpkt.New().IPv4(host(i), "192.0.2.1").TCP(40000, uint16(port)).Flags(testpkt.SYN).Bytes()
	}
	capture := filepath.Join(dir, "many.pcap")
	writeCapture(t, capture, [][]byte{frame(0, 1000), frame(17, 1017), frame(n-1, 1000+(n-1)%7000), frame(2500, 1001), frame(n, 1000+n%7000)})
	code, kern, errOut := hdrlog(t, dir, "test", rulesFile, "--pcap", capture)
	if code != 0 {
		t.Fatalf("test: exit %d: %s", code, errOut)
	}
	code, ref, errOut := hdrlog(t, dir, "test", rulesFile, "--pcap", capture, "--no-kernel")
	if code != 0 {
		t.Fatalf("test --no-kernel: exit %d: %s", code, errOut)
	}
	if kern != ref {
		t.Fatalf("kernel and reference differ\nkernel:\n%s\nreference:\n%s", kern, ref)
	}
	var rules []string
	for _, line := range strings.Split(strings.TrimSpace(kern), "\n") {
		if i := strings.Index(line, `"rule":"`); i >= 0 {
			rules = append(rules, strings.SplitN(line[i+8:], `"`, 2)[0])
		}
	}
	if got, want := strings.Join(rules, " "), fmt.Sprintf("h0 h17 twin h%d", n-1); got != want {
		t.Fatalf("rules logged %q, want %q:\n%s", got, want, kern)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
