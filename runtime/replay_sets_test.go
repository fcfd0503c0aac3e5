package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// TestDiffCoversSetMaps holds the rule generator to making sets that
// compile into maps, so that TestKernelVsReference compares map lookups
// with the reference inside random expressions (TestKernelVsReferenceSets
// covers every kind of map on purpose).
func TestDiffCoversSetMaps(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(0); seed < uint64(*diffCases); seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x6864726c6f67))
		rulesIn := make([]byte, 1024)
		for i := range rulesIn {
			rulesIn[i] = byte(rng.Uint32())
		}
		_, rs := checkedRules(&chooser{data: rulesIn})
		if rs == nil {
			continue
		}
		out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, m := range out.Sets {
			seen[fmt.Sprintf("%s %s", m.Kind, m.Type)]++
		}
	}
	t.Logf("set maps in the seeded cases: %v", seen)
	for _, want := range []string{"hash unsigned integer", "LPM trie IPv4 address"} {
		if seen[want] == 0 {
			t.Errorf("no %s set map in %d seeded cases", want, *diffCases)
		}
	}
}

// setRules are rules whose sets compile into maps of every kind, on single
// fields, either-direction fields, under negation and beside ranges; each
// set mixes values the generated frames carry with fillers they do not.
func setRules() string {
	elems := func(vals []string, filler string, n int, extra ...string) string {
		var out []string
		out = append(out, vals...)
		for i := range n {
			out = append(out, fmt.Sprintf(filler, i/256, i%256))
		}
		return strings.Join(append(out, extra...), ", ")
	}
	n := compiler.SetMapMin + 10
	v4 := elems([]string{"10.0.0.1", "172.16.0.9"}, "198.18.%d.%d", n)
	v4p := elems([]string{"10.1.0.0/16", "192.168.1.1"}, "198.19.%d.%d", n, "203.0.113.0/24", "0.0.0.0/32")
	v6 := elems([]string{"2001:db8::1", "fe80::1"}, "2001:db8:ffff::%x:%x", n)
	v6p := elems([]string{"fd00::/8", "2001:db8::2"}, "2001:db8:eeee::%x:%x", n, "::/128")
	mac := elems([]string{"02:00:00:00:00:01"}, "02:00:5e:00:%02x:%02x", n)
	ports := elems([]string{"22", "443", "0"}, "4%d%03d", n, "2000..2001")
	rule := func(name, match, log string) string {
		return fmt.Sprintf("rule %s {\n\tmatch %s\n\tlog %s\n}\nrule %s_xdp {\n\thook xdp\n\tmatch %s\n\tlog %s\n}\n", name, match, log, name, match, log)
	}
	return rule("v4", "ip.src in {"+v4+"}", "ip.src, ip.dst") +
		rule("v4_addr_not", "!(ip.addr in {"+v4+"})", "ip.src") +
		rule("v4_lpm", "ip.dst in {"+v4p+"}", "ip.dst") +
		rule("v4_lpm_all", "all ip.addr in {"+v4p+"}", "ip.src, ip.dst") +
		rule("v6", "ipv6.src in {"+v6+"}", "ipv6.src") +
		rule("v6_lpm_not", "!(ipv6.dst in {"+v6p+"}) && ipv6", "ipv6.dst") +
		rule("mac", "eth.addr in {"+mac+"}", "eth.src, eth.dst") +
		rule("ports", "tcp.port in {"+ports+"}", "tcp.srcport, tcp.dstport") +
		rule("ports_masked", "udp.dstport & 0xff in {"+elems([]string{"53", "0"}, "1%d%03d", n)+"}", "udp.dstport")
}

// TestKernelVsReferenceSets replays generated frames through rules whose
// sets are map lookups (hash maps and LPM tries): the kernel and the
// reference must log the same events.
func TestKernelVsReferenceSets(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, setRules())
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range out.Sets {
		kinds[fmt.Sprintf("%s %s", m.Kind, m.Type)] = true
	}
	for _, want := range []string{"hash unsigned integer", "hash IPv4 address", "hash IPv6 address", "hash MAC address", "LPM trie IPv4 address", "LPM trie IPv6 address"} {
		if !kinds[want] {
			t.Errorf("no %s set map among %v", want, kinds)
		}
	}
	ev, err := reference.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	matched := make([]int, len(rs.Rules))
	rng := rand.New(rand.NewPCG(15, 15))
	for batch := range 40 {
		var frames [][]byte
		for range 16 {
			in := make([]byte, 512)
			for i := range in {
				in[i] = byte(rng.Uint32())
			}
			fr := genFrame(&chooser{data: in})
			frames = append(frames, fr)
			for _, h := range []rules.Hook{rules.HookTCIngress, rules.HookXDP} {
				for _, e := range ev.Eval(h, fr) {
					matched[e.Rule]++
				}
			}
		}
		d, _, err := diffFrames(rs, frames)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if d != "" {
			t.Fatalf("batch %d: kernel and reference disagree\n%s", batch, d)
		}
	}
	// Every rule matched some frames and missed others: the comparison
	// was not vacuous.
	for i, r := range rs.Rules {
		if matched[i] == 0 || matched[i] == 40*16 {
			t.Errorf("rule %s matched %d of %d frames", r.Name, matched[i], 40*16)
		}
	}
}

// TestInlineSet100k: a rule with an inline set of 100,000 addresses
// checks, compiles into a map, verifies and loads, and the kernel logs a
// packet from an address of the set (and none from an address beside
// them), as the reference does. (How long it takes is measured by the
// benchmark, bench/cmd/benchreport's sets section.)
func TestInlineSet100k(t *testing.T) {
	kerneltest.Require(t)
	const n = 100_000
	var b strings.Builder
	b.WriteString("rule big {\n    match ip.src in {")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "10.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff)
	}
	b.WriteString("}\n    log ip.src\n}\n")
	rs := mustRules(t, b.String())
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Sets) != 1 || out.Sets[0].Len() != n || out.Sets[0].Kind != compiler.SetHash {
		t.Fatalf("want one hash map of %d keys, got %v", n, out.Sets)
	}
	in := testpkt.New().IPv4("10.65.134.159", "192.0.2.1").UDP(1, 2).Bytes() // the last element
	out1 := testpkt.New().IPv4("10.65.134.160", "192.0.2.1").UDP(1, 2).Bytes()
	in2 := testpkt.New().IPv4("10.64.0.0", "192.0.2.1").UDP(1, 2).Bytes() // element 0
	replayAgrees(t, rs, [][]byte{in, out1, in2}, []int{1, 0, 1})
}

// TestBlocklistExample replays packets through examples/rules/blocklist.rules
// and its HCL twin, with their set file, and through the million-entry
// examples/sets/blocklist_1m.rules (a gzip-compressed set file; its HCL
// twin reads the same file, TestCheckExamples verifies it): traffic from and to listed addresses and networks (IPv4 and IPv6)
// is logged, other traffic is not, in the kernel as in the reference.
func TestBlocklistExample(t *testing.T) {
	kerneltest.Require(t)
	for _, c := range []struct {
		path  string
		elems int
		// Addresses in no element of the list.
		missV4, missV6 string
	}{
		{"../examples/rules/blocklist.rules", 1000, "20.0.1.3", "2001:db8:1::1"},
		{"../examples/hcl/blocklist.hcl", 1000, "20.0.1.3", "2001:db8:1::1"},
		{"../examples/sets/blocklist_1m.rules", 1_000_000, "20.0.1.3", "2001:db8:ffff::1"},
	} {
		path := c.path
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, rs := exampleRuleFile(t, path)
			if len(f.Sets) != 1 || f.Sets[0].Len() != c.elems {
				t.Fatalf("%d named sets, the first of %d elements; want one of %d", len(f.Sets), f.Sets[0].Len(), c.elems)
			}
			// The list's first elements (internal/blocklist): 120.0.0.0/24,
			// 2001:db8:0:0::/64, 20.0.1.2, 2001:db8:ffff:0::2.
			frames := [][]byte{
				testpkt.New().IPv4("192.0.2.9", "120.0.0.77").TCP(40000, 443).Flags(testpkt.SYN).Bytes(),
				testpkt.New().IPv4("20.0.1.2", "192.0.2.9").UDP(53, 40000).Bytes(),
				testpkt.New().IPv6("2001:db8::77", "fd00::1").UDP(53, 40000).Bytes(),
				testpkt.New().IPv6("fd00::1", "2001:db8:ffff::2").TCP(40000, 443).Flags(testpkt.SYN).Bytes(),
				testpkt.New().IPv4(c.missV4, "192.0.2.9").UDP(53, 40000).Bytes(),
				testpkt.New().IPv6(c.missV6, "fd00::1").UDP(53, 40000).Bytes(),
			}
			want := []int{1, 1, 1, 1, 0, 0} // events at tc ingress
			ev, err := reference.New(rs)
			if err != nil {
				t.Fatal(err)
			}
			for i, fr := range frames {
				if got := len(ev.Eval(rules.HookTCIngress, fr)); got != want[i] {
					t.Errorf("frame %d: %d events at tc ingress, want %d", i, got, want[i])
				}
			}
			if c.elems == 1000 {
				if got := len(ev.Eval(rules.HookTCEgress, frames[0])); got != 1 {
					t.Errorf("the SYN to a listed network: %d events at tc egress, want 1", got)
				}
			}
			d, _, err := diffFrames(rs, frames)
			if err != nil || d != "" {
				t.Fatalf("%v%s", err, d)
			}
		})
	}
}

// TestDomainsExample replays DNS queries, TLS ClientHellos and HTTP
// requests through examples/rules/domains.rules and its HCL twin: a named
// set of names from a file, one hash map looked up by dns.qry.name, the
// TLS server name and http.host, case-insensitively. Names on the list are
// logged whatever their case, names beside them (a sub-domain, a name cut
// short, a Host with a port) are not, in the kernel as in the reference.
func TestDomainsExample(t *testing.T) {
	kerneltest.Require(t)
	dns := func(name string) []byte {
		return testpkt.New().IPv4("192.0.2.9", "192.0.2.53").UDP(40000, 53).Payload(testpkt.DNSMessage(1, 0x0100, 1, 0, testpkt.DNSName(name), 1, 1)).Bytes()
	}
	tls := func(name string) []byte {
		hello := testpkt.TLSHello{Type: 1, CipherSuites: []uint16{0x1301}, Extensions: []testpkt.TLSExt{testpkt.SNIExt(name)}}.Bytes()
		return testpkt.New().IPv6("2001:db8::9", "2001:db8::443").TCP(40000, 443).Flags(testpkt.ACK | testpkt.PSH).Payload(hello).Bytes()
	}
	http := func(host string) []byte {
		return testpkt.New().IPv4("192.0.2.9", "192.0.2.80").TCP(40000, 80).Flags(testpkt.ACK | testpkt.PSH).Payload(testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host: "+host)).Bytes()
	}
	frames := [][]byte{
		dns("updates.example.net"), dns("Telemetry.EXAMPLE.net"), dns("www.updates.example.net"), dns("updates.example.ne"),
		tls("cdn-17.example.org"), tls("TRACKER.example.com"), tls("cdn-18.example.org"),
		http("ads.example.com"), http("ADS.Example.Com"), http("ads.example.com:8080"), http("example.com"),
	}
	want := []int{1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0}
	for _, path := range []string{"../examples/rules/domains.rules", "../examples/hcl/domains.hcl"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, rs := exampleRuleFile(t, path)
			out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Sets) != 1 || out.Sets[0].Type != rules.TypeString || len(out.Sets[0].Fields) != 3 {
				t.Fatalf("want one string set map looked up by three fields, got %v", out.Sets)
			}
			replayAgrees(t, rs, frames, want)
		})
	}
}

// exampleRuleFile parses and checks a rule file of the examples (DSL or HCL),
// with its set files.
func exampleRuleFile(t *testing.T, path string) (*rules.File, *rules.RuleSet) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	parse := lang.ParseDSL
	if strings.HasSuffix(path, ".hcl") {
		parse = lang.ParseHCL
	}
	f, diags := parse(path, src)
	_, sd := lang.ReadSetFiles(f, filepath.Dir(path))
	rs, cd := rules.Check(f)
	if diags = append(append(diags, sd...), cd...); diags.HasErrors() {
		t.Fatal(diags)
	}
	return f, rs
}

// TestQuotedSetFileUserAgents: a named set of user agents from a set file
// of quoted lines (spaces, semicolons, a # inside), used by
// http.user_agent (compared exactly): the agents listed are logged, the
// same agent in other case or cut short is not, in the kernel as in the
// reference.
func TestQuotedSetFileUserAgents(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	agents := "# scanners we watch\n\"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)\"\n" +
		"\"sqlmap/1.7#stable (https://sqlmap.org)\"  # the # inside the quotes is the agent's\nzgrab/0.x\n"
	if err := os.WriteFile(filepath.Join(dir, "agents.txt"), []byte(agents), 0o644); err != nil {
		t.Fatal(err)
	}
	rulesPath := filepath.Join(dir, "ua.rules")
	if err := os.WriteFile(rulesPath, []byte("set agents file \"agents.txt\"\nrule scanner {\n    match http.user_agent in $agents\n    log ip.src, http.user_agent\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rs := exampleRuleFile(t, rulesPath)
	req := func(ua string) []byte {
		return testpkt.New().IPv4("192.0.2.9", "192.0.2.80").TCP(40000, 80).Flags(testpkt.ACK | testpkt.PSH).
			Payload(testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host: h", "User-Agent: "+ua)).Bytes()
	}
	frames := [][]byte{
		req("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"),
		req("sqlmap/1.7#stable (https://sqlmap.org)"),
		req("zgrab/0.x"),
		req("SQLMAP/1.7#stable (https://sqlmap.org)"),
		req("sqlmap/1.7#stable"),
		req("Mozilla/5.0 (X11; Linux x86_64)"),
	}
	want := []int{1, 1, 1, 0, 0, 0}
	replayAgrees(t, rs, frames, want)
}

// TestPipelinedHTTPGroups: rules of one shape that test HTTP (a port each,
// a shared named set of hosts) form a group, and the group runs again on
// each further request of a segment (l7_pipe.go): 12 rules make a decision
// tree, 4,100 a hash map; either way the program stays small (4,100 rules
// were 850,000 instructions when the pipelining pass chained them) and
// every request logs as the reference says.
func TestPipelinedHTTPGroups(t *testing.T) {
	kerneltest.Require(t)
	req := func(uri, host string) string { return "GET " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n" }
	for _, n := range []int{12, 4100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var b strings.Builder
			b.WriteString("set hosts { \"a.example\", \"b.example\" }\n")
			for i := range n {
				fmt.Fprintf(&b, "rule r%d { match tcp.dstport == %d && http.host in $hosts  log http.host, http.request.uri }\n", i, 1000+i)
			}
			rs := mustRules(t, b.String())
			out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range out.Programs {
				if len(p.Insns) > 5000 {
					t.Errorf("%s: %d instructions for %d rules of one shape", p.Hook, len(p.Insns), n)
				}
			}
			frame := func(port uint16, payload string) []byte {
				return testpkt.New().IPv4("192.0.2.9", "192.0.2.80").TCP(40000, port).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(payload)).Bytes()
			}
			frames := [][]byte{
				frame(1007, req("/1", "a.example")+req("/2", "B.example")+req("/3", "c.example")),
				frame(1011, req("/1", "c.example")+req("/2", "a.example")),
				frame(999, req("/1", "a.example")+req("/2", "a.example")),
			}
			replayAgrees(t, rs, frames, []int{2, 1, 0})
		})
	}
}

// replayAgrees checks that the reference logs want[i] events at tc ingress
// for frame i, and that the kernel logs the same events as the reference.
func replayAgrees(t *testing.T, rs *rules.RuleSet, frames [][]byte, want []int) {
	t.Helper()
	ev, err := reference.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		if got := len(ev.Eval(rules.HookTCIngress, fr)); got != want[i] {
			t.Errorf("frame %d: %d events, want %d", i, got, want[i])
		}
	}
	d, _, err := diffFrames(rs, frames)
	if err != nil || d != "" {
		t.Fatalf("%v%s", err, d)
	}
}
