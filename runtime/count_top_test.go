package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// TestCountTopN: `top 2` writes the two keys with the most packets of each
// interval, highest first, with their exact counts, and no other key,
// through the kernel as through the reference evaluator; every packet is
// still counted. In each 1 s interval of the capture, five ports get 9, 7,
// 5, 3 and 1 datagrams, in an order that changes from one interval to the
// next (so that neither the first key seen nor the port's value decides).
func TestCountTopN(t *testing.T) {
	kerneltest.Require(t)
	path := filepath.Join(t.TempDir(), "top.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ports := []uint16{1001, 1002, 1003, 1004, 1005}
	counts := []int{9, 7, 5, 3, 1}
	want := map[int64][]string{}
	frames := 0
	for sec := 0; sec < 3; sec++ {
		// Interval sec: port (i+sec)%5 gets counts[i] datagrams; they are
		// interleaved, one of each port still to send in turn.
		left := map[uint16]int{}
		for i, n := range counts {
			left[ports[(i+sec)%5]] = n
		}
		want[base.Unix()+int64(sec)] = []string{
			fmt.Sprintf("%d:%d", ports[sec%5], counts[0]),
			fmt.Sprintf("%d:%d", ports[(1+sec)%5], counts[1]),
		}
		k := 0
		for more := true; more; {
			more = false
			for _, p := range ports {
				if left[p] == 0 {
					continue
				}
				left[p]--
				more = true
				at := base.Add(time.Duration(sec)*time.Second + time.Duration(k)*time.Millisecond)
				k++
				fr := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(4000, p).Bytes()
				if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
					t.Fatal(err)
				}
				frames++
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rs := mustRules(t, `rule top2 {
    match udp
    count by udp.dstport every 1s top 2
}`)
	replay := func(noKernel bool) (string, *runtime.ReplaySummary) {
		out, err := compiler.Compile(rs, compiler.Options{})
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
	kernel, ks := replay(false)
	ref, _ := replay(true)
	if kernel != ref {
		t.Fatalf("kernel and reference differ\nkernel:\n%s\nreference:\n%s", kernel, ref)
	}
	got := map[int64][]string{}
	for _, l := range strings.Split(strings.TrimSpace(kernel), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		start, err := time.Parse(time.RFC3339Nano, m["start"].(string))
		if err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got[start.Unix()] = append(got[start.Unix()], fmt.Sprintf("%v:%v", m["udp.dstport"], m["count"]))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("top 2 per interval (port:count, in the order written):\n got %v\nwant %v\n%s", got, want, kernel)
	}
	if ks.Counted[0] != uint64(frames) {
		t.Errorf("counted %d packets, want every one of the %d", ks.Counted[0], frames)
	}
}
