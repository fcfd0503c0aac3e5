package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// Compressed captures are read by their first bytes, whatever their name,
// and give the events of the capture they hold, through the kernel and the
// reference evaluator; a corrupt one is a clear error.
func TestTestCommandCompressedCaptures(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "ssh.rules", sshRules)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "testdata/captures/tcpdump/ssh.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	enc, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(raw)
	enc.Close()
	plain := writeFile(t, dir, "ssh.pcap", string(raw))
	files := map[string]string{
		"gzip": writeFile(t, dir, "ssh.capture", gz.String()), // no .gz: the magic bytes decide
		"zstd": writeFile(t, dir, "ssh.pcap.zst", zs.String()),
	}
	modes := [][]string{{"--no-kernel"}}
	if os.Geteuid() == 0 {
		kerneltest.Require(t)
		modes = append(modes, nil)
	}
	for _, mode := range modes {
		code, want, stderr := hdrlog(t, dir, append([]string{"test", rules, "--pcap", plain}, mode...)...)
		if code != 0 || strings.Count(want, "\n") != 22 {
			t.Fatalf("%v, uncompressed: exit %d, %d events: %s", mode, code, strings.Count(want, "\n"), stderr)
		}
		for name, path := range files {
			code, got, stderr := hdrlog(t, dir, append([]string{"test", rules, "--pcap", path}, mode...)...)
			if code != 0 || got != want {
				t.Errorf("%v, %s: exit %d, events differ from the uncompressed capture's:\n%s\nstderr: %s", mode, name, code, got, stderr)
			}
			if !strings.Contains(stderr, "54 frames from") {
				t.Errorf("%v, %s: summary: %s", mode, name, stderr)
			}
		}
	}
	cut := writeFile(t, dir, "cut.pcap.gz", gz.String()[:gz.Len()/2])
	code, _, stderr := hdrlog(t, dir, "test", rules, "--pcap", cut, "--no-kernel")
	if code == 0 || !strings.Contains(stderr, "gzip-compressed capture") {
		t.Errorf("a gzip capture cut in half: exit %d: %s", code, stderr)
	}
}

// A pcapng capture of several interfaces: each event names the interface of
// its frame.
func TestTestCommandSeveralInterfaces(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "all.rules", "rule all { match tcp log tcp.dstport }\n")
	path := filepath.Join(dir, "two.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "wan0", LinkType: layers.LinkTypeEthernet}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "lan0", LinkType: layers.LinkTypeEthernet}); err != nil {
		t.Fatal(err)
	}
	ifaces := []string{"wan0", "lan0", "lan0", "wan0", "lan0"}
	for i, name := range ifaces {
		data := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(40000, uint16(1000+i)).Bytes()
		idx := 0
		if name == "lan0" {
			idx = 1
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000+int64(i), 0), CaptureLength: len(data), Length: len(data), InterfaceIndex: idx}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	modes := [][]string{{"--no-kernel"}}
	if os.Geteuid() == 0 {
		kerneltest.Require(t)
		modes = append(modes, nil)
	}
	for _, mode := range modes {
		code, out, stderr := hdrlog(t, dir, append([]string{"test", rules, "--pcap", path}, mode...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", mode, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(ifaces) {
			t.Fatalf("%v: %d events, want %d:\n%s", mode, len(lines), len(ifaces), out)
		}
		for i, line := range lines {
			var ev struct {
				Iface string `json:"iface"`
				Frame int    `json:"frame"`
				Port  int    `json:"tcp.dstport"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Iface != ifaces[i] || ev.Frame != i+1 || ev.Port != 1000+i {
				t.Errorf("%v: event %d: iface %q frame %d port %d, want %q, %d, %d", mode, i, ev.Iface, ev.Frame, ev.Port, ifaces[i], i+1, 1000+i)
			}
		}
	}
}

// hdrlog test replays stateless rules many frames per test run; with
// --one-frame-per-run, one frame per test run: the same events, skips and
// summary.
func TestTestCommandOneFramePerRun(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "both.rules", sshRules+`
rule every_frame {
    hook xdp
    match frame.len > 0
    log frame.len, eth.dst
}
`)
	for _, capture := range []string{"testdata/captures/tcpdump/ssh.pcap", "testdata/captures/tcpdump/dns_udp.pcap"} {
		path, err := filepath.Abs(filepath.Join(repoRoot, capture))
		if err != nil {
			t.Fatal(err)
		}
		code, batched, stderrB := hdrlog(t, dir, "test", rules, "--pcap", path)
		if code != 0 || batched == "" {
			t.Fatalf("%s: exit %d, %d events: %s", capture, code, strings.Count(batched, "\n"), stderrB)
		}
		code, one, stderrO := hdrlog(t, dir, "test", rules, "--pcap", path, "--one-frame-per-run")
		if code != 0 || one != batched || stderrO != stderrB {
			t.Errorf("%s: --one-frame-per-run: exit %d, output differs:\n%s\n%s\nbatched:\n%s\n%s", capture, code, one, stderrO, batched, stderrB)
		}
	}
}

// hdrlog test --cpuprofile (hidden, for those who work on hdrlog) writes a
// CPU profile of the replay that go tool pprof reads: a gzip-compressed
// protocol buffer.
func TestTestCommandCPUProfile(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "ssh.rules", sshRules)
	capture, err := filepath.Abs(filepath.Join(repoRoot, "testdata/captures/tcpdump/ssh.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "cpu.prof")
	code, out, stderr := hdrlog(t, dir, "test", rules, "--pcap", capture, "--no-kernel", "--cpuprofile", prof)
	if code != 0 || strings.Count(out, "\n") != 22 {
		t.Fatalf("exit %d, %d events: %s", code, strings.Count(out, "\n"), stderr)
	}
	f, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzip-compressed: %v", err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || len(body) == 0 {
		t.Fatalf("the profile: %d bytes, %v", len(body), err)
	}
	code, _, stderr = hdrlog(t, dir, "test", rules, "--pcap", capture, "--no-kernel", "--cpuprofile", filepath.Join(dir, "no/such/dir/cpu.prof"))
	if code == 0 || !strings.Contains(stderr, "--cpuprofile") {
		t.Errorf("a profile that cannot be created: exit %d: %s", code, stderr)
	}
	_, help, stderr := hdrlog(t, dir, "test", "-h")
	if !strings.Contains(help+stderr, "--one-frame-per-run") || strings.Contains(help+stderr, "cpuprofile") {
		t.Errorf("test -h should list the flags but the hidden --cpuprofile:\n%s%s", help, stderr)
	}
}
