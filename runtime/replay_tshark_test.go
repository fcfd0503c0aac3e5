package runtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// hdrlog against Wireshark. The rule language is Wireshark's display-filter
// language, so tshark is an independent oracle: for each capture and filter,
// `tshark -Y FILTER -T fields -e frame.number -e F...` and `hdrlog test` with
// the rule `match FILTER log F...` must report the same frames with the same
// values. Only the rendering is normalised (tshark prints booleans 1/0 and
// several occurrences comma-separated; hex widths). Every known difference
// is listed in testdata/replay/wireshark-divergences.tsv with its reason: an
// unlisted difference fails, and so does a listed one that no longer occurs.

// tsharkFilters are the filters compared; each logs the fields after it.
// The text is valid in both languages.
var tsharkFilters = []struct {
	expr   string
	fields []string
}{
	{"tcp.dstport == 80", []string{"tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len"}},
	{"ip.src == 10.0.0.0/8 && tcp.flags.syn == 1", []string{"ip.src", "ip.dst", "tcp.flags.syn", "tcp.flags.ack"}},
	{"udp", []string{"udp.srcport", "udp.dstport", "udp.length"}},
	{"vlan.id == 165", []string{"vlan.id", "vlan.priority", "eth.type"}},
	{"vlan", []string{"vlan.id", "vlan.etype", "vlan.dei", "vlan.priority"}},
	{"icmpv6.type == 134", []string{"icmpv6.type", "icmpv6.code", "ipv6.hlim"}},
	{"icmpv6", []string{"icmpv6.type", "icmpv6.code", "ipv6.nxt"}},
	{"ip.flags.mf == 1", []string{"ip.id", "ip.frag_offset", "ip.flags.mf", "udp.srcport"}},
	{"ip.frag_offset > 0", []string{"ip.id", "ip.frag_offset", "ip.proto", "udp.srcport", "tcp.srcport"}},
	{"!tcp", []string{"frame.len", "eth.type"}},
	{"tcp.port in {22, 80, 1024..2000}", []string{"tcp.srcport", "tcp.dstport"}},
	{"ip", []string{"ip.version", "ip.hdr_len", "ip.dsfield", "ip.dsfield.dscp", "ip.dsfield.ecn", "ip.len", "ip.id", "ip.flags", "ip.flags.rb", "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "ip.ttl", "ip.proto", "ip.src", "ip.dst"}},
	{"ipv6", []string{"ipv6.version", "ipv6.tclass", "ipv6.tclass.dscp", "ipv6.tclass.ecn", "ipv6.flow", "ipv6.plen", "ipv6.nxt", "ipv6.hlim", "ipv6.src", "ipv6.dst"}},
	{"tcp", []string{"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len", "tcp.flags", "tcp.flags.res", "tcp.flags.ae", "tcp.flags.cwr", "tcp.flags.ece", "tcp.flags.urg", "tcp.flags.ack", "tcp.flags.push", "tcp.flags.reset", "tcp.flags.syn", "tcp.flags.fin", "tcp.window_size_value", "tcp.urgent_pointer", "tcp.len"}},
	{"icmp", []string{"icmp.type", "icmp.code"}},
	{"eth", []string{"eth.src", "eth.dst", "eth.type", "frame.len"}},
	{"ip.addr == 10.0.0.1 || ipv6.addr == fd00::/8", []string{"ip.src", "ipv6.src"}},
	{"tcp.flags & 0x12 == 0x12", []string{"tcp.flags"}},
	{"ip.ttl < 64 && ip.flags.df == 0", []string{"ip.ttl", "ip.flags.df"}},
	{"udp.port == 53 || tcp.port == 53", []string{"udp.srcport", "tcp.srcport"}},
	{"ipv6.nxt in {0, 43, 44, 51, 60}", []string{"ipv6.nxt", "tcp.srcport", "udp.srcport", "icmpv6.type"}},
	{"tcp.len > 0", []string{"tcp.len", "ip.len", "tcp.hdr_len"}},
	{"frame.len > 1000", []string{"frame.len"}},
	{"eth.addr == ff:ff:ff:ff:ff:ff", []string{"eth.dst"}},
	{"ip.dsfield.dscp != 0", []string{"ip.dsfield.dscp", "ip.dsfield.ecn"}},
	{"ip.proto != 6 && ip.proto != 17", []string{"ip.proto"}},
	{"tcp.srcport >= 1024 && tcp.dstport < 1024", []string{"tcp.srcport", "tcp.dstport"}},
	// Payloads hdrlog logs whole (at most 64 bytes by default).
	{"len(tcp.payload) <= 64", []string{"tcp.payload", "tcp.len"}},
	{"len(udp.payload) <= 64", []string{"udp.payload", "udp.length"}},
	{"!ip && !ipv6", []string{"eth.type"}},
	{"arp", []string{"arp.hw.type", "arp.proto.type", "arp.hw.size", "arp.proto.size", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4"}},
	{"arp.opcode == 2 || arp.dst.proto_ipv4 == 10.0.0.2", []string{"arp.src.hw_mac", "arp.src.proto_ipv4"}},
	{"sctp", []string{"sctp.srcport", "sctp.dstport", "sctp.verification_tag"}},
	{"sctp.port == 38412", []string{"sctp.verification_tag"}},
	{"gre", []string{"gre.proto"}},
	{"vxlan", []string{"vxlan.flags", "vxlan.vni"}},
	{"icmpv6.type == 128 || icmpv6.type == 129", []string{"icmpv6.echo.identifier", "icmpv6.echo.sequence_number"}},
	{"ip.version == 6", []string{"ip.version", "ipv6.version"}},
	{"ieee8021ad", []string{"ieee8021ad.id", "ieee8021ad.priority", "ieee8021ad.dei"}},
	{"ieee8021ad.id == 200 && vlan.id == 2001", []string{"eth.type"}},
	{"icmpv6.type in {135, 136}", []string{"icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address", "icmpv6.nd.na.flag.r", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.flag.o"}},
}

// tsharkPrefs are the preferences that make tshark dissect one frame at a
// time as hdrlog does: no reassembly of IP fragments (which moves the
// transport header to the last fragment) or of TCP segments. The others that
// could matter (tshark 4.0 defaults) stay as a user has them:
//   - tcp.analyze_sequence_numbers, tcp.relative_sequence_numbers: change
//     tcp.seq/tcp.ack only, which hdrlog refuses (it offers tcp.seq_raw and
//     tcp.ack_raw, absolute in both);
//   - ip/tcp/udp.check_checksum (off): add expert info, no field values;
//   - ip.tso_support (on): ip.len 0 taken as the captured length, a
//     documented divergence (TSO); ipv6.tso_support is off;
//   - vlan.qinq_ethertype (0x9100): Wireshark also takes 0x9100 for a VLAN
//     tag, hdrlog only 0x8100 and 0x88a8 (no frame of the corpus has one);
//   - eth.fcs (heuristic): may show 4 trailing bytes as an FCS; no header
//     field depends on it.
var tsharkPrefs = []string{
	"-o", "ip.defragment:FALSE",
	"-o", "ipv6.defragment:FALSE",
	"-o", "tcp.desegment_tcp_streams:FALSE",
}

// wsDiff is one difference between tshark and hdrlog.
type wsDiff struct {
	capture string // capture file name under testdata/captures, or "live"
	frame   int    // in that capture
	filter  string
	what    string // "match" (one side only reports the frame) or a field name
	tshark  string
	hdrlog  string
	// cutShort: the capture holds fewer bytes of the frame than were on the wire.
	cutShort bool
}

func (d wsDiff) String() string {
	return fmt.Sprintf("%s frame %d, filter %q, %s: tshark %q, hdrlog %q", d.capture, d.frame, d.filter, d.what, d.tshark, d.hdrlog)
}

// wsRun is one comparison: which frames of which captures, merged into one
// pcapng so that tshark starts once per filter.
type wsRun struct {
	merged  string
	origins []frameOrigin // per merged frame number - 1
	frames  map[string]int
}

type frameOrigin struct {
	capture  string
	frame    int
	cutShort bool
}

// mergeCaptures copies the frames of every capture into one pcapng file,
// remembering where each frame came from.
func mergeCaptures(t *testing.T, dir string, captures map[string]string) *wsRun {
	t.Helper()
	run := &wsRun{merged: filepath.Join(dir, "merged.pcapng"), frames: map[string]int{}}
	f, err := os.Create(run.merged)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range captures {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c, err := runtime.OpenCapture(captures[name])
		if err != nil {
			t.Fatal(err)
		}
		for {
			fr, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: fr.OrigLen}
			if err := w.WritePacket(ci, fr.Data); err != nil {
				t.Fatal(err)
			}
			run.origins = append(run.origins, frameOrigin{name, fr.Number, fr.OrigLen > len(fr.Data)})
			run.frames[name]++
		}
		c.Close()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return run
}

// fieldColumns are the columns a filter's fields take in hdrlog's rule: one
// per occurrence (vlan.id#1, vlan.id#2).
func fieldColumns(name string) []string {
	f, ok := rules.LookupField(name)
	if !ok || f.MaxLayers() == 1 {
		return []string{name}
	}
	var cols []string
	for l := 1; l <= f.MaxLayers(); l++ {
		cols = append(cols, fmt.Sprintf("%s#%d", name, l))
	}
	return cols
}

// hdrlogSide replays the merged capture through the kernel with one rule per
// filter and returns, per filter, the frames reported and their values (one
// list of occurrences per field).
func (run *wsRun) hdrlogSide(t *testing.T) []map[int][][]string {
	t.Helper()
	var src strings.Builder
	for i, f := range tsharkFilters {
		var cols []string
		for _, name := range f.fields {
			cols = append(cols, fieldColumns(name)...)
		}
		fmt.Fprintf(&src, "rule f%d { match %s log %s }\n", i, f.expr, strings.Join(cols, ", "))
	}
	rs := mustRules(t, src.String())
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The reference evaluator must print exactly what the kernel prints.
	var lines bytes.Buffer
	for _, noKernel := range []bool{false, true} {
		r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
		if err != nil {
			t.Fatal(err)
		}
		c, err := runtime.OpenCapture(run.merged)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		sum, err := runtime.Replay(r, c, &buf, func(s runtime.Skip) { t.Logf("hdrlog: %s", s) }, nil)
		c.Close()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sum.Frames != len(run.origins) {
			t.Fatalf("hdrlog replayed %d frames, the merged capture has %d", sum.Frames, len(run.origins))
		}
		if !noKernel {
			lines = buf
			t.Logf("hdrlog: %d frames, %d tc runs through the XDP build, %d frames cut short by the capture", sum.Frames, sum.ViaXDP, sum.CutShort)
		} else if !bytes.Equal(buf.Bytes(), lines.Bytes()) {
			k, r := strings.Split(lines.String(), "\n"), strings.Split(buf.String(), "\n")
			shown := 0
			for i := 0; i < max(len(k), len(r)) && shown < 5; i++ {
				var kl, rl string
				if i < len(k) {
					kl = k[i]
				}
				if i < len(r) {
					rl = r[i]
				}
				if kl != rl {
					t.Logf("line %d:\n kernel:    %s\n reference: %s", i+1, kl, rl)
					shown++
				}
			}
			t.Errorf("the reference evaluator's output differs from the kernel's")
		}
	}
	res := make([]map[int][][]string, len(tsharkFilters))
	for i := range res {
		res[i] = map[int][][]string{}
	}
	sc := bufio.NewScanner(&lines)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(ev["rule"].(string), "f"))
		frame, _ := ev["frame"].(json.Number).Int64()
		var vals [][]string
		for _, name := range tsharkFilters[i].fields {
			var occ []string
			for _, col := range fieldColumns(name) {
				if v := ev[col]; v != nil {
					occ = append(occ, normalise(name, fmt.Sprint(v)))
				}
			}
			vals = append(vals, occ)
		}
		res[i][int(frame)] = vals
	}
	return res
}

// tsharkSide runs tshark once per filter (two at a time).
func (run *wsRun) tsharkSide(t *testing.T, tshark string) []map[int][][]string {
	t.Helper()
	res := make([]map[int][][]string, len(tsharkFilters))
	errs := make([]error, len(tsharkFilters))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, f := range tsharkFilters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"-n", "-r", run.merged, "-Y", f.expr, "-T", "fields",
				"-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number"}, tsharkPrefs...)
			for _, name := range f.fields {
				args = append(args, "-e", name)
			}
			cmd := exec.Command(tshark, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Errorf("tshark -Y %q: %v: %s", f.expr, err, stderr.String())
				return
			}
			m := map[int][][]string{}
			for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
				if line == "" {
					continue
				}
				cols := strings.Split(line, "\t")
				frame, err := strconv.Atoi(cols[0])
				if err != nil || len(cols) != 1+len(f.fields) {
					errs[i] = fmt.Errorf("tshark -Y %q: bad line %q", f.expr, line)
					return
				}
				var vals [][]string
				for j, name := range f.fields {
					var occ []string
					if cols[1+j] != "" {
						for _, v := range strings.Split(cols[1+j], ",") {
							occ = append(occ, normalise(name, v))
						}
					}
					vals = append(vals, occ)
				}
				m[frame] = vals
			}
			res[i] = m
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// normalise renders a value the same way whichever side printed it: numbers
// in decimal, booleans 1/0, addresses canonical.
func normalise(field, v string) string {
	f, ok := rules.LookupField(field)
	if !ok {
		return v
	}
	switch f.Type {
	case rules.TypeBool:
		switch strings.ToLower(v) {
		case "1", "true":
			return "1"
		case "0", "false":
			return "0"
		}
	case rules.TypeUint:
		if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			return strconv.FormatUint(u, 10)
		}
	case rules.TypeIPv4, rules.TypeIPv6:
		if a, err := netip.ParseAddr(v); err == nil {
			return a.String()
		}
	case rules.TypeMAC:
		return strings.ToLower(v)
	case rules.TypeBytes:
		return strings.ReplaceAll(v, ":", "") // tshark -T fields writes bytes without separators
	}
	return v
}

// compare lists the differences between the two sides.
func (run *wsRun) compare(ts, hl []map[int][][]string) []wsDiff {
	var diffs []wsDiff
	for i, f := range tsharkFilters {
		frames := map[int]bool{}
		for n := range ts[i] {
			frames[n] = true
		}
		for n := range hl[i] {
			frames[n] = true
		}
		for n := range frames {
			o := run.origins[n-1]
			d := wsDiff{capture: o.capture, frame: o.frame, filter: f.expr, cutShort: o.cutShort}
			tv, tok := ts[i][n]
			hv, hok := hl[i][n]
			switch {
			case !hok:
				d.what, d.tshark, d.hdrlog = "match", "matches", "does not match"
				diffs = append(diffs, d)
			case !tok:
				d.what, d.tshark, d.hdrlog = "match", "does not match", "matches"
				diffs = append(diffs, d)
			default:
				for j, name := range f.fields {
					if a, b := strings.Join(tv[j], ","), strings.Join(hv[j], ","); a != b {
						d.what, d.tshark, d.hdrlog = name, a, b
						diffs = append(diffs, d)
					}
				}
			}
		}
	}
	sort.Slice(diffs, func(i, j int) bool {
		a, b := diffs[i], diffs[j]
		if a.capture != b.capture {
			return a.capture < b.capture
		}
		if a.frame != b.frame {
			return a.frame < b.frame
		}
		if a.filter != b.filter {
			return a.filter < b.filter
		}
		return a.what < b.what
	})
	return diffs
}

// wsDivergence is one line of wireshark-divergences.tsv: the differences it
// covers (each column a value or "*") and why they are expected.
type wsDivergence struct {
	line    int
	capture string // a capture under testdata/captures, "live", or "*"
	frames  string // "*", "cut-short" (frames the capture cut short), or numbers and ranges: 1,4-7
	filter  string // one filter of tsharkFilters, or "*"
	what    string // "match", field names, or both, comma-separated; or "*"
	reason  string
	used    int
}

func loadWiresharkDivergences(t *testing.T) []*wsDivergence {
	t.Helper()
	b, err := os.ReadFile("testdata/replay/wireshark-divergences.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var out []*wsDivergence
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			t.Fatalf("wireshark-divergences.tsv:%d: %d columns, want 5 (capture, frames, filter, what, reason)", i+1, len(cols))
		}
		out = append(out, &wsDivergence{line: i + 1, capture: cols[0], frames: cols[1], filter: cols[2], what: cols[3], reason: cols[4]})
	}
	return out
}

func (v *wsDivergence) covers(d wsDiff) bool {
	return (v.capture == "*" || v.capture == d.capture) && (v.filter == "*" || v.filter == d.filter) &&
		(v.what == "*" || slices.Contains(strings.Split(v.what, ","), d.what)) && inFrames(v.frames, d)
}

func inFrames(spec string, d wsDiff) bool {
	n := d.frame
	switch spec {
	case "*":
		return true
	case "cut-short":
		return d.cutShort
	}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a <= n && n <= b {
			return true
		}
	}
	return false
}

// checkAgainstWireshark compares the captures (name -> path) and checks the
// differences against the documented divergences of those captures. A
// divergence line no difference needs any more fails the test when it names
// one of the captures (or, with wildcards, any capture).
func checkAgainstWireshark(t *testing.T, captures map[string]string, wildcards bool) {
	kerneltest.Require(t)
	tshark := requireTool(t, "tshark")
	run := mergeCaptures(t, t.TempDir(), captures)
	ts := run.tsharkSide(t, tshark)
	hl := run.hdrlogSide(t)
	diffs := run.compare(ts, hl)

	divs := loadWiresharkDivergences(t)
	reasons := map[string]int{}
	undocumented := 0
	for _, d := range diffs {
		covered := false
		for _, v := range divs {
			if v.covers(d) {
				v.used++
				if !covered {
					reasons[strings.SplitN(v.reason, ":", 2)[0]]++
				}
				covered = true
			}
		}
		if !covered {
			undocumented++
			if undocumented <= 100 {
				t.Errorf("undocumented difference: %s\n\tto document it: %s\t%d\t%s\t%s\t<reason>", d, d.capture, d.frame, d.filter, d.what)
			}
		}
	}
	if undocumented > 100 {
		t.Errorf("... %d undocumented differences in all", undocumented)
	}
	for _, v := range divs {
		if v.used == 0 && (captures[v.capture] != "" || wildcards && v.capture == "*") {
			t.Errorf("wireshark-divergences.tsv:%d (%s, frames %s, %q, %s) no longer occurs: remove it", v.line, v.capture, v.frames, v.filter, v.what)
		}
	}

	matched, values := 0, 0
	for i, f := range tsharkFilters {
		matched += len(ts[i])
		values += len(ts[i]) * len(f.fields)
	}
	t.Logf("compared %d captures, %d frames, %d filters: tshark matched %d (frame, filter) pairs, %d values; %d differences, %d undocumented; documented ones by reason:",
		len(captures), len(run.origins), len(tsharkFilters), matched, values, len(diffs), undocumented)
	var rs []string
	for r := range reasons {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	for _, r := range rs {
		t.Logf("  %5d  %s", reasons[r], r)
	}
}

func TestAgainstWireshark(t *testing.T) {
	paths, err := filepath.Glob("../testdata/captures/*/*.pcap*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in ../testdata/captures: %v", err)
	}
	captures := map[string]string{}
	for _, p := range paths {
		rel, _ := filepath.Rel("../testdata/captures", p)
		captures[rel] = p
	}
	checkAgainstWireshark(t, captures, true)
}
