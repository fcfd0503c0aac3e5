package rules

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated documentation")

// fieldsTable renders the catalogue as the README's field reference.
func fieldsTable() string {
	var b strings.Builder
	b.WriteString("\n| field | type | meaning |\n| --- | --- | --- |\n")
	for _, f := range catalogue {
		typ := f.Type.String()
		switch {
		case f.Type == TypeProto:
			typ = "protocol"
		case f.Type == TypeUint:
			typ = fmt.Sprintf("%d-bit integer", f.Bits)
			if f.Base == BaseHex {
				typ += ", hex"
			}
		}
		name := "`" + f.Name + "`"
		if f.Type == TypeProto {
			name = "**" + name + "**"
		}
		if f.MaxLayers() > 1 {
			typ += fmt.Sprintf(", up to %d layers", f.MaxLayers())
		}
		b.WriteString(fmt.Sprintf("| %s | %s | %s |\n", name, typ, strings.ReplaceAll(f.Doc, "|", "\\|")))
	}
	return b.String()
}

// TestREADMEFields keeps the README's field reference equal to the catalogue.
func TestREADMEFields(t *testing.T) {
	const path = "../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	begin := strings.Index(s, "<!-- fields:begin")
	end := strings.Index(s, "<!-- fields:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no fields:begin/fields:end markers")
	}
	begin += strings.Index(s[begin:], "-->") + len("-->")
	want := fieldsTable()
	if s[begin:end] == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:begin]+want+s[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's field reference is out of date with the catalogue: run go test ./rules -run TestREADMEFields -update")
}
