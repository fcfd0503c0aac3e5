package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/l7test"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/rules"
)

// HTTP, DNS and TLS fields of captures through `hdrlog test`, against
// `tshark -Y FILTER -T fields -e ...` on the same captures: the captures of
// tcpdump's test suite that carry HTTP and DNS (testdata/captures), one
// recorded from real clients (curl, dig, openssl s_client, one ClientHello
// split across two segments: testdata/captures/hdrlog/l7-clients.pcap, made
// by -l7.record), and one recorded afresh by TestL7LiveCaptureAgainstWireshark.
//
// hdrlog decodes the first request, question, record and handshake message
// of a segment: tshark is asked for first occurrences (-E occurrence=f).
// HTTP and DNS are compared per segment (TCP reassembly off), TLS with
// tshark's reassembly on: hdrlog finishes a ClientHello cut before its
// server name with the next segment, as Wireshark shows the reassembled
// handshake on its last segment.

var l7Record = flag.Bool("l7.record", false, "record testdata/captures/hdrlog/l7-clients.pcap from real clients")

type l7Filter struct {
	expr       string
	fields     []string
	reassemble bool
	// all compares every occurrence (tshark) with every event of the frame
	// (hdrlog), in order: messages that hdrlog logs one event each, as the
	// requests of a segment.
	all bool
}

// l7Sep joins the occurrences of a field (tshark's aggregator) and the
// values of a frame's events.
const l7Sep = "\x1f"

var l7Filters = []l7Filter{
	{"http.request", []string{"http.request.method", "http.request.uri", "http.request.version", "http.host", "http.user_agent",
		"http.referer", "http.content_type", "http.content_length_header", "http.authorization", "http.cookie"}, false, false},
	{`http.host contains "example" || http.request.uri matches "^/hello"`, []string{"http.host", "http.request.uri"}, false, false},
	{"http.content_type", []string{"http.content_type", "http.content_length_header"}, false, false},
	{"dns", []string{"dns.id", "dns.flags.response", "dns.flags.rcode", "dns.qry.name", "dns.qry.type", "dns.qry.class",
		"dns.count.queries", "dns.count.answers"}, false, false},
	{`(dns.qry.name matches "(?i)\\.org$" || dns.qry.name matches "(?i)\\.TEST$") && dns.flags.response == 0`, []string{"dns.qry.name", "dns.qry.type"}, false, false},
	{"dns.flags.response == 1", []string{"dns.id", "dns.count.answers", "dns.a", "dns.aaaa", "dns.cname", "dns.resp.ttl", "dns.time"}, false, false},
	{"tls.handshake.type == 1", []string{"tls.record.version", "tls.handshake.version", "tls.handshake.extensions_server_name",
		"tls.handshake.extensions_alpn_str"}, true, false},
	{"tls.handshake.type == 2", []string{"tls.handshake.version", "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite",
		"tls.handshake.extensions.supported_version"}, true, false},
	{`tls.handshake.extensions_server_name == "held.hdrlog.test"`, []string{"tls.handshake.extensions_server_name"}, true, false},
}

// l7Captures are the captures compared, under testdata/captures.
var l7Captures = []string{
	"tcpdump/print-flags.pcap", "tcpdump/accecn_handshake.pcap", "tcpdump/ipv4_tcp_http_xml.pcap",
	"tcpdump/ipv4_tcp_http_xml_tso.pcap", "tcpdump/dns_udp.pcap", "tcpdump/dns_tcp.pcap", "tcpdump/edns-opts.pcap",
	"tcpdump/dns-zlip-1.pcap", "hdrlog/l7-clients.pcap",
}

func l7RulesFile(t *testing.T, dir string, filters []l7Filter) string {
	var b strings.Builder
	for i, f := range filters {
		fmt.Fprintf(&b, "rule f%d {\n  match %s\n  log %s\n", i, f.expr, strings.Join(f.fields, ", "))
		var long, raw []string
		for _, name := range f.fields {
			fld, _ := rules.LookupField(name)
			if fld.Type == rules.TypeString {
				long = append(long, name+" 512")
				if fld.L7.Redact {
					raw = append(raw, name)
				}
			}
		}
		if len(long) > 0 {
			fmt.Fprintf(&b, "  maxlen %s\n", strings.Join(long, ", "))
		}
		if len(raw) > 0 {
			fmt.Fprintf(&b, "  unredact %s\n", strings.Join(raw, ", "))
		}
		b.WriteString("}\n")
	}
	return writeFile(t, dir, "l7.rules", b.String())
}

// l7Side is, per filter, the frames reported and their values by field.
type l7Side []map[int]map[string]string

func hdrlogL7(t *testing.T, dir, capture string, filters []l7Filter) l7Side {
	t.Helper()
	code, out, errOut := hdrlog(t, dir, "test", l7RulesFile(t, dir, filters), "--pcap", capture)
	if code != 0 {
		t.Fatalf("hdrlog test %s: exit %d\n%s", capture, code, errOut)
	}
	side := make(l7Side, len(filters))
	for i := range side {
		side[i] = map[int]map[string]string{}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		if err := d.Decode(&ev); err != nil {
			t.Fatalf("hdrlog test: %v: %s", err, sc.Text())
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(ev["rule"].(string), "f"))
		n, _ := ev["frame"].(json.Number).Int64()
		f := filters[i]
		vals, seen := side[i][int(n)]
		if seen && !f.all {
			continue // the first message of the frame, as tshark's first occurrence
		}
		if !seen {
			vals = map[string]string{}
		}
		for _, name := range f.fields {
			if v := ev[name]; v != nil {
				if old, ok := vals[name]; ok {
					vals[name] = old + l7Sep + l7Normalise(fmt.Sprint(v))
				} else {
					vals[name] = l7Normalise(fmt.Sprint(v))
				}
			}
		}
		side[i][int(n)] = vals
	}
	return side
}

func tsharkL7(t *testing.T, capture string, filters []l7Filter) l7Side {
	t.Helper()
	side := make(l7Side, len(filters))
	for i, f := range filters {
		side[i] = map[int]map[string]string{}
		args := []string{"-n", "-r", capture, "-Y", f.expr, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + l7Sep,
			"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
			"-o", "tcp.desegment_tcp_streams:" + strings.ToUpper(strconv.FormatBool(f.reassemble)), "-e", "frame.number"}
		for _, name := range f.fields {
			args = append(args, "-e", name)
		}
		out, err := exec.Command("tshark", args...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if line == "" {
				continue
			}
			cols := strings.Split(line, "\t")
			n, _ := strconv.Atoi(cols[0])
			vals := map[string]string{}
			for j, name := range f.fields {
				if j+1 < len(cols) && cols[j+1] != "" {
					occ := strings.Split(cols[j+1], l7Sep)
					fld, _ := rules.LookupField(name)
					for k := range occ {
						occ[k] = l7Normalise(occ[k])
						if fld.Base == rules.BaseSeconds {
							// tshark prints nanoseconds; hdrlog keeps microseconds.
							if f, err := strconv.ParseFloat(occ[k], 64); err == nil {
								occ[k] = strconv.FormatFloat(f, 'f', 6, 64)
							}
						}
					}
					switch {
					case fld.L7 != nil && fld.L7.List:
						vals[name] = strings.Join(occ, ",") // as hdrlog shows a list
					case f.all:
						vals[name] = strings.Join(occ, l7Sep)
					default:
						vals[name] = occ[0]
					}
				}
			}
			side[i][n] = vals
		}
	}
	return side
}

// l7Normalise renders booleans as 1/0 (tshark's way).
func l7Normalise(v string) string {
	switch v {
	case "true", "True":
		return "1"
	case "false", "False":
		return "0"
	}
	return v
}

func l7Compare(capture string, filters []l7Filter, ts, hl l7Side) []string {
	var diffs []string
	for i, f := range filters {
		frames := map[int]bool{}
		for n := range ts[i] {
			frames[n] = true
		}
		for n := range hl[i] {
			frames[n] = true
		}
		var ns []int
		for n := range frames {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		for _, n := range ns {
			tv, tok := ts[i][n]
			hv, hok := hl[i][n]
			if tok != hok {
				diffs = append(diffs, fmt.Sprintf("%s frame %d, %q: match: tshark %v, hdrlog %v", capture, n, f.expr, tok, hok))
				continue
			}
			for _, name := range f.fields {
				if tv[name] != hv[name] {
					diffs = append(diffs, fmt.Sprintf("%s frame %d, %q: %s: tshark %q, hdrlog %q", capture, n, f.expr, name, tv[name], hv[name]))
				}
			}
		}
	}
	return diffs
}

// l7Against compares the two sides on one capture and returns how many
// frames tshark reported per filter.
func l7Against(t *testing.T, dir, name, path string, filters []l7Filter) []int {
	t.Helper()
	ts := tsharkL7(t, path, filters)
	for _, d := range l7Compare(name, filters, ts, hdrlogL7(t, dir, path, filters)) {
		t.Errorf("%s", d)
	}
	var n []int
	for _, m := range ts {
		n = append(n, len(m))
	}
	return n
}

func TestL7CapturesAgainstWireshark(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	dir := t.TempDir()
	matched := make([]int, len(l7Filters))
	for _, c := range l7Captures {
		t.Run(c, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join("..", "..", "testdata", "captures", c))
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range l7Against(t, dir, c, path, l7Filters) {
				matched[i] += n
			}
		})
	}
	// No vacuous agreement: every filter holds on some frames.
	for i, n := range matched {
		if n == 0 {
			t.Errorf("filter %q matches no frame of the captures", l7Filters[i].expr)
		}
	}
	t.Logf("frames per filter: %v", matched)
}

// TestL7LiveCaptureAgainstWireshark records the real clients with tcpdump,
// then compares `hdrlog test` on the capture with tshark.
func TestL7LiveCaptureAgainstWireshark(t *testing.T) {
	kerneltest.RequireRoot(t)
	for _, tool := range []string{"tshark", "tcpdump", "curl", "dig", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if kerneltest.InCI() {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "live.pcap")
	if *l7Record {
		var err error
		if path, err = filepath.Abs(filepath.Join("..", "..", "testdata", "captures", "hdrlog", "l7-clients.pcap")); err != nil {
			t.Fatal(err)
		}
	}
	recordL7Clients(t, path)
	for i, n := range l7Against(t, dir, "live", path, l7Filters) {
		if n == 0 {
			t.Errorf("filter %q matches no frame of the live capture", l7Filters[i].expr)
		}
	}
}

func recordL7Clients(t *testing.T, path string) {
	t.Helper()
	p := netns.NewPair(t)
	l7test.ServeHTTP(t, p, fmt.Sprintf("%s:80", p.AddrB))
	l7test.ServeDNS(t, p, fmt.Sprintf("%s:53", p.AddrB))
	l7test.TLSServer(t, p, 443)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := l7test.Record(t, p, path)
	l7test.Clients(t, p, true)
	rec.Stop(t)
}
