package compiler_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
)

// TestKernelVerifierAllFields loads, for each of the three hooks, a rule set
// that uses every field of the catalogue with every operator that applies
// to it, and logs every field: the largest program a handful of rules can
// make. It must pass the verifier; the test reports the size of each
// program and the instructions the verifier processed, and runs the basic
// frames through it.
func TestKernelVerifierAllFields(t *testing.T) {
	kerneltest.Require(t)
	var clauses []string
	for _, name := range ktAllFields() {
		clauses = append(clauses, ktEveryOperator(name, ktField(name)))
		if i := strings.IndexByte(name, '#'); i >= 0 && name[i+1:] == "1" {
			// Without a layer: any occurrence, and != on all of them.
			clauses = append(clauses, ktEveryOperator(name[:i], ktField(name)))
		}
	}
	for _, f := range rules.Fields() {
		switch {
		case f.Type == rules.TypeProto:
			clauses = append(clauses, f.Name, "!"+f.Name)
		case f.IsEither():
			clauses = append(clauses, ktEveryOperator(f.Name, f))
		}
	}
	all := ktAllFields()
	// Three programs of a third of the clauses each, every one a
	// disjunction and its negation: one program over every clause takes the
	// verifier past its million instructions since the catalogue has grown
	// past 100 fields, two since the L7 limits (*.truncated) came.
	third := len(clauses) / 3
	for _, part := range []struct {
		name string
		cs   []string
	}{{"a", clauses[:third]}, {"b", clauses[third : 2*third]}, {"c", clauses[2*third:]}} {
		part, cs := part.name, part.cs
		rs := []ktRule{
			{Name: "any_of", Match: ktJoin(cs, "", " || "), Log: all},
			{Name: "all_of", Match: ktJoin(cs, "!", " && "), Log: all},
			{Name: "unconditional", Log: all},
		}
		k := ktLoad(t, "verifier_"+part, rs, ktAllHooks, 1<<20)
		t.Logf("part %s: %d clauses of %d over %d fields, %d rules per hook, each logging %d fields", part, len(cs), len(clauses), len(rules.Fields()), len(rs), len(all))
		for _, h := range ktAllHooks {
			p := k.coll.Program(h.Hook)
			info, err := k.coll.Programs[h.Hook].Info()
			if err != nil {
				t.Fatalf("%s: program info: %v", h.Hook, err)
			}
			verified, ok := info.VerifiedInstructions()
			if !ok {
				t.Fatalf("%s: the kernel does not report verified instructions", h.Hook)
			}
			t.Logf("%-10s %s: %d instructions, %d verified instructions, packet record %d bytes",
				h.Hook, p.Flavour.Name, len(p.Insns), verified, p.RecordSize)
		}
		for _, fr := range ktBasicFrames() {
			for _, h := range ktAllHooks {
				evs, err := k.run(h, fr.Bytes)
				if err != nil {
					t.Fatalf("%s: %s: run: %v", h.Hook, fr.Name, err)
				}
				if len(evs["unconditional"]) != 1 {
					t.Errorf("%s: %s: rule unconditional emitted %d events, want 1", h.Hook, fr.Name, len(evs["unconditional"]))
				}
				// any_of is the negation of all_of: exactly one fires.
				if n := len(evs["any_of"]) + len(evs["all_of"]); n != 1 {
					t.Errorf("%s: %s: any_of and all_of emitted %d events together, want 1", h.Hook, fr.Name, n)
				}
			}
		}
	}
}

// ktEveryOperator writes a disjunction using every operator that applies to
// field f, referred to as name.
func ktEveryOperator(name string, f *rules.Field) string {
	var ops []string
	add := func(format string, args ...any) { ops = append(ops, fmt.Sprintf(format, args...)) }
	switch f.Type {
	case rules.TypeBool:
		add("%s", name)
		add("%s == 1", name)
		add("%s != 0", name)
		add("%s eq true", name)
		add("%s ne false", name)
		add("%s in {1}", name)
	case rules.TypeUint:
		max := f.MaxValue()
		add("%s", name)
		add("%s == %d", name, max)
		add("%s != %d", name, max/2)
		add("%s < %d", name, max/3)
		add("%s <= %d", name, max/4)
		add("%s > %d", name, max/5)
		add("%s >= %d", name, max/6)
		add("%s eq %d or %s ne %d or %s lt %d or %s le %d or %s gt %d or %s ge %d",
			name, max, name, max/2, name, max/3, name, max/4, name, max/5, name, max/6)
		three := min(3, max) // a one-bit number (ieee8021ad.dei) holds 0 and 1 only
		add("%s in {1, %d, %d..%d}", name, three, max/2, max)
		add("%s & 1", name)
		add("%s & %d == %d", name, max, max)
		add("%s & %d != 0", name, max)
		add("%s & %d in {1, %d}", name, three, min(2, max))
		add("%s & 1 > 0", name)
	case rules.TypeIPv4:
		add("%s", name)
		add("%s == 10.0.0.1", name)
		add("%s != 192.168.0.0/16", name)
		add("%s == 0.0.0.0/0", name)
		add("%s < 1.2.3.4", name)
		add("%s <= 1.2.3.4", name)
		add("%s > 200.0.0.0", name)
		add("%s >= 200.0.0.0", name)
		add("%s in {10.0.0.0/8, 1.1.1.1, 172.16.0.1..172.16.0.9}", name)
	case rules.TypeIPv6:
		add("%s", name)
		add("%s == 2001:db8::1", name)
		add("%s != 2001:db8::/32", name)
		add("%s == fe80::/10", name)
		add("%s in {::1, ff00::/8}", name)
	case rules.TypeMAC:
		add("%s", name)
		add("%s == 02:00:00:00:00:01", name)
		add("%s != ff:ff:ff:ff:ff:ff", name)
		add("%s in {01:00:5e:00:00:01, 33:33:00:00:00:01}", name)
	}
	return strings.Join(ops, " || ")
}

// TestCompileDeterministicAllFields: the rule sets of
// TestKernelVerifierAllFields, which use every field and operator, compile
// to the same bytes each time (no map iteration order reaches a program).
func TestCompileDeterministicAllFields(t *testing.T) {
	var clauses []string
	for _, name := range ktAllFields() {
		clauses = append(clauses, ktEveryOperator(name, ktField(name)))
	}
	all := ktAllFields()
	third := len(clauses) / 3
	for i, cs := range [][]string{clauses[:third], clauses[third : 2*third], clauses[2*third:]} {
		src := ktSource([]ktRule{
			{Name: "any_of", Match: ktJoin(cs, "", " || "), Log: all},
			{Name: "unconditional", Log: all},
		}, ktAllHooks)
		var first map[string][]byte
		for n := 0; n < 4; n++ {
			progs := map[string][]byte{}
			for _, p := range ktCompile(t, fmt.Sprintf("det_%d.rules", i), src).Programs {
				var b bytes.Buffer
				insns := append(p.Insns[:0:0], p.Insns...)
				if err := insns.Marshal(&b, binary.LittleEndian); err != nil {
					t.Fatal(err)
				}
				progs[p.Flavour.Name] = b.Bytes()
			}
			if first == nil {
				first = progs
				continue
			}
			for name, code := range first {
				if !bytes.Equal(code, progs[name]) {
					t.Fatalf("part %d, compile %d: program %s differs from the first compile", i, n+1, name)
				}
			}
		}
	}
}
