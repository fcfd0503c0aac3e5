package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/hdrlog/hdrlog/internal/netns"
	"net"
	"net/netip"
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
	"github.com/hdrlog/hdrlog/runtime"
)

// Counting rules in a replay: the kernel's per-CPU count map, swapped and
// read at every interval of capture time, and the reference evaluator give
// the same records, and both the counts the capture was built with.

const countRules = `
rule by_src {
    match udp
    count by ip.src, udp.dstport every 1s sum frame.len
}
rule by_port_top {
    match udp
    count by udp.dstport every 2s top 2
}
rule v6 {
    match udp.dstport == 53
    count by ip.src, ipv6.src every 1s
}
`

type countKey struct {
	sec  int64 // interval of 1s
	src  string
	port int
}

// countCapture writes a pcap of UDP frames over 5 s of capture time from
// a few sources to a few ports (IPv4 and IPv6), and returns what by_src
// must count.
func countCapture(t *testing.T) (string, map[countKey][2]uint64, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "count.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	want := map[countKey][2]uint64{}
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	n := 0
	for i := 0; i < 600; i++ {
		at := base.Add(time.Duration(i) * 5 * time.Second / 600)
		port := []uint16{53, 123, 5000}[i%3]
		src := fmt.Sprintf("10.0.%d.%d", i%2, i%5)
		var frame []byte
		if i%7 == 0 {
			frame = testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv6("2001:db8::"+fmt.Sprint(i%4+1), "2001:db8::ff").UDP(4000, port).Payload(make([]byte, i%50)).Bytes()
			src = ""
		} else {
			frame = testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4(src, "10.9.9.9").UDP(4000, port).Payload(make([]byte, i%90)).Bytes()
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
		n++
		k := countKey{sec: at.Unix(), src: src, port: int(port)}
		v := want[k]
		want[k] = [2]uint64{v[0] + 1, v[1] + uint64(len(frame))}
	}
	return path, want, n
}

func replayCounts(t *testing.T, path string, noKernel bool, keys int) (string, *runtime.ReplaySummary) {
	t.Helper()
	rs := mustRules(t, countRules)
	out, err := compiler.Compile(rs, compiler.Options{AggEntries: keys})
	if err != nil {
		t.Fatal(err)
	}
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
	s, err := runtime.Replay(r, c, &buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), s
}

func TestCountReplayKernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	path, want, frames := countCapture(t)
	kernel, ks := replayCounts(t, path, false, 0)
	ref, _ := replayCounts(t, path, true, 0)
	if kernel != ref {
		t.Fatalf("kernel and reference counts differ\nkernel:\n%s\nreference:\n%s", kernel, ref)
	}
	got := map[countKey][2]uint64{}
	top := map[int64][]float64{}
	for _, l := range strings.Split(strings.TrimSpace(kernel), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		end, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
		start, _ := time.Parse(time.RFC3339Nano, m["start"].(string))
		switch m["rule"] {
		case "by_src":
			if end.Sub(start) != time.Second {
				t.Errorf("by_src interval %v..%v is not 1s", start, end)
			}
			src, _ := m["ip.src"].(string)
			k := countKey{sec: start.Unix(), src: src, port: int(m["udp.dstport"].(float64))}
			if _, dup := got[k]; dup {
				t.Errorf("key %+v written twice", k)
			}
			got[k] = [2]uint64{uint64(m["count"].(float64)), uint64(m["bytes"].(float64))}
		case "by_port_top":
			if _, has := m["bytes"]; has {
				t.Errorf("a rule without sum writes bytes: %s", l)
			}
			top[start.Unix()] = append(top[start.Unix()], m["count"].(float64))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("by_src counts:\n got %v\nwant %v", got, want)
	}
	// 5 s in 2 s intervals: 3 intervals, at most 2 keys (of 3 ports) each,
	// highest first.
	if len(top) != 3 {
		t.Errorf("by_port_top wrote %d intervals, want 3: %v", len(top), top)
	}
	for s, counts := range top {
		if len(counts) > 2 || (len(counts) == 2 && counts[0] < counts[1]) {
			t.Errorf("by_port_top interval %d: counts %v, want at most 2, highest first", s, counts)
		}
	}
	var sum uint64
	for _, v := range want {
		sum += v[0]
	}
	if ks.Counted[0] != sum || sum != uint64(frames) {
		t.Errorf("summary: by_src counted %d, want %d (%d frames)", ks.Counted[0], sum, frames)
	}
	if ks.Counted[1] != uint64(frames) {
		t.Errorf("summary: by_port_top counted %d (top 2 writes some keys only, all are counted), want %d", ks.Counted[1], frames)
	}
}

// A count map too small for the keys: the keys that find it full are
// counted per rule, and counted + not counted is every match.
func TestCountMapFull(t *testing.T) {
	kerneltest.Require(t)
	path, _, frames := countCapture(t)
	_, s := replayCounts(t, path, false, 4)
	for i, name := range s.RuleNames {
		full := s.Acct[i][compiler.AcctKeysFull]
		matched := uint64(frames)
		if name == "v6" {
			matched = uint64(frames / 3) // every third frame goes to port 53
		}
		if s.Counted[i]+full != matched {
			t.Errorf("%s: counted %d + not counted %d != matched %d", name, s.Counted[i], full, matched)
		}
		if name == "by_src" && full == 0 {
			t.Errorf("%s: a 4-key map held every key of the capture", name)
		}
	}
}

// Real traffic through a veth: every datagram is counted once, under its
// key, across intervals swapped while traffic flows.
func TestCountLive(t *testing.T) {
	kerneltest.RequireRoot(t)
	c := loadDSL(t, `
rule per_port {
    hook tc ingress
    match udp.dstport == 9999
    count by ip.src, udp.srcport every 200ms sum frame.len
}
rule xdp_all {
    hook xdp
    match udp.dstport == 9999
    count by udp.dstport every 1s
}`, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	counts := &countSink{}
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces(), Sinks: []runtime.EventSink{counts}})
	var sink *net.UDPConn
	if err := p.Do("B", func() (err error) {
		sink, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, 9999)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sent := map[int]int{}
	total := 0
	err := p.Do("A", func() error {
		for k := 0; k < 4; k++ {
			u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, 9999)))
			if err != nil {
				return err
			}
			port := u.LocalAddr().(*net.UDPAddr).Port
			for i := 0; i < 100+50*k; i++ {
				if _, err := u.Write([]byte("count me")); err != nil {
					u.Close()
					return err
				}
				sent[port]++
				total++
				if i%50 == 0 {
					time.Sleep(30 * time.Millisecond) // spread over intervals
				}
			}
			u.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	st := s.stop(t)
	got := map[int]int{}
	var xdp, intervals int
	seen := map[string]bool{}
	for _, m := range s.sink.objects(t) {
		switch m["rule"] {
		case "per_port":
			if m["ip.src"] != p.AddrA.String() {
				t.Errorf("ip.src %v, want %s", m["ip.src"], p.AddrA)
			}
			n := int(m["count"].(float64))
			got[int(m["udp.srcport"].(float64))] += n
			if int(m["bytes"].(float64)) != n*(14+20+8+8) {
				t.Errorf("bytes %v for %d datagrams of %d bytes", m["bytes"], n, 14+20+8+8)
			}
			if !seen[m["start"].(string)] {
				seen[m["start"].(string)] = true
				intervals++
			}
		case "xdp_all":
			xdp += int(m["count"].(float64))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("counted per source port %v, sent %v", got, sent)
	}
	if xdp != total {
		t.Errorf("xdp counted %d, sent %d\n%s", xdp, total, s.sink.String())
	}
	// A sink that takes count records (an OTLP export) gets every record
	// the stream wrote, the same.
	if lines := strings.Count(s.sink.String(), `"count":`); counts.n != lines || counts.packets != uint64(2*total) {
		t.Errorf("the count sink got %d records of %d packets; the stream wrote %d records of %d packets", counts.n, counts.packets, lines, 2*total)
	}
	if intervals < 2 {
		t.Errorf("the counts span %d intervals of 200ms, want several", intervals)
	}
	for _, r := range st.Rules {
		if r.Counted != uint64(total) || r.KeysFull != 0 || r.Events != 0 || r.Matched() != uint64(total) {
			t.Errorf("stats of %s: %+v, want %d counted", r.Name, r, total)
		}
	}
}

// countSink is an EventSink that takes count records too (runtime.CountSink).
type countSink struct {
	n       int
	packets uint64
}

func (c *countSink) Event(*runtime.Event, runtime.Meta) error { return nil }

func (c *countSink) Count(r *runtime.CountRecord, m runtime.Meta) error {
	if m.Schema == nil || m.Schema.Rules[r.Rule].Name != r.Name || !m.Time.Equal(r.End) {
		return fmt.Errorf("count record %+v with meta %+v", r, m)
	}
	c.n++
	c.packets += r.Count
	return nil
}
