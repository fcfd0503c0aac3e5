package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

const dirRules = `rule syn_in { match tcp.flags.syn == 1 log ip.src }
rule syn_out { hook tc egress match tcp.flags.syn == 1 log ip.src }
`

// writeFrames writes Ethernet frames as a pcap file.
func writeFrames(t *testing.T, dir, name string, lt layers.LinkType, frames ...[]byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, lt); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// `hdrlog test` sends each frame to the hooks of its direction: from a
// Linux cooked capture, from --direction, or from --local-addr; the summary
// counts the frames of each direction and those that went through every hook.
func TestTestCommandDirection(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "dir.rules", dirRules)
	in := testpkt.New().IPv4("192.0.2.9", "10.0.0.1").TCP(40000, 22).Flags(testpkt.SYN).Bytes()
	out := testpkt.New().IPv4("10.0.0.1", "192.0.2.9").TCP(40001, 22).Flags(testpkt.SYN).Bytes()
	plain := writeFrames(t, dir, "eth.pcap", layers.LinkTypeEthernet, in, out)

	count := func(stdout, rule string) int { return strings.Count(stdout, `"rule":"`+rule+`"`) }
	for _, noKernel := range []bool{true, false} {
		extra := []string{}
		if noKernel {
			extra = append(extra, "--no-kernel")
		} else {
			kerneltest.Require(t)
		}
		run := func(args ...string) (string, string) {
			t.Helper()
			code, stdout, stderr := hdrlog(t, dir, append(append([]string{"test", rules}, args...), extra...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			return stdout, stderr
		}
		// No direction in the capture: both frames through both hooks.
		stdout, stderr := run("--pcap", plain)
		if count(stdout, "syn_in") != 2 || count(stdout, "syn_out") != 2 ||
			!strings.Contains(stderr, "direction: 0 frames received (tc ingress, xdp), 0 frames sent (tc egress), 2 frames with no known direction, through every hook") {
			t.Errorf("no direction:\n%s%s", stdout, stderr)
		}
		stdout, stderr = run("--pcap", plain, "--local-addr", "10.0.0.0/24")
		if count(stdout, "syn_in") != 1 || count(stdout, "syn_out") != 1 || !strings.Contains(stderr, "1 frame received (tc ingress, xdp), 1 frame sent (tc egress), 0 frames with no known") ||
			!strings.Contains(stdout, `"rule":"syn_in","iface":null,"hook":"tc ingress","frame":1,"ip.src":"192.0.2.9"`) {
			t.Errorf("--local-addr:\n%s%s", stdout, stderr)
		}
		stdout, _ = run("--pcap", plain, "--direction", "in")
		if count(stdout, "syn_in") != 2 || count(stdout, "syn_out") != 0 {
			t.Errorf("--direction in:\n%s", stdout)
		}
		// A Linux cooked capture (SLL2) says the direction itself.
		cooked := writeFrames(t, dir, "sll2.pcap", layers.LinkTypeLinuxSLL2, sll2(0, in), sll2(4, out))
		stdout, stderr = run("--pcap", cooked)
		if count(stdout, "syn_in") != 1 || count(stdout, "syn_out") != 1 || !strings.Contains(stderr, "2 frames rebuilt as Ethernet from a Linux cooked capture") {
			t.Errorf("SLL2:\n%s%s", stdout, stderr)
		}
	}
	for _, c := range []struct{ flag, value, want string }{
		{"--direction", "both", `direction "both": want in or out`},
		{"--local-mac", "02:00:00", "--local-mac \"02:00:00\""},
		{"--local-addr", "10.0.0.300", "--local-addr \"10.0.0.300\""},
	} {
		if code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", plain, "--no-kernel", c.flag, c.value); code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %s: exit %d: %s", c.flag, c.value, code, stderr)
		}
	}
}

// sll2 wraps an Ethernet frame's payload in a Linux cooked v2 header.
func sll2(pktType byte, eth []byte) []byte {
	h := make([]byte, 20)
	copy(h[0:2], eth[12:14])
	binary.BigEndian.PutUint32(h[4:], 2)
	binary.BigEndian.PutUint16(h[8:], 1)
	h[10], h[11] = pktType, 6
	copy(h[12:], eth[6:12])
	return append(h, eth[14:]...)
}
