package lang

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// TestExamplesSameInBothSyntaxes: every example written in both syntaxes
// (examples/rules/NAME.rules and examples/hcl/NAME.hcl) gives the same typed rule set,
// source positions aside, and byte-identical programs.
func TestExamplesSameInBothSyntaxes(t *testing.T) {
	hcls, err := filepath.Glob("../examples/hcl/*.hcl")
	if err != nil || len(hcls) < 8 {
		t.Fatalf("want at least 8 examples in HCL, found %d (%v)", len(hcls), err)
	}
	for _, hclPath := range hcls {
		dslPath := filepath.Join("..", "examples", "rules", strings.TrimSuffix(filepath.Base(hclPath), ".hcl")+".rules")
		t.Run(filepath.Base(dslPath), func(t *testing.T) {
			dsl := checkExample(t, dslPath, ParseDSL)
			hcl := checkExample(t, hclPath, ParseHCL)
			if len(dsl.Rules) == 0 || len(dsl.Rules) != len(hcl.Rules) {
				t.Fatalf("%d rules in the DSL, %d in HCL", len(dsl.Rules), len(hcl.Rules))
			}
			for i := range dsl.Rules {
				if !equalModuloPositions(reflect.ValueOf(dsl.Rules[i]), reflect.ValueOf(hcl.Rules[i])) {
					t.Errorf("rule %s differs:\nDSL: %s %s\nHCL: %s %s", dsl.Rules[i].Name,
						dsl.Rules[i].Hook, rules.PredString(dsl.Rules[i].Match), hcl.Rules[i].Hook, rules.PredString(hcl.Rules[i].Match))
				}
			}
			dp, hp := compileExample(t, dsl), compileExample(t, hcl)
			if len(dp) != len(hp) {
				t.Fatalf("%d programs from the DSL, %d from HCL", len(dp), len(hp))
			}
			for name, code := range dp {
				if !bytes.Equal(code, hp[name]) {
					t.Errorf("program %s: %d bytes from the DSL, %d from HCL, and they differ", name, len(code), len(hp[name]))
				}
			}
		})
	}
}

func checkExample(t *testing.T, path string, parse func(string, []byte) (*rules.File, rules.Diagnostics)) *rules.RuleSet {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := parse(path, src)
	_, sdiags := ReadSetFiles(f, filepath.Dir(path))
	diags = append(diags, sdiags...)
	rs, cdiags := rules.Check(f)
	if diags = append(diags, cdiags...); len(diags) > 0 {
		var b strings.Builder
		Sources{path: src}.RenderAll(&b, diags)
		t.Fatalf("an example must have no diagnostic:\n%s", b.String())
	}
	return rs
}

// compileExample compiles a rule set and returns each program's
// instructions as the kernel receives them (jumps and calls resolved).
func compileExample(t *testing.T, rs *rules.RuleSet) map[string][]byte {
	t.Helper()
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	progs := map[string][]byte{}
	for _, p := range out.Programs {
		var b bytes.Buffer
		insns := append(p.Insns[:0:0], p.Insns...) // Marshal resolves references in place
		if err := insns.Marshal(&b, binary.LittleEndian); err != nil {
			t.Fatalf("%s: %v", p.Flavour.Name, err)
		}
		progs[p.Flavour.Name] = b.Bytes()
	}
	return progs
}

var (
	spanType = reflect.TypeOf(rules.Span{})
	posType  = reflect.TypeOf(rules.Pos{})
)

// equalModuloPositions is reflect.DeepEqual, except that source positions
// (rules.Span, rules.Pos) are not compared.
func equalModuloPositions(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == spanType || a.Type() == posType {
		return true
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Pointer && a.Pointer() == b.Pointer() {
			return true
		}
		return equalModuloPositions(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !equalModuloPositions(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalModuloPositions(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !equalModuloPositions(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	panic("equalModuloPositions: unhandled kind " + a.Kind().String())
}

// TestEqualModuloPositions: the comparison sees a difference of meaning and
// ignores one of position.
func TestEqualModuloPositions(t *testing.T) {
	parse := func(src string) *rules.RuleSet {
		f, diags := ParseDSL("a.rules", []byte(src))
		rs, cdiags := rules.Check(f)
		if len(diags)+len(cdiags) > 0 {
			t.Fatal(diags, cdiags)
		}
		return rs
	}
	a := parse("rule a { match ip.src == 10.0.0.0/8 log ip.src }")
	moved := parse("\n\nrule a {\n match   ip.src == 10.0.0.0/8\n log ip.src }")
	other := parse("rule a { match ip.src == 10.0.0.0/9 log ip.src }")
	if !equalModuloPositions(reflect.ValueOf(a), reflect.ValueOf(moved)) {
		t.Error("a moved rule compares different")
	}
	if equalModuloPositions(reflect.ValueOf(a), reflect.ValueOf(other)) {
		t.Error("another prefix compares equal")
	}
}

// TestCompileDeterministic: the same rules compile to the same bytes every
// time (no map iteration order reaches the program), so that a program's
// size and verifier figures, `hdrlog compile` listings and the comparison
// of both syntaxes above are stable. Each example is compiled many times.
func TestCompileDeterministic(t *testing.T) {
	paths, err := filepath.Glob("../examples/rules/*.rules")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples (%v)", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rs := checkExample(t, path, ParseDSL)
			first := compileExample(t, rs)
			for i := 0; i < 25; i++ {
				again := compileExample(t, rs)
				for name, code := range first {
					if !bytes.Equal(code, again[name]) {
						t.Fatalf("compile %d: program %s differs from the first compile", i+2, name)
					}
				}
			}
		})
	}
}
