package compiler_test

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// A batch build (Options.Batch) changes the XDP program only: a prologue
// that windows the batch's next frame, an epilogue that tail-calls the
// program for the one after, the frame's index in the events' ifindex word.
// The runtime's TestBatchedReplayMatchesOneFrame* run it in the kernel.
func TestBatchBuild(t *testing.T) {
	src := `
rule x {
hook xdp
match tcp.dstport == 22
log ip.src, frame.len
}
rule t {
hook tc ingress
match udp
log udp.dstport
}
`
	plain := ktCompileWith(t, "batch.rules", src, compiler.Options{TestRun: true})
	batch := ktCompileWith(t, "batch.rules", src, compiler.Options{TestRun: true, Batch: true})
	for i, p := range batch.Programs {
		if err := compiler.CheckContract(p); err != nil {
			t.Errorf("%s: %v", p.Hook, err)
		}
		same := p.Insns.String() == plain.Programs[i].Insns.String()
		if same != (p.Hook != rules.HookXDP) {
			t.Errorf("%s: program the same as without Batch: %v", p.Hook, same)
		}
	}
	var xdp *compiler.Program
	for _, p := range batch.Programs {
		if p.Hook == rules.HookXDP {
			xdp = p
		}
	}
	listing := xdp.Insns.String()
	for _, want := range []string{"FnXdpAdjustHead", "FnXdpAdjustTail", "FnTailCall"} {
		if !strings.Contains(listing, want) {
			t.Errorf("the batch program calls no %s", want)
		}
	}
	spec := batch.Spec(4096)
	if m := spec.Maps[compiler.BatchMap]; m == nil || m.ValueSize != compiler.BatchValue {
		t.Errorf("batch map: %+v", m)
	}
	if m := spec.Maps[compiler.BatchProgsMap]; m == nil || m.Type != ebpf.ProgramArray || len(m.Contents) != 1 {
		t.Errorf("batch program array: %+v", m)
	}
	if spec := plain.Spec(4096); spec.Maps[compiler.BatchMap] != nil {
		t.Error("a build without Batch has a batch map")
	}
	// Live builds are never batch builds.
	live := ktCompileWith(t, "batch.rules", src, compiler.Options{Batch: true})
	if live.Spec(4096).Maps[compiler.BatchMap] != nil {
		t.Error("a build for live attachment has a batch map")
	}
}

// BatchableAt: stateless rules only, at any hook.
func TestBatchableAt(t *testing.T) {
	for _, c := range []struct {
		name, rule string
		want       string
	}{
		{"xdp", "hook xdp\nmatch tcp.dstport == 22\nlog ip.src", ""},
		{"tc", "hook tc ingress\nmatch udp\nlog udp.srcport", ""},
		{"vlan at tc", "hook tc ingress\nmatch vlan.id == 10\nlog ip.src", ""},
		{"count", "hook xdp\nmatch tcp\ncount by ip.src every 10s", "counts"},
		{"sample", "hook xdp\nmatch tcp\nlog ip.src\nsample 1/10", "samples"},
		{"limit", "hook xdp\nmatch tcp\nlog ip.src\nlimit 100/s", "limits"},
		{"tls", "hook xdp\nmatch tls.handshake.extensions_server_name contains \"x\"\nlog ip.src", "state across frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := ktCompileWith(t, "b.rules", "rule r {\n"+c.rule+"\n}\n", compiler.Options{TestRun: true})
			h := rules.HookXDP
			if strings.Contains(c.rule, "tc ingress") {
				h = rules.HookTCIngress
			}
			ok, why := out.BatchableAt(h)
			if (c.want == "") != ok || !strings.Contains(why, c.want) {
				t.Errorf("BatchableAt = %v, %q; want %q", ok, why, c.want)
			}
			if ok, _ := ktCompileWith(t, "b.rules", "rule r {\n"+c.rule+"\n}\n", compiler.Options{}).BatchableAt(h); ok {
				t.Error("a build for live attachment is batchable")
			}
		})
	}
}
