package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

const reloadV1 = `
rule kept    { hook tc ingress  match udp.dstport == 9999  log udp.srcport }
rule changed { hook xdp         match udp.dstport == 9999  log udp.srcport }
rule removed { hook tc ingress  match udp.dstport == 9998  log udp.srcport }
`

const reloadV2 = `
rule kept    { hook tc ingress  match udp.dstport == 9999  log udp.srcport }
rule changed { hook xdp         match udp.dstport == 9999  log udp.srcport, ip.src }
rule added   { hook tc egress   match udp.srcport == 9999  log udp.dstport }
`

// writeAtomically replaces a file as editors do: a new file renamed over it.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRunReloadUnderTraffic sends numbered datagrams at a steady rate
// through a running hdrlog while its rules are reloaded: by --watch after
// an edit, refused after an edit that breaks the file, by --watch after
// the file is mended and by SIGHUP. Every number is logged exactly once by
// the rule that all versions keep and by the rule that changes (in its old
// shape, then its new one); the rule that is removed is summed up; the
// refused reload leaves the old rules running.
func TestRunReloadUnderTraffic(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "live.rules", reloadV1)
	r := startRun(t, p, "--poll-interval", "5ms", "--watch", dir, "--metrics-addr", p.AddrB.String()+":0")

	frame := func(sport, dport uint16) []byte {
		return testpkt.New().Eth(p.MACA.String(), p.MACB.String()).
			IPv4(p.AddrA.String(), p.AddrB.String()).UDP(sport, dport).Bytes()
	}
	for i := 0; i < 5; i++ {
		if err := p.InjectRaw("A", p.HostIf, frame(uint16(20000+i), 9998)); err != nil {
			t.Fatal(err)
		}
	}
	// Numbered datagrams, one a millisecond; the edits happen while they
	// flow.
	const n = 1200
	steps := map[int]func(){
		250: func() { writeAtomically(t, rules, reloadV2) },
		500: func() { writeAtomically(t, rules, reloadV2+"rule broken { match udp.nosuch == 1 log ip.src }\n") },
		750: func() { writeAtomically(t, rules, reloadV2) },
		1000: func() {
			if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Error(err)
			}
		},
	}
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < n; i++ {
		<-tick.C
		if step := steps[i]; step != nil {
			step()
		}
		if err := p.InjectRaw("A", p.HostIf, frame(uint16(10000+i), 9999)); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	// One datagram back from B, for the added egress rule.
	if err := p.InjectRaw("B", p.PeerIf, testpkt.New().Eth(p.MACB.String(), p.MACA.String()).
		IPv4(p.AddrB.String(), p.AddrA.String()).UDP(9999, 4242).Bytes()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(reloadRecords(r.out.String())) < 4 || len(find(r.lines(t), "added")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("reloads did not all happen within 5 s:\n%s", r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	// The reloads and the interface are counted in the metrics too.
	m := regexp.MustCompile(`Prometheus metrics at (http://\S+/metrics)`).FindStringSubmatch(r.errOut.String())
	if m == nil {
		t.Fatalf("no metrics address in\n%s", r.errOut)
	}
	cmd, err := p.Command("A", "curl", "-sS", "--max-time", "5", m[1])
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v", m[1], err)
	}
	for _, want := range []string{
		`hdrlog_reloads_total{result="ok"} 3`,
		`hdrlog_reloads_total{result="failed"} 1`,
		`hdrlog_interface_events_total{event="attached"} 1`,
		`hdrlog_interface_events_total{event="gone"} 0`,
	} {
		if !strings.Contains(string(scrape), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(string(scrape), "hdrlog_reloads_total", "hdrlog_interface_events_total"))
		}
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v:\n%s", st, r.errOut)
	}
	lines := r.lines(t)
	stderr := r.errOut.String()

	// Every number exactly once, for the kept rule and the changed one.
	for _, rule := range []string{"kept", "changed"} {
		count := map[int]int{}
		shapes := map[bool]int{}
		for _, ev := range find(lines, rule) {
			count[int(ev["udp.srcport"].(float64))-10000]++
			_, withSrc := ev["ip.src"]
			shapes[withSrc]++
		}
		var bad []string
		for i := 0; i < n; i++ {
			if count[i] != 1 {
				bad = append(bad, fmt.Sprintf("#%d logged %d times", i, count[i]))
			}
		}
		if len(bad) > 0 || len(count) != n {
			t.Errorf("rule %s: %d numbers logged, want %d; %d wrong: %.10v", rule, len(count), n, len(bad), bad)
		}
		if rule == "changed" && (shapes[false] < 100 || shapes[true] < 100) {
			t.Errorf("rule changed: %d events in the old shape, %d in the new; want both, the swap at #250", shapes[false], shapes[true])
		}
	}
	if ev := find(lines, "added"); len(ev) != 1 || ev[0]["udp.dstport"] != float64(4242) {
		t.Errorf("added rule: %v", ev)
	}
	if n := len(find(lines, "removed")); n != 5 {
		t.Errorf("removed rule logged %d events before its removal, want 5", n)
	}

	// The reloads, in the stream.
	recs := reloadRecords(r.out.String())
	if len(recs) != 4 {
		t.Fatalf("%d reload records, want 4: %v", len(recs), recs)
	}
	want := []string{
		`"reload":"done","generation":1,"rules":3,"added":["added"],"changed":["changed"],"removed":[{"rule":"removed","hook":"tc ingress","events":5,"lost":0}]`,
		`"reload":"failed","generation":2,"error":"` + rules + `:5:21: error: unknown field udp.nosuch`,
		`"reload":"done","generation":3,"rules":3,"added":[],"changed":[],"removed":[]`,
		`"reload":"done","generation":4,"rules":3,"added":[],"changed":[],"removed":[]`,
	}
	for i, w := range want {
		if !strings.Contains(recs[i], w) {
			t.Errorf("reload record %d:\n got %s\nwant …%s…", i, recs[i], w)
		}
	}
	for _, re := range []string{
		`rule files changed \(` + regexp.QuoteMeta(rules) + `\): reloading the rules`,
		`live.rules:5:\d+: error: .*nosuch`,
		`reload failed; the previous rules keep running: .*live.rules:5:21: error: unknown field udp.nosuch`,
		`SIGHUP: reloading the rules`,
		`reloaded in \S+: 3 rules; added: added; changed: changed; removed: removed \(5 events, 0 lost\)`,
		`(?m)^removed +tc ingress +5 +0$`,
		fmt.Sprintf(`(?m)^kept +tc ingress +%d +0$`, n),
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr)
		}
	}
	if strings.Contains(r.out.String(), `"total_lost"`) {
		t.Errorf("events were lost:\n%s", stderr)
	}
}

// reloadRecords returns the reload records of the stream.
func reloadRecords(stdout string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, `"reload":`) {
			out = append(out, l)
		}
	}
	return out
}

// A Kubernetes ConfigMap volume publishes new files by renaming its ..data
// symbolic link to a new directory; --watch on the mounted directory
// reloads then, once.
func TestRunWatchConfigMapSwap(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	publish := func(version, content string) {
		t.Helper()
		data := filepath.Join(dir, "..2026_"+version)
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, data, "live.rules", content)
		if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish("a", reloadV1)
	if err := os.Symlink("..data/live.rules", filepath.Join(dir, "live.rules")); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, p, "--watch", dir)
	publish("b", reloadV2)
	os.RemoveAll(filepath.Join(dir, "..2026_a"))
	deadline := time.Now().Add(5 * time.Second)
	for len(reloadRecords(r.out.String())) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no reload 5 s after the ConfigMap swap:\n%s", r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * watchQuiet)
	if recs := reloadRecords(r.out.String()); len(recs) != 1 || !strings.Contains(recs[0], `"reload":"done","generation":1,"rules":3,"added":["added"]`) {
		t.Errorf("reload records: %q", recs)
	}
	if !strings.Contains(r.errOut.String(), "rule files changed ("+filepath.Join(dir, "..data")+")") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
}

// A reload that the kernel refuses half way (its new XDP rule finds the
// hook taken by another program, after the tc program was already
// replaced) puts the replaced program back: the old rules keep logging,
// every datagram once, and the record says why.
func TestRunReloadRolledBack(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "udp.rules", udpInRules)
	r := startRun(t, p, "--poll-interval", "5ms", rules)

	// Another owner takes the XDP hook: a second hdrlog.
	other := filepath.Join(dir, "other.rules")
	writeFile(t, dir, "other.rules", "rule other { hook xdp match udp.dstport == 1 log udp.srcport }\n")
	holder := startInBHolder(t, p, other)
	defer holder()

	sent := map[int]string{sendUDP(t, p, p.AddrA, p.AddrB): p.PeerIf}
	writeFile(t, dir, "udp.rules", udpInRules+"\nrule xdp_new { hook xdp match udp log udp.srcport }\n")
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, r, 1)
	sent[sendUDP(t, p, p.AddrA, p.AddrB)] = p.PeerIf
	waitEvents(t, r, sent)
	recs := reloadRecords(r.out.String())
	if len(recs) != 1 || !strings.Contains(recs[0], `"reload":"failed","generation":1,"error":"attach xdp program to `+p.PeerIf+`: the XDP hook of `+p.PeerIf+` is taken by program `) {
		t.Errorf("reload records: %q", recs)
	}
	if !strings.Contains(r.errOut.String(), "reload failed; the previous rules keep running") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v:\n%s", st, r.errOut)
	}
	got := map[int]int{}
	for _, ev := range find(r.lines(t), "udp_in") {
		got[int(ev["udp.srcport"].(float64))]++
	}
	for port := range sent {
		if got[port] != 1 {
			t.Errorf("datagram from port %d logged %d times by the old rules", port, got[port])
		}
	}
	if n := len(find(r.lines(t), "xdp_new")); n != 0 {
		t.Errorf("the refused rule logged %d events", n)
	}
}

// startInBHolder runs a second hdrlog in namespace B that holds the XDP
// hook of the pair's veth, and returns a function that stops it.
func startInBHolder(t *testing.T, p *netns.Pair, rules string) func() {
	t.Helper()
	h := startRun(t, p, rules)
	return func() {
		h.cmd.Process.Signal(syscall.SIGINT)
		h.wait(t)
	}
}

// grepLines keeps the lines of s that start with one of the prefixes.
func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// The reload records follow --format text and --schema ecs, from the CLI:
// a text line like the lost-event reports, an ECS event of dataset
// hdrlog.reload.
func TestReloadRecordFormats(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	for _, c := range []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"--format", "text"}, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} RELOAD done generation=1 rules=3 added=\["added"\] changed=\["changed"\] removed=\[\{"rule":"removed","hook":"tc ingress","events":0,"lost":0\}\] seconds=\d+\.\d{3}$`)},
		{[]string{"--schema", "ecs"}, regexp.MustCompile(`(?m)^\{"@timestamp":"[^"]+","event\.kind":"event","event\.category":"configuration","event\.module":"hdrlog","event\.dataset":"hdrlog\.reload","event\.action":"done","event\.outcome":"success","hdrlog\.reload\.generation":1,"hdrlog\.reload\.rules":3,"hdrlog\.reload\.added":\["added"\],"hdrlog\.reload\.changed":\["changed"\],"hdrlog\.reload\.removed":\[\{"rule":"removed","hook":"tc ingress","events":0,"lost":0\}\],"event\.duration":\d+\}$`)},
	} {
		dir := t.TempDir()
		rules := writeFile(t, dir, "live.rules", reloadV1)
		r := startRun(t, p, append([]string{"--poll-interval", "5ms", "--watch", dir}, c.args...)...)
		writeAtomically(t, rules, reloadV2)
		deadline := time.Now().Add(10 * time.Second)
		for !c.want.MatchString(r.out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: no reload record matching %s:\n%s\nstderr:\n%s", c.args, c.want, r.out, r.errOut)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.cmd.Process.Kill()
	}
}

// Rules from standard input are read once: --watch with nothing else to
// watch is refused, and a reload of the files beside it keeps them.
func TestWatchWithStdinRules(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"-"}, {"-e", "udp"}} {
		code, _, errOut := hdrlog(t, dir, append([]string{"run", "-i", "lo", "--watch"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "--watch reloads the rules when a rule file or directory named changes, and none is named") {
			t.Errorf("--watch %v: exit %d, %s", args, code, errOut)
		}
	}

	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, dir, "live.rules", reloadV1)
	cmd, err := p.Command("B", hdrlogBin, "run", "-i", p.PeerIf, "--poll-interval", "5ms", "--watch", "-", rules)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader("rule from_stdin { hook tc ingress match udp.dstport == 9997 log udp.srcport }\n")
	r := startLive(t, cmd, cmd.Start)
	writeAtomically(t, rules, reloadV2)
	deadline := time.Now().Add(10 * time.Second)
	for len(reloadRecords(r.out.String())) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no reload 10 s after the rule file changed:\n%s", r.errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs := reloadRecords(r.out.String())
	if len(recs) != 1 || !strings.Contains(recs[0], `"reload":"done","generation":1,"rules":4,"added":["added"],"changed":["changed"],"removed":[{"rule":"removed"`) {
		t.Errorf("reload records: %q", recs)
	}
}
