package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// matchOf parses and checks a one-rule DSL source and returns its match.
func matchOf(t *testing.T, match string) rules.Pred {
	t.Helper()
	src := fmt.Sprintf("rule r {\n\tmatch %s\n\tlog frame.len\n}\n", match)
	f, diags := lang.ParseDSL("needs.rules", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse %q: %v", match, diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatalf("check %q: %v", match, diags)
	}
	return rs.Rules[0].Match
}

var factNames = map[int]string{
	FactFrame: "frame", FactEth: "eth", FactEthType: "ethtype", FactVLAN1: "vlan", FactVLAN2: "vlan2",
	FactIPv4: "ip", FactIPv6: "ipv6", FactTCP: "tcp", FactUDP: "udp", FactICMP: "icmp", FactICMPv6: "icmpv6",
	FactTCPLen: "tcp.len",
}

// needsString renders alternatives as "ip+tcp | ipv6+tcp"; "-" for none
// (the predicate never holds), "{}" for an alternative with no fact.
func needsString(alts []uint64) string {
	if len(alts) == 0 {
		return "-"
	}
	var out []string
	for _, a := range alts {
		var names []string
		for f := 0; f < 64; f++ {
			if a&(1<<f) != 0 {
				names = append(names, factNames[f])
			}
		}
		if len(names) == 0 {
			out = append(out, "{}")
			continue
		}
		out = append(out, strings.Join(names, "+"))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

// TestFactNeeds checks which headers a match needs present to hold: the
// basis of the parser's early exit, which must never skip a rule that could
// hold (a need too large would lose events).
func TestFactNeeds(t *testing.T) {
	for _, tc := range []struct{ match, want string }{
		{"udp.port == 53", "udp"},
		{"tcp.dstport == 22 || udp.dstport == 53", "tcp | udp"},
		{"ip.src == 10.0.0.0/8 && tcp.port == 22", "ip+tcp"},
		{"(ip || ipv6) && (tcp.port == 1 || udp.port == 1)", "ip+tcp | ip+udp | ipv6+tcp | ipv6+udp"},
		// An alternative that includes another is dropped.
		{"tcp || (tcp.port == 22 && ip.ttl == 1)", "tcp"},
		// Negations hold where the field is absent.
		{"!udp", "{}"},
		{"!(tcp.port == 22)", "{}"},
		{"!(tcp || udp)", "{}"},
		{"!(!ip)", "ip"},
		{"!(tcp.port == 22) && udp", "udp"},
		{"!(!tcp && !udp)", "tcp | udp"},
		{"!(tcp.port == 22 || !icmp)", "icmp"},
		// L7 fields are decoded from a transport payload.
		{`http.request.method == "GET"`, "tcp"},
		{`dns.qry.name == "example.com"`, "tcp | udp"},
		{"frame.len > 100", "frame"},
		// vlan.id is either tag's (Wireshark: any occurrence).
		{"vlan.id == 42 && tcp.dstport == 443", "vlan+tcp | vlan2+tcp"},
		// More than maxAlts alternatives fold into their intersection.
		{"(eth.type == 0x800 || vlan || ip || ipv6 || tcp) && (udp || icmp || icmpv6 || tcp.len > 0)", "{}"},
	} {
		got := needsString(factNeeds(matchOf(t, tc.match), true))
		if got != tc.want {
			t.Errorf("%s: needs %s, want %s", tc.match, got, tc.want)
		}
	}
	if got := needsString(factNeeds(&rules.PredConst{Value: false}, true)); got != "-" {
		t.Errorf("false: needs %s, want none (never holds)", got)
	}
}

// TestParserSetsFactsInCodeOrder checks what the early exit relies on: in
// the parser, no backward jump spans an instruction that sets a header's
// fact, so the facts set before a place in the code are all a packet can
// have there. Every rule file of the listings and the examples is compiled.
func TestParserSetsFactsInCodeOrder(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "listings", "*.rules"))
	ex, _ := filepath.Glob(filepath.Join("..", "examples", "*.rules"))
	files = append(files, ex...)
	if len(files) < 10 {
		t.Fatalf("only %d rule files found", len(files))
	}
	const headerFacts = 1<<(FactTCPLen+1) - 1
	loops := 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := lang.ParseDSL(file, src)
		if diags.HasErrors() {
			t.Fatalf("%v", diags)
		}
		rs, diags := rules.Check(f)
		if diags.HasErrors() {
			t.Fatalf("%v", diags)
		}
		out, err := Compile(rs, Options{})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, p := range out.Programs {
			at := map[string]int{}
			end := len(p.Insns)
			for i, ins := range p.Insns {
				if s := ins.Symbol(); s != "" {
					at[s] = i
				}
				if ins.Symbol() == parseDone {
					end = i
				}
			}
			for i, ins := range p.Insns[:end] {
				j, ok := at[ins.Reference()]
				if !ins.OpCode.Class().IsJump() || !ok || j > i {
					continue
				}
				loops++
				for k := j; k <= i; k++ {
					s := p.Insns[k]
					if s.OpCode.Class().IsALU() && s.OpCode.ALUOp() == asm.Or && s.Dst == rPresence && s.Constant&headerFacts != 0 {
						t.Errorf("%s, %s: the backward jump at %d spans %d, which sets facts %#x", file, p.Hook, i, k, s.Constant)
					}
				}
			}
		}
	}
	if loops == 0 {
		t.Errorf("no backward jump in any parser: the check checks nothing")
	}
}
