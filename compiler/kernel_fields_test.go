package compiler_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
)

// TestKernelFrames runs crafted frames through the programs of every hook:
// one rule logs every field of the catalogue, and, generated from the same
// expectation, match expressions test every field with every operator
// (present fields compare as their value does; absent fields make every
// comparison false, != included, and only !field true).
//
// The expressions are compiled into four rules, so that every predicate is
// emitted both for "jump when false" and "jump when true": the conjunction
// of those that must hold (fires), the disjunction of their negations (does
// not), the disjunction of those that must fail (does not) and the
// conjunction of their negations (fires). A program of one rule per
// expression would exceed the verifier's budget; when an aggregate is wrong,
// the expressions are rerun one rule each, in batches, to name the culprits.
func TestKernelFrames(t *testing.T) {
	kerneltest.Require(t)
	// The basic frames get the full matrix; the frame classes, which are
	// about which headers are present, the lite one.
	frames := ktBasicFrames()
	for _, class := range [][]ktFrame{ktIHLFrames(), ktIPv6ChainFrames(), ktVLANFrames(), ktFragmentFrames(), ktMalformedFrames()} {
		frames = append(frames, ktLiteFrames(class)...)
	}
	ktRunFrames(t, frames)
}

// TestKernelTransportWithinIPLength: the transport header must lie within
// the IP length (ktLengthBoundFrames).
func TestKernelTransportWithinIPLength(t *testing.T) {
	kerneltest.Require(t)
	ktRunFrames(t, ktLiteFrames(ktLengthBoundFrames()))
}

func ktLiteFrames(frames []ktFrame) []ktFrame {
	for i := range frames {
		frames[i].Lite = true
	}
	return frames
}

func ktRunFrames(t *testing.T, frames []ktFrame) {
	for _, fr := range frames {
		t.Run(fr.Name, func(t *testing.T) {
			t.Parallel()
			ktRunFrame(t, fr)
		})
	}
}

// ktExpr is a match expression and whether it must hold on a frame.
type ktExpr struct {
	Text  string
	Holds bool
}

func ktRunFrame(t *testing.T, fr ktFrame) {
	want := ktWant(fr.Want)
	hold, fail := ktMatrix(want, fr.Lite)
	if testing.Short() && fr.Lite {
		hold, fail = nil, nil // -short: the values of the frame classes only
	}
	hold = append(hold, fr.Hold...)
	fail = append(fail, fr.Fail...)
	var exprs []ktExpr
	for _, e := range hold {
		exprs = append(exprs, ktExpr{e, true})
	}
	for _, e := range fail {
		exprs = append(exprs, ktExpr{e, false})
	}

	all := ktAllFields()
	fl := []string{"frame.len"}
	rs := []ktRule{{Name: "all", Log: all}}
	aggregates := map[string]bool{}
	if len(hold) > 0 {
		rs = append(rs,
			ktRule{Name: "hold_all", Match: ktJoin(hold, "", " && "), Log: fl},
			ktRule{Name: "hold_none", Match: ktJoin(hold, "!", " || "), Log: fl})
		aggregates["hold_all"], aggregates["hold_none"] = true, false
	}
	if len(fail) > 0 {
		rs = append(rs,
			ktRule{Name: "fail_any", Match: ktJoin(fail, "", " || "), Log: fl},
			ktRule{Name: "fail_none", Match: ktJoin(fail, "!", " && "), Log: fl})
		aggregates["fail_any"], aggregates["fail_none"] = false, true
	}
	k := ktLoad(t, fr.Name, rs, ktHooks, 1<<20)
	diagnose := false
	for _, h := range ktHooks {
		evs, err := k.run(h, fr.Bytes)
		if err != nil {
			t.Fatalf("%s: run: %v (frame %s)", h.Hook, err, ktHex(fr.Bytes))
		}
		ctx := fmt.Sprintf("%s, frame %s", h.Hook, ktHex(fr.Bytes))
		if n := len(evs["all"]); n != 1 {
			t.Errorf("%s: rule all: %d events, want 1", ctx, n)
			continue
		}
		if !ktCheckFields(t, ctx, evs["all"][0], all, want) {
			continue // the match expressions would only repeat it
		}
		for _, name := range ktSortedKeys(aggregates) {
			if got := len(evs[name]) == 1; got != aggregates[name] {
				t.Errorf("%s: rule %s fired: %v, want %v", ctx, name, got, aggregates[name])
				diagnose = true
			}
		}
	}
	if diagnose {
		ktDiagnose(t, fr, exprs)
	}
}

// ktJoin joins expressions, each parenthesised and prefixed with prefix.
func ktJoin(exprs []string, prefix, sep string) string {
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		parts[i] = prefix + "(" + e + ")"
	}
	return strings.Join(parts, sep)
}

// ktDiagnose runs each expression as a rule of its own and reports those
// whose outcome is wrong.
func ktDiagnose(t *testing.T, fr ktFrame, exprs []ktExpr) {
	t.Helper()
	if wrong := ktCheckExprs(t, fr.Name, fr.Bytes, exprs); len(wrong) > 0 {
		t.Errorf("frame %s: %d match expression outcome(s) wrong:\n\t%s", ktHex(fr.Bytes), len(wrong), strings.Join(wrong, "\n\t"))
	}
}

// ktCheckExprs runs frame through one rule per expression, and one per
// negated expression, and returns a line for each outcome that is wrong,
// with the hooks where it is (at most 40 lines).
func ktCheckExprs(t *testing.T, name string, frame []byte, exprs []ktExpr) []string {
	t.Helper()
	const batch = 40
	wrongOn := map[string][]string{} // report line -> hooks
	var order []string
	for lo := 0; lo < len(exprs); lo += batch {
		hi := min(lo+batch, len(exprs))
		var rs []ktRule
		for i := lo; i < hi; i++ {
			rs = append(rs,
				ktRule{Name: fmt.Sprintf("e%d", i), Match: exprs[i].Text, Log: []string{"frame.len"}},
				ktRule{Name: fmt.Sprintf("n%d", i), Match: "!(" + exprs[i].Text + ")", Log: []string{"frame.len"}})
		}
		k := ktLoad(t, fmt.Sprintf("%s_%d", name, lo), rs, ktHooks, 1<<20)
		for _, h := range ktHooks {
			evs, err := k.run(h, frame)
			if err != nil {
				t.Fatalf("%s: run: %v", h.Hook, err)
			}
			for i := lo; i < hi; i++ {
				for _, neg := range []bool{false, true} {
					name, text, holds := fmt.Sprintf("e%d", i), exprs[i].Text, exprs[i].Holds
					if neg {
						name, text, holds = fmt.Sprintf("n%d", i), "!("+text+")", !holds
					}
					if got := len(evs[name]) == 1; got != holds {
						line := fmt.Sprintf("%s is %v, want %v", text, got, holds)
						if wrongOn[line] == nil {
							order = append(order, line)
						}
						wrongOn[line] = append(wrongOn[line], h.Hook.String())
					}
				}
			}
		}
	}
	const show = 40
	var lines []string
	for i, l := range order {
		if i == show {
			lines = append(lines, fmt.Sprintf("... and %d more", len(order)-show))
			break
		}
		lines = append(lines, fmt.Sprintf("%s (%s)", l, strings.Join(wrongOn[l], ", ")))
	}
	return lines
}

// ktMatrix generates match expressions from an expectation of every field:
// those that must hold and those that must not. The lite matrix tests
// presence, equality and inequality only.
func ktMatrix(want map[string]json.RawMessage, lite bool) (hold, fail []string) {
	for i, name := range ktAllFields() {
		f := ktField(name)
		// Alternate the symbolic and word forms of the operators.
		eq, ne, lt, le, gt, ge := "==", "!=", "<", "<=", ">", ">="
		if i%2 == 1 {
			eq, ne, lt, le, gt, ge = "eq", "ne", "lt", "le", "gt", "ge"
		}
		ordered := f.Type == rules.TypeUint || f.Type == rules.TypeIPv4
		raw, ok := want[name]
		if !ok || string(raw) == "null" {
			zero, one := ktZero(f), ktOther(f, ktZero(f))
			hold = append(hold, "!"+name)
			if lite {
				fail = append(fail, name, name+" "+eq+" "+zero, name+" "+ne+" "+zero)
				if ordered {
					fail = append(fail, name+" "+ge+" "+zero)
				}
				continue
			}
			fail = append(fail, name,
				name+" "+eq+" "+zero, name+" "+ne+" "+zero, name+" "+ne+" "+one,
				name+" in {"+zero+"}", name+" in {"+zero+", "+one+"}")
			if ordered {
				fail = append(fail, name+" "+ge+" "+zero, name+" "+lt+" "+one, name+" "+le+" "+ktMax(f))
			}
			if f.Type == rules.TypeUint {
				fail = append(fail, name+" in {0.."+ktMax(f)+"}")
			}
			continue
		}
		lit := ktLiteral(f, raw)
		other := ktOther(f, lit)
		if lite {
			hold = append(hold, name, name+" "+eq+" "+lit, name+" "+ne+" "+other)
			fail = append(fail, "!"+name, name+" "+ne+" "+lit, name+" "+eq+" "+other)
			continue
		}
		hold = append(hold, name,
			name+" "+eq+" "+lit, name+" "+ne+" "+other,
			name+" in {"+lit+"}", name+" in {"+other+", "+lit+"}")
		fail = append(fail, "!"+name,
			name+" "+ne+" "+lit, name+" "+eq+" "+other, name+" in {"+other+"}")
		if !ordered {
			continue
		}
		hold = append(hold, name+" "+le+" "+lit, name+" "+ge+" "+lit, name+" in {"+lit+".."+lit+"}")
		fail = append(fail, name+" "+lt+" "+lit, name+" "+gt+" "+lit)
		if f.Type != rules.TypeUint {
			continue
		}
		v, _ := strconv.ParseUint(lit, 0, 64)
		if v > 0 {
			hold = append(hold, fmt.Sprintf("%s %s %d", name, gt, v-1), fmt.Sprintf("%s in {0..%d}", name, v))
			fail = append(fail, fmt.Sprintf("%s %s %d", name, le, v-1), fmt.Sprintf("%s in {0..%d}", name, v-1))
		}
		if v < f.MaxValue() {
			hold = append(hold, fmt.Sprintf("%s %s %d", name, lt, v+1), fmt.Sprintf("%s in {%d..%d}", name, v, f.MaxValue()))
			fail = append(fail, fmt.Sprintf("%s %s %d", name, ge, v+1), fmt.Sprintf("%s in {%d..%d}", name, v+1, f.MaxValue()))
		}
	}
	return hold, fail
}

// ktLiteral writes a JSON value as a DSL literal of field f.
func ktLiteral(f *rules.Field, raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(err)
	}
	switch v := v.(type) {
	case bool:
		if v {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatUint(uint64(v), 10)
	case string:
		return v // hex numbers, addresses and MACs are written as printed
	}
	panic(fmt.Sprintf("%s: no literal for %s", f.Name, raw))
}

// ktZero is the zero value of f's type: what an absent field leaves in its
// slot, so the value most likely to match by mistake.
func ktZero(f *rules.Field) string {
	switch f.Type {
	case rules.TypeIPv4:
		return "0.0.0.0"
	case rules.TypeIPv6:
		return "::"
	case rules.TypeMAC:
		return "00:00:00:00:00:00"
	}
	return "0"
}

// ktMax is the largest value of an integer field (the last address for IPv4).
func ktMax(f *rules.Field) string {
	if f.Type == rules.TypeIPv4 {
		return "255.255.255.255"
	}
	return strconv.FormatUint(f.MaxValue(), 10)
}

// ktOther returns a value of f's type that differs from lit.
func ktOther(f *rules.Field, lit string) string {
	switch f.Type {
	case rules.TypeBool:
		if lit == "1" {
			return "0"
		}
		return "1"
	case rules.TypeIPv4, rules.TypeIPv6:
		a := netip.MustParseAddr(lit)
		b := a.AsSlice()
		b[len(b)-1] ^= 1
		o, _ := netip.AddrFromSlice(b)
		return o.String()
	case rules.TypeMAC:
		last, _ := strconv.ParseUint(lit[len(lit)-2:], 16, 8)
		return fmt.Sprintf("%s%02x", lit[:len(lit)-2], last^1)
	}
	v, err := strconv.ParseUint(lit, 0, 64)
	if err != nil {
		panic(err)
	}
	if v+1 <= f.MaxValue() {
		return strconv.FormatUint(v+1, 10)
	}
	return strconv.FormatUint(v-1, 10)
}
