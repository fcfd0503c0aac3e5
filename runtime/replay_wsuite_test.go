package runtime_test

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// Wireshark's own display-filter test suite (test/suite_dfilter/group_*.py
// in Wireshark's sources), its expressions on hdrlog's fields, and the
// language's newer forms: each runs as a rule through hdrlog test (the
// kernel programs, and the reference evaluator, which must print the same)
// and through tshark -Y over every capture of testdata/captures and a
// capture of frames built for the suite's values (the addresses of its
// traces: 00:aa:00:a3:e3:a4, ff05::9999, 172.25.100.14). The frame sets
// must be equal, except where wsSuiteDivergences says why not.
var wsSuite = []string{
	// group_ether
	"eth.dst == ff:ff:ff:ff:ff:ff", "eth.src == ff:ff:ff:ff:ff:ff",
	"eth.dst != ff:ff:ff:ff:ff:ff", "eth.src != ff:ff:ff:ff:ff:ff",
	"eth.src > 00:aa:00:a3:e3:ff", "eth.src > 00:aa:00:a3:e3:a4", "eth.src > 00:aa:00:a3:e3:00",
	"eth.src >= 00:aa:00:a3:e3:ff", "eth.src >= 00:aa:00:a3:e3:a4", "eth.src >= 00:aa:00:a3:e3:00",
	"eth.src < 00:aa:00:a3:e3:ff", "eth.src < 00:aa:00:a3:e3:a4", "eth.src < 00:aa:00:a3:e3:00",
	"eth.src <= 00:aa:00:a3:e3:ff", "eth.src <= 00:aa:00:a3:e3:a4", "eth.src <= 00:aa:00:a3:e3:00",
	"eth.src[0:3] == 00:aa:00", "eth.src[-3:3] == a3:e3:a4", "eth.src[1:4] == aa:00:a3:e3", "eth.src[0] == 00",
	// group_ipv6
	"ipv6.dst == ff05::9999", "ipv6.dst == ff05::9990", "ipv6.dst != ff05::9990", "ipv6.dst != ff05::9999",
	"ipv6.dst > ff05::0000", "ipv6.dst > ff05::9999", "ipv6.dst >= ff05::9999", "ipv6.dst >= ff05::a000",
	"ipv6.dst < ff05::a000", "ipv6.dst < ff05::9999", "ipv6.dst <= ff05::9999", "ipv6.dst <= ff05::9998",
	"ipv6.dst == ff05::9999/128", "ipv6.dst == ff05::0/64", "ipv6.dst == ff05::ffff/112", "ipv6.dst == ff04::0/64",
	"ipv6.dst != ff05::9999/128", "ipv6.dst != ff05::0/64", "ipv6.dst != ff05::ffff/112", "ipv6.dst != ff04::0/64",
	"ipv6.dst[14:2] == 99:99", "ipv6.dst[14:2] == 00:00", "ipv6.dst[15:1] == 153", "ipv6.dst[15:1] == 99:",
	"ipv6.dst == ::", "ipv6.dst == ::/128", "ipv6.dst == ::1", "ipv6.dst == ::1/128", "ipv6.dst == ::2000",
	"ipv6.dst == ::2000/64", "ipv6.dst == ::1:2000", "ipv6.dst == 2000::", "ipv6.dst == 2000::/120",
	"ipv6.dst == 2000:1::", "ipv6.dst == fd93:c15b:7ae0:2e41::", "ipv6.dst == ::13.1.68.3", "ipv6.dst == ::FFFF:129.144.52.38",
	// group_ipv4
	"ip.src == 172.25.100.14", "ip.src != 172.25.100.14", "ip.dst > 198.95.230.200", "ip.dst >= 198.95.230.200",
	"ip.dst < 198.95.230.200", "ip.dst <= 198.95.230.200", "ip.src == 172.25.100.0/24", "ip.src != 200.0.0.0/8",
	"ip.src[0:2] == ac:19", "ip.src[2:2] == 64:0e",
	// group_function, group_slice (on hdrlog's fields)
	"len(http.host) == 27", "len(http.host) != 0", "len(http.host) == 0", "len(http.host)", "!len(http.host)",
	"eth.src[0:2] == 00:aa", "eth.dst[:2] == ff:ff", "eth.src[4:] == e3:a4", "eth.src[1-3] == aa:00:a3", "eth.src[-1] == a4",
	"eth.src contains a3:e3", "eth.dst[0] & 1", "eth.addr[0] & 0x02", "ipv6.src[0:2] == fe:80", "ip.dst[-1] == 0xc8",
	// Field pairs, quantifiers, ~=
	"ip.src == ip.dst", "ip.src != ip.dst", "ip.src > ip.dst", "tcp.srcport == tcp.dstport", "tcp.srcport > tcp.dstport",
	"udp.srcport == udp.dstport", "udp.srcport < udp.dstport", "eth.src == eth.dst", "ipv6.src < ipv6.dst",
	"any vlan.id == 100", "all vlan.id == 100", "vlan.id ~= 100", "vlan.id != 100", "all vlan.id != 1",
	"all ip.addr == 10.0.0.0/8", "ip.addr ~= 172.25.100.14", "all tcp.port > 1023", "vlan.id#2 > vlan.id#1",
	// Byte fields: payloads and the frame's bytes
	"tcp.payload", "udp.payload", "!tcp.payload && tcp", "tcp.payload[0:4] == 47:45:54:20", `tcp.payload[0:4] == "GET "`,
	`tcp.payload[:3] == "GET"`, `tcp.payload[0-3] == "GET "`, `tcp.payload[1:] contains "ET"`, `tcp.payload[2:3] == "T /"`,
	`tcp.payload contains "GET"`, `tcp.payload contains "HTTP/1.1"`, "tcp.payload contains 0d:0a:0d:0a", "udp.payload contains 00:00",
	"tcp.payload[-2:] == 0d:0a", "tcp.payload[-2:2] == 0d:0a", "tcp.payload[-1] == 0a", "tcp.payload[-2:4] == 0d:0a", "tcp.payload[-2:4] != 0d:0a",
	"tcp.payload[0] & 0x40", "tcp.payload[0] & 0x80 == 0", "udp.payload[0] == e3", "udp.payload[1:2] != 00:00", "udp.payload[60:4]",
	`udp.payload == "x"`, "udp.payload == 78", `udp.payload != "x"`, `tcp.payload == "GET"`,
	"len(tcp.payload) > 100", "len(udp.payload) == 48", "len(tcp.payload) == 1", "len(frame) > 1000", "len(frame) < 64",
	"frame[12:2] == 08:00", "frame[12:2] == 81:00", "frame[12:2] == 86:dd", `frame contains "GET"`, "frame[0:6] == ff:ff:ff:ff:ff:ff",
	"frame[-1] == 0a", "frame[100:2]", "frame[0] & 1",
	`tcp.payload matches "^get /"`, `tcp.payload matches "(?-i)^get /"`, `frame matches "host: "`, "tcp.payload matches \"\\r\\n\\r\\n$\"",
	`udp.payload matches "(?-i)^hdrlog"`,
	`tcp.payload contains "hdrlog"`, `tcp.payload[2500:6] == "hdrlog"`, `frame contains "hdrlog"`, "tcp.payload[2800:2] == 00:00",
}

// wsSuiteDivergences explains the differences expected between hdrlog and
// tshark, by expression (docs/wireshark.md lists them for users).
var wsSuiteDivergences = map[string]string{
	"ipv6.dst[15:1] == 153":           "a number compared with a one-byte slice is that byte (153 is 0x99) in Wireshark's suite and in hdrlog; tshark 4.0 matches nothing",
	"vlan.id#2 > vlan.id#1":           "802.1ad: Wireshark shows an 0x88a8 outer tag as ieee8021ad.*, so vlan.id has one occurrence there; hdrlog counts both tags as VLAN layers",
	`tcp.payload contains "hdrlog"`:   "hdrlog reads the first 2048 bytes of a payload: the marker at 2500 is past them",
	`tcp.payload[2500:6] == "hdrlog"`: "hdrlog reads the first 2048 bytes of a payload: the slice is past them",
	`frame contains "hdrlog"`:         "hdrlog reads the first 2048 bytes of a frame: the marker is past them",
	"tcp.payload[2800:2] == 00:00":    "hdrlog reads the first 2048 bytes of a payload: the slice is past them",
	"tcp.payload[-1] == 0a":           "hdrlog reads the first 2048 bytes of a payload: the last byte of a 5559-byte one is past them",
	"frame[-1] == 0a":                 "hdrlog reads the first 2048 bytes of a frame: the last byte of a 5625-byte one is past them",
}

// wsSuiteRefused are the suite's expressions tshark 4.0 cannot parse (they
// are newer Wireshark syntax, which hdrlog follows), and why.
var wsSuiteRefused = map[string]string{
	"ipv6.dst[15:1] == 99:": "a one-byte byte string written with a trailing colon",
	"len(http.host)":        "a bare function, true when its field is present",
	"!len(http.host)":       "a bare function, true when its field is present",
}

// wsSuiteFrames builds frames for the suite's values: its traces' MAC and
// IPv4 addresses, its IPv6 multicast group, the same address or port on
// both sides, two 802.1Q tags, an HTTP request whose Host has 27 bytes.
func wsSuiteFrames() [][]byte {
	get := []byte("GET / HTTP/1.1\r\nHost: www.example.com.example.o\r\n\r\n")
	return [][]byte{
		testpkt.New().Eth("00:aa:00:a3:e3:a4", "ff:ff:ff:ff:ff:ff").IPv6("fe80::1", "ff05::9999").UDP(5000, 5000).Payload([]byte("x")).Bytes(),
		testpkt.New().Eth("00:aa:00:a3:e3:ff", "33:33:00:00:99:90").IPv6("fe80::2", "ff05::9990").UDP(5001, 5002).Bytes(),
		testpkt.New().Eth("00:aa:00:a3:e3:00", "02:00:00:00:00:01").IPv4("172.25.100.14", "198.95.230.200").TCP(2049, 800).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:01", "00:aa:00:a3:e3:a4").IPv4("198.95.230.201", "172.25.100.14").TCP(800, 2049).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:07", "02:00:00:00:00:07").IPv4("10.0.0.7", "10.0.0.7").TCP(7, 7).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:08", "02:00:00:00:00:09").VLAN(testpkt.TPID8021Q, 0, false, 100).VLAN(testpkt.TPID8021Q, 0, false, 200).
			IPv4("10.0.0.1", "10.0.0.2").UDP(53, 53).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:08", "02:00:00:00:00:09").VLAN(testpkt.TPID8021Q, 0, false, 100).
			IPv4("10.0.0.1", "10.0.0.3").UDP(1, 2).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:0a", "02:00:00:00:00:0b").IPv4("10.0.0.1", "10.0.0.80").TCP(40000, 80).Flags(testpkt.ACK | testpkt.PSH).Payload(get).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:0a", "02:00:00:00:00:0b").IPv6("2000::", "::1:2000").TCP(1024, 1025).Bytes(),
		// A payload longer than hdrlog's window, a marker past it.
		testpkt.New().Eth("02:00:00:00:00:0c", "02:00:00:00:00:0d").IPv4("10.0.0.1", "10.0.0.2").TCP(40001, 9).Flags(testpkt.ACK).Payload(wsLongPayload()).Bytes(),
		testpkt.New().Eth("02:00:00:00:00:0c", "02:00:00:00:00:0d").IPv4("10.0.0.1", "10.0.0.2").UDP(40001, 9).Payload([]byte("hdrlog, then more")).Bytes(),
	}
}

// wsLongPayload is 3000 bytes of zeros with a marker at 2500, past the
// window hdrlog reads.
func wsLongPayload() []byte {
	b := make([]byte, 3000)
	copy(b[2500:], "hdrlog")
	return b
}

func TestWiresharkSuite(t *testing.T) {
	kerneltest.Require(t)
	tshark := requireTool(t, "tshark")
	dir := t.TempDir()
	paths, err := filepath.Glob("../testdata/captures/*/*.pcap*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in ../testdata/captures: %v", err)
	}
	captures := map[string]string{}
	for _, p := range paths {
		rel, _ := filepath.Rel("../testdata/captures", p)
		if rel == "hdrlog/adversarial-http.pcap" {
			// Hostile HTTP whose header lines hdrlog splits as servers do,
			// not as tshark does, on purpose (docs/l7.md); the corpus has
			// its own tests (TestAdversarialHTTPCorpus).
			continue
		}
		captures[rel] = p
	}
	var frames []testFrame
	for _, fr := range wsSuiteFrames() {
		frames = append(frames, testFrame{data: fr})
	}
	captures["suite"] = writePcap(t, layers.LinkTypeEthernet, frames...)
	run := mergeCaptures(t, dir, captures)

	// hdrlog: one rule per expression, through the kernel and the reference.
	var src strings.Builder
	for i, e := range wsSuite {
		src.WriteString("rule s" + strconv.Itoa(i) + " { match " + e + " log frame.len }\n")
	}
	rs := mustRules(t, src.String())
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sides [2]map[string][]int
	for k, noKernel := range []bool{false, true} {
		r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
		if err != nil {
			t.Fatal(err)
		}
		c, err := runtime.OpenCapture(run.merged)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = runtime.Replay(r, c, &buf, func(runtime.Skip) {}, nil)
		c.Close()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		sides[k] = eventFrames(t, buf.Bytes())
	}
	ts, errs := tsharkFrameSets(t, tshark, run, dir)
	// Frames whose headers hdrlog decodes differently for every filter (a
	// tunnel's inner headers, the packet quoted in an ICMP error, a header
	// cut short: the lines of wireshark-divergences.tsv that hold for any
	// filter) are left out; every other difference must be documented in
	// wsSuiteDivergences.
	divs := loadWiresharkDivergences(t)
	explained := func(e string, n int) bool {
		o := run.origins[n-1]
		d := wsDiff{capture: o.capture, frame: o.frame, filter: e, what: "match", cutShort: o.cutShort}
		for _, v := range divs {
			if v.filter == "*" && v.covers(d) {
				return true
			}
		}
		return false
	}
	matched, documented := 0, 0
	for i, e := range wsSuite {
		name := "s" + strconv.Itoa(i)
		kern, ref := sides[0][name], sides[1][name]
		if !slices.Equal(kern, ref) {
			t.Errorf("%q: the kernel matched frames %v, the reference %v", e, kern, ref)
		}
		if errs[i] != nil {
			t.Logf("%q: tshark 4.0 refuses it (%s): %v", e, wsSuiteRefused[e], errs[i])
			documented++
			continue
		}
		why, isDoc := wsSuiteDivergences[e]
		matched += len(ts[i])
		onlyH, onlyT := frameDiff(kern, ts[i], func(n int) bool { return explained(e, n) })
		switch {
		case len(onlyH)+len(onlyT) == 0 && isDoc:
			t.Errorf("%q agrees with tshark now: remove it from wsSuiteDivergences", e)
		case len(onlyH)+len(onlyT) == 0:
		case isDoc:
			documented++
			t.Logf("%q differs from tshark, as documented (%s): only hdrlog %s; only tshark %s", e, why, run.describe(onlyH), run.describe(onlyT))
		default:
			t.Errorf("%q: only hdrlog matched %s; only tshark matched %s", e, run.describe(onlyH), run.describe(onlyT))
		}
	}
	for e := range wsSuiteDivergences {
		if !slices.Contains(wsSuite, e) {
			t.Errorf("wsSuiteDivergences names %q, which is not in the suite", e)
		}
	}
	t.Logf("%d expressions on %d frames of %d captures: tshark matched %d (frame, expression) pairs; %d expressions differ as documented",
		len(wsSuite), len(run.origins), len(captures), matched, documented)
}

// frameDiff returns the frames only in a and only in b, leaving out those
// skip says to.
func frameDiff(a, b []int, skip func(int) bool) (onlyA, onlyB []int) {
	in := func(xs []int, x int) bool { _, ok := slices.BinarySearch(xs, x); return ok }
	for _, n := range a {
		if !in(b, n) && !skip(n) {
			onlyA = append(onlyA, n)
		}
	}
	for _, n := range b {
		if !in(a, n) && !skip(n) {
			onlyB = append(onlyB, n)
		}
	}
	return onlyA, onlyB
}

// tsharkFrameSets runs every expression of the suite through tshark in one
// pass: the merged capture is rewritten with frame n at second n, and
// tshark's io,stat counts, per one-second interval, the frames each filter
// matches. The expressions tshark refuses (wsSuiteRefused) run one by one,
// and must still be refused: their errors come back in errs.
func tsharkFrameSets(t *testing.T, tshark string, run *wsRun, dir string) ([][]int, []error) {
	t.Helper()
	c, err := runtime.OpenCapture(run.merged)
	if err != nil {
		t.Fatal(err)
	}
	var frames []testFrame
	for {
		fr, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, testFrame{data: fr.Data, origLen: fr.OrigLen})
	}
	c.Close()
	// One more frame, so that the last real one does not end the capture
	// (io,stat's last interval is cut at the last frame).
	frames = append(frames, frames[0])
	retimed := writePcap(t, layers.LinkTypeEthernet, frames...) // one second apart
	ts := make([][]int, len(wsSuite))
	errs := make([]error, len(wsSuite))
	var cols []int // suite index of each io,stat column
	args := append([]string{"-n", "-q", "-r", retimed}, tsharkPrefs...)
	stat := "io,stat,1"
	for i, e := range wsSuite {
		if _, refused := wsSuiteRefused[e]; refused {
			cmd := exec.Command(tshark, append([]string{"-n", "-r", retimed, "-Y", e}, tsharkPrefs...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
			} else {
				t.Errorf("tshark accepts %q now: remove it from wsSuiteRefused", e)
			}
			continue
		}
		if strings.Contains(e, ",") {
			t.Fatalf("%q: io,stat takes no commas in a filter", e)
		}
		stat += "," + e
		cols = append(cols, i)
	}
	cmd := exec.Command(tshark, append(args, "-z", stat)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark io,stat: %v: %s", err, stderr.String())
	}
	rows := 0
	for _, line := range strings.Split(string(out), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.Contains(cells[1], "<>") {
			continue
		}
		from, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(cells[1], "<>", 2)[0]))
		if err != nil || len(cells) < 2+2*len(cols) {
			t.Fatalf("tshark io,stat: bad row %q", line)
		}
		rows++
		for k, i := range cols {
			n, _ := strconv.Atoi(strings.TrimSpace(cells[2+2*k]))
			if n > 0 && from < len(run.origins) {
				ts[i] = append(ts[i], from+1) // frame n lies in [n-1, n) from the first
			}
		}
	}
	if rows < len(run.origins) {
		t.Fatalf("tshark io,stat gave %d intervals for %d frames", rows, len(run.origins))
	}
	return ts, errs
}

// eventFrames reads hdrlog test's JSON lines: the frames each rule matched.
func eventFrames(t *testing.T, out []byte) map[string][]int {
	t.Helper()
	m := map[string][]int{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rule := jsonMember(line, "rule")
		n, err := strconv.Atoi(jsonMember(line, "frame"))
		if rule == "" || err != nil {
			t.Fatalf("bad event line %s", line)
		}
		m[rule] = append(m[rule], n)
	}
	for _, v := range m {
		sort.Ints(v)
	}
	return m
}

// jsonMember returns a top-level string or number member of a JSON line.
func jsonMember(line []byte, name string) string {
	key := []byte(`"` + name + `":`)
	i := bytes.Index(line, key)
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	if len(rest) > 0 && rest[0] == '"' {
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return ""
		}
		return string(rest[1 : 1+end])
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

// describe names merged frames by capture and frame number.
func (run *wsRun) describe(frames []int) string {
	if len(frames) == 0 {
		return "no frame"
	}
	var parts []string
	for i, n := range frames {
		if i == 12 {
			parts = append(parts, "... "+strconv.Itoa(len(frames))+" in all")
			break
		}
		o := run.origins[n-1]
		parts = append(parts, o.capture+"#"+strconv.Itoa(o.frame))
	}
	return strings.Join(parts, ", ")
}
