package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// tcpdump habits: rules on the command line, rules from standard input,
// -c, --format text, -r, -w.

func capturePath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(repoRoot, "testdata/captures", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonLines parses JSON lines, each into a map, and also returns each
// line's keys in order.
func jsonLines(t *testing.T, out string) (lines []map[string]any, keys [][]string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		lines = append(lines, m)
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		var ks []string
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			ks = append(ks, k.(string))
			var v any
			dec.Decode(&v)
		}
		keys = append(keys, ks)
	}
	return lines, keys
}

func TestInlineRules(t *testing.T) {
	dir := t.TempDir()
	ssh := capturePath(t, "tcpdump/ssh.pcap")
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(hdrlogBin, args...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		var o, e syncBuffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), o.String(), e.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, o.String(), e.String()
	}

	// Without --log: the fields the expression names, and the defaults of
	// its protocols (TCP: both address families, ports, flags), frame.len.
	code, out, errOut := run("", "test", "--no-kernel", "-r", ssh, "-e", "tcp.dstport == 22 && tcp.flags.syn == 1")
	lines, keys := jsonLines(t, out)
	if code != 0 || len(lines) != 1 {
		t.Fatalf("-e: exit %d, %d events:\n%s%s", code, len(lines), out, errOut)
	}
	wantKeys := []string{"time", "rule", "iface", "hook", "frame", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
		"tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.flags.syn", "frame.len"}
	if !slices.Equal(keys[0], wantKeys) {
		t.Errorf("default fields:\n got %v\nwant %v", keys[0], wantKeys)
	}
	if l := lines[0]; l["rule"] != "e1" || l["ip.src"] != "202.108.87.165" || l["tcp.dstport"] != 22.0 || l["ipv6.src"] != nil || l["tcp.flags"] != "0x0002" {
		t.Errorf("event: %v", l)
	}
	// An expression naming IPv4 gets only IPv4 addresses; one naming no
	// protocol gets the Ethernet header.
	for expr, want := range map[string][]string{
		"ip.ttl < 64 && udp":    {"ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.length", "ip.ttl", "frame.len"},
		"frame.len > 1000":      {"eth.src", "eth.dst", "eth.type", "frame.len"},
		"dns.qry.name == \"x\"": {"ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "dns.id", "dns.qry.name", "dns.qry.type", "frame.len"},
	} {
		fields, ds := defaultFieldsOf(t, expr)
		if !slices.Equal(fields, want) {
			t.Errorf("-e %q: default fields %v, want %v (%v)", expr, fields, want, ds)
		}
	}

	// --log; several -e, named in order; -c stops after the events asked for.
	code, out, errOut = run("", "test", "--no-kernel", "-r", ssh, "-e", "tcp.flags.syn == 1", "-e", "tcp.dstport == 22", "--log", "ip.src,tcp.dstport")
	lines, keys = jsonLines(t, out)
	if code != 0 || len(lines) != 32 || !slices.Equal(keys[0], []string{"time", "rule", "iface", "hook", "frame", "ip.src", "tcp.dstport"}) {
		t.Fatalf("two -e with --log: exit %d, %d events, keys %v:\n%s", code, len(lines), keys, errOut)
	}
	if lines[0]["rule"] != "e1" || lines[1]["rule"] != "e2" || !strings.Contains(errOut, "e1     tc ingress       2") || !strings.Contains(errOut, "e2     tc ingress      30") {
		t.Errorf("two -e: first events %v %v; summary:\n%s", lines[0], lines[1], errOut)
	}
	code, out, _ = run("", "test", "--no-kernel", "-r", ssh, "-e", "tcp.dstport == 22", "-c", "3")
	if lines, _ := jsonLines(t, out); code != 0 || len(lines) != 3 || lines[2]["frame"] != 4.0 {
		t.Errorf("-c 3: exit %d, events:\n%s", code, out)
	}

	// Rules from standard input, with a file's rule beside them.
	file := writeFile(t, dir, "big.rules", "rule big { match frame.len > 1000 log frame.len }\n")
	code, out, errOut = run("rule from_stdin { match tcp.srcport == 22 log tcp.dstport }\n", "test", "--no-kernel", "--pcap", ssh, "-", file)
	if code != 0 || !strings.Contains(out, `"rule":"from_stdin"`) || !strings.Contains(errOut, "from_stdin  tc ingress      24") || !strings.Contains(errOut, "big ") {
		t.Errorf("rules from stdin: exit %d:\n%s%s", code, out, errOut)
	}
	code, _, errOut = run("rule bad { match tcp.srcport === 22 log tcp.dstport }\n", "test", "--no-kernel", "--pcap", ssh, "-")
	if code != 1 || !strings.Contains(errOut, "<stdin>:1:") {
		t.Errorf("bad rules from stdin: exit %d:\n%s", code, errOut)
	}

	// Errors in an expression point into it; usage errors say what to do.
	code, _, errOut = run("", "test", "--no-kernel", "-r", ssh, "-e", "tcp.dstport == 22", "-e", "tcp.dstprt == 22")
	if code != 1 || !strings.Contains(errOut, "-e#2:2:11: error: unknown field tcp.dstprt") || !strings.Contains(errOut, "    match tcp.dstprt == 22\n          ^") {
		t.Errorf("bad -e: exit %d:\n%s", code, errOut)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "-r", ssh, "--log", "ip.src", file}, "--log names the fields of -e rules"},
		{[]string{"test", "-r", ssh}, "give a rule with -e EXPR"},
		{[]string{"test", "-r", ssh, "tcp.dstport == 22"}, "to match an expression, write -e 'tcp.dstport == 22'"},
		{[]string{"run", "-i", "lo", "tcp"}, "to match an expression, write -e 'tcp'"},
		{[]string{"test", "-r", ssh, "-e", "tcp", "--format", "xml"}, `--format "xml" is not one of json, text`},
		{[]string{"run", "-i", "lo", "-e", "tcp", "-w", "x.pcapng"}, "live events carry the logged fields, not the frame"},
		{[]string{"test", "-r", ssh, "-e", "tcp", "--expect", file, "-c", "1"}, "--expect compares JSON lines of every event"},
	} {
		if code, _, errOut := run("", c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errOut)
		}
	}
}

// defaultFieldsOf returns the fields an inline rule logs without --log.
func defaultFieldsOf(t *testing.T, expr string) ([]string, string) {
	rs, err := loadRuleInput(ruleInput{exprs: []string{expr}})
	if err != nil || rs.RuleSet == nil {
		return nil, fmtDiags(err, rs)
	}
	var names []string
	for _, f := range rs.RuleSet.Rules[0].Log {
		names = append(names, f.Name)
	}
	return names, ""
}

func fmtDiags(err error, rs *ruleSources) string {
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, d := range rs.Diags {
		b.WriteString(d.Message + "; ")
	}
	return b.String()
}

// --format text: one aligned line per event, endpoints as tcpdump -n
// writes them, absent fields left out.
func TestFormatText(t *testing.T) {
	ssh := capturePath(t, "tcpdump/ssh.pcap")
	code, out, errOut := hdrlog(t, ".", "test", "--no-kernel", "-r", ssh, "--format", "text", "-c", "2",
		"-e", "tcp.flags.syn == 1", "-e", "tcp.flags.fin == 1 && tcp.srcport == 22")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The time of day is local: match it by shape.
	want := []string{
		`^\d\d:\d\d:\d\d\.891237 #1 tc ingress e1 202\.108\.87\.165\.62146 > 223\.132\.53\.222\.22: tcp\.flags=0x0002 tcp\.flags\.syn=true frame\.len=78$`,
		`^\d\d:\d\d:\d\d\.\d{6} #2 tc ingress e1 223\.132\.53\.222\.22 > 202\.108\.87\.165\.62146: tcp\.flags=0x0012 tcp\.flags\.syn=true frame\.len=74$`,
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if !regexp.MustCompile(want[i]).MatchString(got[i]) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// -w: the frames that matched, as a pcapng that tshark reads back: the
// same frames as tshark's own filter selects from the capture, each once,
// with the rule names in its comment and cut to the snap length.
func TestWritePcapng(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	dir := t.TempDir()
	capture := capturePath(t, "tcpdump/print-flags.pcap")
	written := filepath.Join(dir, "matched.pcapng")
	code, _, errOut := hdrlog(t, dir, "test", "-r", capture, "-w", written, "--snaplen", "100",
		"-e", "tcp.flags.syn == 1", "-e", "http.request", "-e", "tcp.srcport == 80 && tcp.flags.ack == 1")
	if code != 0 || !strings.Contains(errOut, "matched frames written to "+written) {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	tshark := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command("tshark", append([]string{"-n", "-T", "fields", "-E", "separator=|"}, args...)...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	want := tshark("-r", capture, "-Y", "tcp.flags.syn == 1 || http.request || (tcp.srcport == 80 && tcp.flags.ack == 1)",
		"-e", "frame.time_epoch", "-e", "frame.len")
	got := tshark("-r", written, "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.comment")
	if len(got) != len(want) || len(want) < 3 {
		t.Fatalf("tshark reads %d frames from -w, its filter selects %d from the capture:\n%s\n%s", len(got), len(want), got, want)
	}
	sawBoth := false
	for i := range want {
		f := strings.Split(got[i], "|")
		if f[0]+"|"+f[1] != want[i] {
			t.Errorf("frame %d: time and length %s|%s, want %s", i+1, f[0], f[1], want[i])
		}
		if wire, _ := strconv.Atoi(f[1]); f[2] != strconv.Itoa(min(wire, 100)) {
			t.Errorf("frame %d: %s bytes captured of %s, want the snap length 100", i+1, f[2], f[1])
		}
		if !strings.HasPrefix(f[3], "hdrlog: e") {
			t.Errorf("frame %d: comment %q", i+1, f[3])
		}
		sawBoth = sawBoth || f[3] == "hdrlog: e1, e3"
	}
	if !sawBoth {
		t.Errorf("no frame names the two rules it matched (the SYN-ACK: e1 and e3):\n%s", strings.Join(got, "\n"))
	}
	if st, err := exec.Command("stat", "-c", "%a", written).Output(); err != nil || strings.TrimSpace(string(st)) != "600" {
		t.Errorf("-w file mode %s, want 600", st)
	}
}

// A live run with an inline rule ends by itself after -c events, or after
// --duration.
func TestRunCountAndDuration(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	r := startRun(t, p, "--poll-interval", "5ms", "-e", "udp.dstport == 9999", "--log", "ip.src,udp.dstport", "-c", "2")
	for range 3 {
		sendTraffic(t, p)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("-c 2: exit %v:\n%s", st, r.errOut)
	}
	lines := r.lines(t)
	if len(lines) != 2 || lines[0]["ip.src"] != p.AddrA.String() || lines[1]["udp.dstport"] != 9999.0 || len(lines[0]) != 6 {
		t.Errorf("-c 2: events %v", lines)
	}
	if !regexp.MustCompile(`(?m)^e1 +tc ingress +2 +0$`).MatchString(r.errOut.String()) {
		t.Errorf("-c 2: summary:\n%s", r.errOut)
	}
	waitDetached(t, p)

	r = startRun(t, p, "--duration", "300ms", "--format", "text", "-e", "udp")
	sendTraffic(t, p)
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("--duration: exit %v:\n%s", st, r.errOut)
	}
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} ` + p.PeerIf + ` tc ingress e1 ` + regexp.QuoteMeta(p.AddrA.String()) + `\.\d+ > ` + regexp.QuoteMeta(p.AddrB.String()) + `\.9999: udp\.length=28 frame\.len=62\n$`).MatchString(r.out.String()) {
		t.Errorf("--duration --format text: output %q", r.out)
	}
	waitDetached(t, p)
}
