package compiler_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/compiler"
)

// TestContractPhases: the golden listings' programs split into the phases
// the contract names, in order, and keep to it (ktCompile checks every
// program the compiler tests build, kernel tests included).
func TestContractPhases(t *testing.T) {
	want := map[string][]compiler.Phase{
		"ssh_syn":    {compiler.PhaseParser, compiler.PhaseRules, compiler.PhaseEpilogue},
		"port_group": {compiler.PhaseParser, compiler.PhaseRules, compiler.PhaseEpilogue, compiler.PhaseGroup},
		"dns_qname":  {compiler.PhaseParser, compiler.PhaseL7, compiler.PhaseParser, compiler.PhaseRules, compiler.PhaseEpilogue, compiler.PhaseCallback},
	}
	for name, phases := range want {
		p := contractProgram(t, name)
		var got []compiler.Phase
		for _, s := range p.Phases {
			if n := len(got); n == 0 || got[n-1] != s.Phase {
				got = append(got, s.Phase)
			}
		}
		if !slices.Equal(got, phases) {
			t.Errorf("%s: phases %v, want %v", name, got, phases)
		}
	}
}

// TestContractCatches: the check is not vacuous. A rule that writes the
// packet record, an L7 stage that writes the context register, and any write
// of the frame pointer are reported with their phase.
func TestContractCatches(t *testing.T) {
	cases := []struct {
		listing string
		phase   compiler.Phase
		ins     asm.Instruction
		want    string
	}{
		{"ssh_syn", compiler.PhaseRules, asm.StoreMem(asm.R10, -24, asm.R1, asm.DWord), "rules: "},
		{"dns_qname", compiler.PhaseL7, asm.Mov.Imm(asm.R6, 0), "writes r6, which it does not own"},
		{"port_group", compiler.PhaseGroup, asm.Mov.Imm(asm.R10, 0), "writes the frame pointer"},
		{"ssh_syn", compiler.PhaseParser, asm.StoreImm(asm.R10, -8, 0, asm.Word), "writes stack [-8,-4)"},
	}
	for _, c := range cases {
		p := contractProgram(t, c.listing)
		if err := compiler.CheckContract(p); err != nil {
			t.Fatalf("%s as compiled: %v", c.listing, err)
		}
		i := slices.IndexFunc(p.Phases, func(s compiler.PhaseSpan) bool { return s.Phase == c.phase })
		if i < 0 {
			t.Fatalf("%s has no %s phase", c.listing, c.phase)
		}
		at := p.Phases[i].Start + 1
		p.Insns = slices.Insert(slices.Clone(p.Insns), at, c.ins)
		for j := i + 1; j < len(p.Phases); j++ {
			p.Phases[j].Start++
		}
		for j := i; j < len(p.Phases); j++ {
			p.Phases[j].End++
		}
		err := compiler.CheckContract(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.phase.String()+":") {
			t.Errorf("%s: %v inserted in the %s phase: got %v, want an error with %q", c.listing, c.ins, c.phase, err, c.want)
		}
	}
}

func contractProgram(t *testing.T, listing string) *compiler.Program {
	t.Helper()
	file := filepath.Join("testdata", "listings", listing+".rules")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := ktCompile(t, filepath.Base(file), string(src))
	return out.Programs[0]
}
