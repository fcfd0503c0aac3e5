package compiler_test

import (
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// SameAtXDP lets a replay run tc rules through their XDP build only when
// nothing in them is tc's alone and no state carries from frame to frame.
func TestSameAtXDP(t *testing.T) {
	for _, c := range []struct {
		name, rule string
		want       string // "" : the same at XDP; else part of the reason
	}{
		{"ports", "hook tc ingress\nmatch tcp.dstport == 22 && tcp.flags.syn == 1\nlog ip.src, tcp.srcport", ""},
		{"egress", "hook tc egress\nmatch udp.dstport == 53\nlog ipv6.src, frame.len", ""},
		{"inline set", "hook tc ingress\nmatch ip.src in {10.0.0.0/8, 192.168.0.0/16}\nlog ip.src", ""},
		{"payload", "hook tc ingress\nmatch tcp.payload contains \"GET\"\nlog tcp.payload", ""},
		{"vlan id", "hook tc ingress\nmatch vlan.id == 10\nlog ip.src", "VLAN"},
		{"eth.type", "hook tc ingress\nmatch eth.type == 0x0800\nlog ip.src", "eth.type"},
		{"logs a tag", "hook tc ingress\nmatch ip\nlog vlan.id", "VLAN"},
		{"process", "hook tc egress\nmatch tcp\nlog proc.name", "process"},
		{"count", "hook tc ingress\nmatch tcp\ncount by ip.src every 10s", "counts"},
		{"sample", "hook tc ingress\nmatch tcp\nlog ip.src\nsample 1/10", "samples"},
		{"limit", "hook tc ingress\nmatch tcp\nlog ip.src\nlimit 100/s", "limits"},
		{"tls", "hook tc ingress\nmatch tls.handshake.extensions_server_name contains \"x\"\nlog ip.src", "state across frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "rule r {\n" + c.rule + "\n}\n"
			for _, testRun := range []bool{true, false} {
				out := ktCompileWith(t, "same.rules", src, compiler.Options{TestRun: testRun})
				h := rules.HookTCIngress
				if strings.Contains(c.rule, "egress") {
					h = rules.HookTCEgress
				}
				same, why := out.SameAtXDP(h)
				switch {
				case !testRun:
					if same {
						t.Errorf("a build for live attachment: SameAtXDP says yes")
					}
				case c.want == "" && !same:
					t.Errorf("SameAtXDP says no (%s), want yes", why)
				case c.want != "" && (same || !strings.Contains(why, c.want)):
					t.Errorf("SameAtXDP = %v, %q; want no, %q", same, why, c.want)
				}
			}
		})
	}
	out := ktCompileWith(t, "xdp.rules", "rule r {\nhook xdp\nmatch tcp\nlog ip.src\n}\n", compiler.Options{TestRun: true})
	if same, _ := out.SameAtXDP(rules.HookXDP); same {
		t.Error("SameAtXDP says yes for the XDP hook itself")
	}
	if same, _ := out.SameAtXDP(rules.HookTCIngress); same {
		t.Error("SameAtXDP says yes for a hook without rules")
	}
}
