package runtime_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

type testFrame struct {
	data    []byte
	origLen int               // 0: len(data)
	dir     runtime.Direction // pcapng: written as epb_flags
}

// writePcap writes frames as a pcap file (nanosecond timestamps) of link
// type lt, one second apart from 2025-01-01.
func writePcap(t *testing.T, lt layers.LinkType, frames ...testFrame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(262144, lt); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: replayEpoch.Add(time.Duration(i)*time.Second + 123), CaptureLength: len(fr.data), Length: max(fr.origLen, len(fr.data))}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func writePcapng(t *testing.T, ifaces []pcapgo.NgInterface, frames ...testFrame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriterInterface(f, ifaces[0], pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, iface := range ifaces[1:] {
		if _, err := w.AddInterface(iface); err != nil {
			t.Fatal(err)
		}
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: replayEpoch.Add(time.Duration(i) * time.Second), CaptureLength: len(fr.data), Length: len(fr.data), InterfaceIndex: i % len(ifaces)}
		var opts pcapgo.NgPacketOptions
		if fr.dir != runtime.DirUnknown {
			opts.Flags = &pcapgo.NgEpbFlags{Direction: map[runtime.Direction]pcapgo.NgEpbFlag{
				runtime.DirIn: pcapgo.NgEpbFlagDirectionInbound, runtime.DirOut: pcapgo.NgEpbFlagDirectionOutbound}[fr.dir]}
		}
		if err := w.WritePacketWithOptions(ci, fr.data, opts); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, path string) []*runtime.CapturedFrame {
	t.Helper()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []*runtime.CapturedFrame
	for {
		fr, err := c.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fr)
	}
}

func TestOpenCapture(t *testing.T) {
	a := ipv4TCP().Bytes()
	b := testpkt.New().IPv6("2001:db8::1", "2001:db8::2").UDP(1, 2).Bytes()

	frames := readAll(t, writePcap(t, layers.LinkTypeEthernet, testFrame{data: a}, testFrame{data: b[:40], origLen: len(b)}))
	if len(frames) != 2 || !bytes.Equal(frames[0].Data, a) || frames[1].Number != 2 || frames[1].OrigLen != len(b) || len(frames[1].Data) != 40 {
		t.Errorf("pcap: %+v", frames)
	}
	if want := replayEpoch.Add(time.Second + 123); !frames[1].Time.Equal(want) {
		t.Errorf("pcap: time %v, want %v (nanoseconds kept)", frames[1].Time, want)
	}

	eth := pcapgo.NgInterface{Name: "eth7", LinkType: layers.LinkTypeEthernet}
	frames = readAll(t, writePcapng(t, []pcapgo.NgInterface{eth, {Name: "eth8", LinkType: layers.LinkTypeEthernet}}, testFrame{data: a}, testFrame{data: b}))
	if len(frames) != 2 || frames[0].Iface != "eth7" || frames[1].Iface != "eth8" || !bytes.Equal(frames[1].Data, b) {
		t.Errorf("pcapng: %+v", frames)
	}

	// Captures whose frames are neither Ethernet nor Linux cooked are
	// refused, naming the link type in full (not cut to 8 bits).
	if _, err := runtime.OpenCapture(writePcap(t, layers.LinkTypeIPv4, testFrame{data: a[14:]})); err == nil || !strings.Contains(err.Error(), "link type 228 is not supported") {
		t.Errorf("pcap of raw IPv4: %v", err)
	}
	if _, err := runtime.OpenCapture(writePcap(t, layers.LinkType(290), testFrame{data: a})); err == nil || !strings.Contains(err.Error(), "link type 290 is not supported") {
		t.Errorf("pcap of link type 290: %v", err)
	}
	// In pcapng, at the first frame of an interface that is not Ethernet.
	c, err := runtime.OpenCapture(writePcapng(t, []pcapgo.NgInterface{eth, {Name: "wlan0", LinkType: layers.LinkTypeIEEE80211Radio}}, testFrame{data: a}, testFrame{data: b}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); err == nil || !strings.Contains(err.Error(), "frame 2: link type") || !strings.Contains(err.Error(), "(127) is not supported") {
		t.Errorf("pcapng with a radiotap interface: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("GET / HTTP/1.1\r\n"), 0o644)
	if _, err := runtime.OpenCapture(garbage); err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng file") {
		t.Errorf("garbage: %v", err)
	}
	cut := writePcap(t, layers.LinkTypeEthernet, testFrame{data: a}, testFrame{data: b})
	st, _ := os.Stat(cut)
	os.Truncate(cut, st.Size()-5)
	c, err = runtime.OpenCapture(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Next()
	if _, err := c.Next(); err == nil || !strings.Contains(err.Error(), "frame 2: capture file cut short") {
		t.Errorf("truncated file: %v", err)
	}
}

// TestReplay replays a capture through the kernel and the reference: the
// same lines, frame numbers and capture times, and a summary that counts
// everything, skips included.
func TestReplay(t *testing.T) {
	path := writePcap(t, layers.LinkTypeEthernet,
		testFrame{data: ipv4TCP().Flags(testpkt.SYN).Bytes()},
		testFrame{data: make([]byte, 10)},
		testFrame{data: ipv4TCP().Payload(make([]byte, 4000)).Bytes()},
		testFrame{data: testpkt.Truncate(ipv4TCP().Bytes(), 40), origLen: 54},
		testFrame{data: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").UDP(1, 53).Bytes()},
	)
	rs := mustRules(t, `
rule syn { match tcp.flags.syn == 1 log ip.src, tcp.dstport }
rule all { log frame.len, tcp.len, udp.dstport }
rule x { hook xdp match frame.len > 100 log frame.len }`)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replay := func(noKernel bool) (string, []string, *runtime.ReplaySummary) {
		r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		c, err := runtime.OpenCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var buf bytes.Buffer
		var skips []string
		sum, err := runtime.Replay(r, c, &buf, func(s runtime.Skip) { skips = append(skips, s.String()) }, nil)
		if err != nil {
			t.Fatal(err)
		}
		return buf.String(), skips, sum
	}
	const want = `{"time":"2025-01-01T00:00:00.000000123Z","rule":"syn","iface":null,"hook":"tc ingress","frame":1,"ip.src":"10.0.0.1","tcp.dstport":80}
{"time":"2025-01-01T00:00:00.000000123Z","rule":"all","iface":null,"hook":"tc ingress","frame":1,"frame.len":54,"tcp.len":0,"udp.dstport":null}
{"time":"2025-01-01T00:00:02.000000123Z","rule":"all","iface":null,"hook":"tc ingress","frame":3,"frame.len":4054,"tcp.len":4000,"udp.dstport":null}
{"time":"2025-01-01T00:00:02.000000123Z","rule":"x","iface":null,"hook":"xdp","frame":3,"frame.len":4054}
{"time":"2025-01-01T00:00:03.000000123Z","rule":"all","iface":null,"hook":"tc ingress","frame":4,"frame.len":54,"tcp.len":null,"udp.dstport":null}
{"time":"2025-01-01T00:00:04.000000123Z","rule":"all","iface":null,"hook":"tc ingress","frame":5,"frame.len":62,"tcp.len":null,"udp.dstport":53}
`
	wantSkips := []string{
		"frame 2 (10 bytes) not replayed at tc ingress: shorter than the 14 bytes a test run takes",
		"frame 2 (10 bytes) not replayed at xdp: shorter than the 14 bytes a test run takes",
	}
	check := func(name, got string, skips []string, sum *runtime.ReplaySummary) {
		if got != want {
			t.Errorf("%s:\n%swant:\n%s", name, got, want)
		}
		if strings.Join(skips, "\n") != strings.Join(wantSkips, "\n") {
			t.Errorf("%s: skips %q", name, skips)
		}
		if sum.Frames != 5 || sum.CutShort != 1 || sum.ViaXDP != 1 || len(sum.Skipped) != 2 ||
			sum.Events[0] != 1 || sum.Events[1] != 4 || sum.Events[2] != 1 {
			t.Errorf("%s: summary %+v", name, sum)
		}
	}
	got, skips, sum := replay(true)
	check("reference", got, skips, sum)
	kerneltest.Require(t)
	got, skips, sum = replay(false)
	check("kernel", got, skips, sum)
	if sum.Lost == nil || sum.Lost[0]+sum.Lost[1]+sum.Lost[2] != 0 {
		t.Errorf("lost events: %v", sum.Lost)
	}
}

// The limits DefaultTestRunLimits documents (and --no-kernel uses) are the
// running kernel's. On another kernel or page size they may differ: then
// update the documentation with the measured values.
func TestTestRunLimits(t *testing.T) {
	kerneltest.Require(t)
	got, err := runtime.ProbeTestRunLimits()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: %+v", got)
	if got != runtime.DefaultTestRunLimits {
		t.Errorf("this kernel's test-run limits %+v differ from DefaultTestRunLimits %+v", got, runtime.DefaultTestRunLimits)
	}
}

// TestReplaySnapLength: frame.len is the length on the wire, as Wireshark's,
// also for frames the capture cut short (tcpdump -s 128); rules match on it
// at every hook, in the kernel and in the reference. A frame longer on the
// wire than a tc test run's context carries goes through the XDP build.
func TestReplaySnapLength(t *testing.T) {
	const snap = 128
	cut := func(data []byte) testFrame {
		return testFrame{data: data[:min(snap, len(data))], origLen: len(data)}
	}
	jumbo := testFrame{data: ipv4TCP().Bytes(), origLen: 70000} // a GRO/BIG TCP frame, as captured on the host
	path := writePcap(t, layers.LinkTypeEthernet,
		cut(ipv4TCP().Payload(make([]byte, 1400)).Bytes()),
		cut(ipv4TCP().Payload(make([]byte, 20)).Bytes()),
		cut(testpkt.New().IPv6("2001:db8::1", "2001:db8::2").UDP(1, 53).Payload(make([]byte, 3000)).Bytes()),
		jumbo,
	)
	rs := mustRules(t, `
rule inb { match frame.len > 1000 log frame.len }
rule outb { hook tc egress match frame.len == 1454 log frame.len }
rule x   { hook xdp match frame.len >= 3062 log frame.len }`)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const want = `inb tc ingress 1 1454
outb tc egress 1 1454
inb tc ingress 3 3062
x xdp 3 3062
inb tc ingress 4 70000
x xdp 4 70000
`
	for _, noKernel := range []bool{true, false} {
		if !noKernel {
			kerneltest.Require(t)
		}
		r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
		if err != nil {
			t.Fatal(err)
		}
		c, err := runtime.OpenCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for {
			fr, err := c.Next()
			if err != nil {
				break
			}
			if _, err := r.ReplayFrame(fr, func(ev *runtime.Event) error {
				fmt.Fprintf(&got, "%s %s %d %d\n", rs.Rules[ev.Rule].Name, rs.Rules[ev.Rule].Hook, fr.Number, ev.FrameLen)
				if ev.Values[0].U != uint64(ev.FrameLen) {
					t.Errorf("frame %d: logged frame.len %d, event header %d", fr.Number, ev.Values[0].U, ev.FrameLen)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		r.Close()
		if got.String() != want {
			t.Errorf("noKernel=%v:\n%swant:\n%s", noKernel, got.String(), want)
		}
	}
}

// A build for test runs reads frame.len from the context (RunWire); run
// without it (no metadata before an XDP frame, wire_len left 0 in a tc
// context), frame.len is the frame's length, as in a program built to attach.
func TestTestRunBuildFrameLen(t *testing.T) {
	const src = `rule a { log frame.len }
rule b { hook xdp log frame.len }`
	c, err := runtime.Load(compileDSL(t, src, compiler.Options{TestRun: true}), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := ipv4TCP().Bytes()
	for _, run := range []struct {
		name string
		fn   func(rules.Hook) error
		want uint32
	}{
		{"RunWire", func(h rules.Hook) error { return c.RunWire(h, frame, 9000) }, 9000},
		{"Run", func(h rules.Hook) error { return c.Run(h, frame) }, uint32(len(frame))},
	} {
		for _, h := range []rules.Hook{rules.HookTCIngress, rules.HookXDP} {
			if err := run.fn(h); err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := c.Drain(func(ev *runtime.Event) error {
				n++
				if ev.FrameLen != run.want || ev.Values[0].U != uint64(run.want) {
					t.Errorf("%s at %s: frame.len %d (logged %d), want %d", run.name, h, ev.FrameLen, ev.Values[0].U, run.want)
				}
				return nil
			}); err != nil || n != 1 {
				t.Errorf("%s at %s: %d events, %v", run.name, h, n, err)
			}
		}
	}
	if err := c.RunWire(rules.HookTCIngress, frame, runtime.TCMaxWireLen+1); err == nil {
		t.Error("RunWire at tc took a length on the wire beyond what a tc test run carries")
	}
}
