package rules_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// TestLintSound holds the linter to the reference evaluator, the
// executable specification: over thousands of frames of every kind, a
// rule it says never holds matches none, and a field it says is absent is
// null in every event.
func TestLintSound(t *testing.T) {
	frames := lintFrames(4000)
	files, _ := filepath.Glob(filepath.Join("testdata", "lint", "*.rules"))
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "rules", "*.rules"))
	checked := 0
	for _, path := range append(files, examples...) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := lang.ParseDSL(path, src)
		lang.ReadSetFiles(f, filepath.Dir(path))
		rs, diags := rules.Check(f)
		if rs == nil {
			t.Fatalf("%s: %v", path, diags)
		}
		ev, err := reference.New(rs)
		if err != nil {
			t.Fatal(err)
		}
		never := map[string]bool{}
		absent := map[string]map[string]bool{}
		for _, d := range diags {
			switch {
			case strings.HasPrefix(d.Message, "this match never holds"):
				never[d.Rule] = true
			case strings.Contains(d.Message, " is absent from every packet this match accepts"):
				if absent[d.Rule] == nil {
					absent[d.Rule] = map[string]bool{}
				}
				absent[d.Rule][strings.Fields(d.Message)[0]] = true
			}
		}
		matched := map[string]int{}
		for _, fr := range frames {
			for _, h := range rules.Hooks {
				for _, e := range ev.Eval(h, fr) {
					r := rs.Rules[e.Rule]
					matched[r.Name]++
					if never[r.Name] {
						t.Errorf("%s: rule %s never holds, says the linter, but matches %x", path, r.Name, fr)
					}
					for i, lf := range r.Log {
						if absent[r.Name][lf.Name] && e.Values[i].Present {
							t.Errorf("%s: %s of rule %s is absent, says the linter, but present in %x", path, lf.Name, r.Name, fr)
						}
					}
				}
			}
		}
		for name := range absent {
			if matched[name] == 0 {
				t.Errorf("%s: no frame matches rule %s: the absent-field check was not exercised", path, name)
			}
		}
		checked += len(never) + len(absent)
	}
	if checked < 15 {
		t.Errorf("only %d warnings checked", checked)
	}
}

// lintFrames builds n frames of random shape: 0 to 2 VLAN tags; IPv4, IPv6
// or another ethertype; TCP, UDP, ICMP, ICMPv6 or nothing above, with
// values drawn from small sets that the test rules use.
func lintFrames(n int) [][]byte {
	rng := rand.New(rand.NewSource(1))
	pick := func(xs ...int) int { return xs[rng.Intn(len(xs))] }
	pickS := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	v4 := []string{"10.0.0.1", "10.0.0.53", "192.168.1.1", "192.168.0.7", "172.16.0.5", "8.8.8.8"}
	v6 := []string{"2001:db8::1", "fe80::1", "fd00::53", "2606:4700::1111"}
	var out [][]byte
	for len(out) < n {
		f := testpkt.New()
		for i := rng.Intn(3); i > 0; i-- {
			f.VLAN(0x8100, uint8(rng.Intn(8)), false, uint16(pick(3, 7, 42, 100)))
		}
		l3 := rng.Intn(5)
		switch {
		case l3 <= 1:
			ip := f.IPv4(pickS(v4...), pickS(v4...)).TTL(uint8(pick(1, 64, 100, 255))).ID(uint16(pick(0, 1, 7)))
			if rng.Intn(8) == 0 {
				ip.Proto(uint8(pick(6, 17, 1, 58)))
			}
		case l3 <= 3:
			f.IPv6(pickS(v6...), pickS(v6...))
		default:
			f.EtherType(uint16(pick(0x0806, 0x88cc)))
			out = append(out, f.PadTo(60).Bytes())
			continue
		}
		port := func() uint16 { return uint16(pick(0, 3, 20, 22, 25, 53, 80, 443, 1000, 1001, 5000)) }
		switch rng.Intn(5) {
		case 0:
			f.TCP(port(), port()).Flags(testpkt.TCPFlags(pick(0, 1, 2, 0x12, 0x14, 0x10, 0x29, 0x04)))
		case 1:
			f.UDP(port(), port())
		case 2:
			if l3 <= 1 {
				f.ICMP(uint8(pick(0, 3, 8, 11)), uint8(pick(0, 4)))
			} else {
				f.ICMPv6(uint8(pick(1, 2, 128, 135)), 0)
			}
		case 3:
			f.Payload([]byte{1, 2, 3, 4})
		}
		if rng.Intn(6) == 0 {
			f.PadTo(pick(1515, 1600))
		}
		out = append(out, f.Bytes())
	}
	return out
}

// TestLintSoundRandom: the same over random rules built from the tests the
// linter reasons about; only the rules it warns about need the frames.
func TestLintSoundRandom(t *testing.T) {
	atoms := []string{"tcp", "udp", "icmp", "icmpv6", "ip", "ipv6", "vlan", "frame",
		"tcp.dstport == 22", "tcp.dstport == 80", "tcp.dstport in {20..25}", "udp.dstport == 53", "udp.port == 53",
		"ip.src == 10.0.0.0/8", "ip.src == 192.168.1.1", "ip.dst in {10.0.0.53, 172.16.0.0/12}", "ip.addr == 8.8.8.8",
		"ipv6.src == fe80::/10", "ipv6.dst == fd00::53", "ip.ttl > 64", "ip.ttl <= 1", "ip.proto == 6", "ip.proto == 17",
		"vlan.id == 42", "vlan.id#2 == 7", "vlan.id#1 != 3", "tcp.flags.syn == 1", "tcp.flags.ack == 0", "tcp.flags & 0x12 == 0x12",
		"icmp.type == 3", "icmp.type in {0, 8}", "icmpv6.type == 128", "frame.len > 1514", "tcp.len > 0", "eth.type == 0x0800"}
	logs := []string{"ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "icmp.type", "icmpv6.type", "vlan.id", "vlan.id#2", "frame.len", "tcp.len", "eth.type"}
	rng := rand.New(rand.NewSource(2))
	var expr func(depth int) string
	expr = func(depth int) string {
		if depth == 0 || rng.Intn(3) == 0 {
			return atoms[rng.Intn(len(atoms))]
		}
		switch rng.Intn(4) {
		case 0:
			return "!(" + expr(depth-1) + ")"
		case 1:
			return "(" + expr(depth-1) + " || " + expr(depth-1) + ")"
		}
		return "(" + expr(depth-1) + " && " + expr(depth-1) + ")"
	}
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		perm := rng.Perm(len(logs))[:1+rng.Intn(3)]
		var ls []string
		for _, j := range perm {
			ls = append(ls, logs[j])
		}
		fmt.Fprintf(&b, "rule r%d { match %s log %s }\n", i, expr(4), strings.Join(ls, ", "))
	}
	f, diags := lang.ParseDSL("random.rules", []byte(b.String()))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if rs == nil {
		t.Fatal(diags)
	}
	flagged := &rules.RuleSet{}
	warned := map[string]string{} // rule -> message
	for _, d := range diags {
		if strings.HasPrefix(d.Message, "this match never holds") || strings.Contains(d.Message, " is absent from every packet") {
			warned[d.Rule] += d.Message + "\n"
		}
	}
	for _, r := range rs.Rules {
		if warned[r.Name] != "" {
			r.Index = len(flagged.Rules)
			flagged.Rules = append(flagged.Rules, r)
		}
	}
	t.Logf("%d of %d random rules warned about", len(flagged.Rules), len(rs.Rules))
	if len(flagged.Rules) < 300 {
		t.Fatalf("only %d warnings: the generator does not exercise the linter", len(flagged.Rules))
	}
	ev, err := reference.New(flagged)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range lintFrames(1500) {
		for _, h := range []rules.Hook{rules.HookTCIngress} {
			for _, e := range ev.Eval(h, fr) {
				r := flagged.Rules[e.Rule]
				msg := warned[r.Name]
				if strings.Contains(msg, "never holds") {
					t.Fatalf("rule %s (%s) matches %x; the linter said: %s", r.Name, rules.PredString(r.Match), fr, msg)
				}
				for i, lf := range r.Log {
					if strings.Contains(msg, lf.Name+" is absent") && e.Values[i].Present {
						t.Fatalf("%s of rule %s (%s) is present in %x; the linter said: %s", lf.Name, r.Name, rules.PredString(r.Match), fr, msg)
					}
				}
			}
		}
	}
}
