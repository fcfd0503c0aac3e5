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

// checked parses and checks DSL source; any error fails the test.
func checked(t *testing.T, name string, src []byte) *rules.RuleSet {
	t.Helper()
	f, diags := lang.ParseDSL(name, src)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %v", name, diags)
	}
	if _, diags := lang.ReadSetFiles(f, filepath.Dir(name)); diags.HasErrors() {
		t.Fatalf("set files of %s: %v", name, diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatalf("check %s: %v", name, diags)
	}
	return rs
}

// matchOf returns the checked match of a one-rule source.
func matchOf(t *testing.T, match string) rules.Pred {
	t.Helper()
	src := fmt.Sprintf("rule r {\n\tmatch %s\n\tlog frame.len\n}\n", match)
	return checked(t, "needs.rules", []byte(src)).Rules[0].Match
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

// factsAt computes, for each instruction of a program's main function, the
// presence bits R7 can hold there on some path (a forward dataflow over the
// control-flow graph; a load into R7 makes every bit possible).
func factsAt(insns asm.Instructions) []uint64 {
	at := map[string]int{}
	for i, ins := range insns {
		if s := ins.Symbol(); s != "" {
			at[s] = i
		}
	}
	facts := make([]uint64, len(insns))
	reached := make([]bool, len(insns))
	work := []int{0}
	reached[0] = true
	flow := func(to int, f uint64) {
		if to >= len(insns) {
			return
		}
		if !reached[to] || facts[to]|f != facts[to] {
			reached[to] = true
			facts[to] |= f
			work = append(work, to)
		}
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		ins, f := insns[i], facts[i]
		op := ins.OpCode
		if op.Class().IsALU() && ins.Dst == rPresence && op.Source() == asm.ImmSource {
			switch op.ALUOp() {
			case asm.Or:
				f |= uint64(ins.Constant)
			case asm.Mov:
				f = uint64(ins.Constant)
			}
		} else if op == asm.LoadImmOp(asm.DWord) && ins.Dst == rPresence {
			// A 64-bit immediate (the facts above bit 31 of a system-call
			// parser's first word) is a move like any other.
			f = uint64(ins.Constant)
		} else if op.Class().IsLoad() && ins.Dst == rPresence {
			f = ^uint64(0)
		}
		if op.Class().IsJump() && !ins.IsFunctionCall() {
			switch op.JumpOp() {
			case asm.Exit:
				continue
			case asm.Ja:
				flow(at[ins.Reference()], f)
				continue
			default:
				flow(at[ins.Reference()], f)
			}
		}
		flow(i+1, f)
	}
	return facts
}

// TestEarlyExitsAreSound checks every early exit of the parser in every
// rule file of the listings and the examples: on every path to it, no rule
// of the hook can hold with the facts R7 can hold there. It also checks that
// the exits exist where expected (a rule set whose every rule needs a
// transport header).
func TestEarlyExitsAreSound(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "listings", "*.rules"))
	ex, _ := filepath.Glob(filepath.Join("..", "examples", "rules", "*.rules"))
	files = append(files, ex...)
	if len(files) < 10 {
		t.Fatalf("only %d rule files found", len(files))
	}
	exits := 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rs := checked(t, file, src)
		out, err := Compile(rs, Options{})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, p := range out.Programs {
			var needs []uint64
			for _, r := range rs.Rules {
				if r.Hook == p.Hook {
					needs = append(needs, factNeeds(simplify(r.Match), true)...)
				}
			}
			facts := factsAt(p.Insns)
			for i, ins := range p.Insns {
				if ins.Symbol() == parseDone {
					break
				}
				if ins.Reference() != epilogue {
					continue
				}
				exits++
				for _, a := range needs {
					if a&^facts[i] == 0 {
						t.Errorf("%s, %s: instruction %d leaves the parser early with facts %#x, on which a rule needing %#x can hold", file, p.Hook, i, facts[i], a)
					}
				}
			}
		}
	}
	if exits == 0 {
		t.Errorf("no early exit in any program: the check checks nothing")
	}
}

// TestPresenceSpillOnlyWhenRead checks that the parser stores the presence
// bitmap on the stack only for programs that read it back: a rule testing a
// header's presence, a guarded comparison, a rule group.
func TestPresenceSpillOnlyWhenRead(t *testing.T) {
	for _, tc := range []struct {
		match string
		spill bool
	}{
		{"tcp.dstport == 22 && tcp.flags.syn == 1", false},
		{"udp.port == 53", false},
		{"!udp", true},
		{"tcp.srcport == 0", true}, // zero holds on an absent field: guarded
		{"ip.ttl < 2", true},
	} {
		src := fmt.Sprintf("rule r {\n\tmatch %s\n\tlog ip.src\n}\n", tc.match)
		out, err := Compile(checked(t, "spill.rules", []byte(src)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		stores, loads := 0, 0
		for _, ins := range out.Programs[0].Insns {
			if ins.Dst == asm.RFP && ins.Offset == presenceOff && ins.OpCode.Class().IsStore() {
				stores++
			}
			if ins.Src == asm.RFP && ins.Offset == presenceOff && ins.OpCode.Class() == asm.LdXClass {
				loads++
			}
		}
		if (stores > 0) != tc.spill || (loads > 0) != tc.spill {
			t.Errorf("%s: %d stores and %d loads of the presence bitmap, want them: %v", tc.match, stores, loads, tc.spill)
		}
	}
}
