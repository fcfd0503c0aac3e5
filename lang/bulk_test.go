package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

// parseBothWays parses src with every list collapsed (bulkMin 1) and with
// none (the grammar's own elements), and fails when the two differ in
// anything: the syntax tree (every literal, every span) or a diagnostic.
func parseBothWays(t *testing.T, name string, src []byte) {
	t.Helper()
	saved := bulkMin
	defer func() { bulkMin = saved }()
	bulkMin = 1
	fast, fastDiags := ParseDSL(name, src)
	bulkMin = 1 << 30
	slow, slowDiags := ParseDSL(name, src)
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s: collapsed lists give another syntax tree:\n%s\nwithout: \n%s", name, dumpFile(fast), dumpFile(slow))
	}
	if fmt.Sprint(fastDiags) != fmt.Sprint(slowDiags) {
		t.Fatalf("%s: collapsed lists give other diagnostics:\n%v\nwithout:\n%v", name, fastDiags, slowDiags)
	}
}

// TestBulkListsSameAsGrammar: a long list collapsed into one token
// (bulk.go) gives exactly what the grammar gives for it, on every rule
// file of the tests and the examples and on lists of every shape, right
// and wrong.
func TestBulkListsSameAsGrammar(t *testing.T) {
	var paths []string
	for _, g := range []string{"testdata/*/*.rules", "../examples/*/*.rules", "../rules/testdata/*/*.rules"} {
		ps, _ := filepath.Glob(g)
		paths = append(paths, ps...)
	}
	if len(paths) < 50 {
		t.Fatalf("only %d rule files found", len(paths))
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		parseBothWays(t, p, src)
	}
	lists := []string{
		"{1, 2, 3}", "{1 2 3}", "{1..5, 7, 10..20}", "{10.0.0.1..10.0.0.9 10.1.0.0/16}",
		"{2001:db8::1, fe80::/10, ::1}", "{GET, POST, ip.dst}", "{00:11:22:33:44:55, 02:00:5e:10:00:01}",
		"{1, 2,}", "{, 1, 2}", "{1,, 2}", "{1..}", "{..2}", "{1 .. 2 .. 3}", `{1, "a", 2}`, "{1, 2",
		"{1, $x}", "{1, 2} }", "{1, 0x1G, 12abc}", "{}", "{1}", "{ip.src, in}", "{1, (2)}",
		`{"a.example", "b.example", "C.example"}`, `{"a" "b" ""}`, `{r"a\.b", "c", R"d"}`, `{"a\x41", "b"}`,
		`{"a\q", "b"}`, `{"a".."b", "c"}`, `{"a", 1, 10.0.0.1, r"x"}`, `{"a", "b}`, `{"a", "b\"}`,
	}
	for i, l := range lists {
		for j, tmpl := range []string{
			"rule r%d {\n    match tcp.dstport in %s\n    log ip.src\n}\n",
			"set s%d %s\nrule r {\n    match tcp.dstport in $s0 || ip.src in $s0\n    log ip.src\n}\n",
			"rule r%d {\n    match !(ip.src in %s) && (tcp.srcport in {1,2,3} || udp.port in {53 5353})\n}\n",
			"rule r%d %s\n",
		} {
			parseBothWays(t, fmt.Sprintf("list%d-%d.rules", i, j), []byte(fmt.Sprintf(tmpl, i, l)))
		}
	}
}

// TestBulkListsInExpressions: the same for match expressions as the HCL
// front end parses them, at an offset in its file.
func TestBulkListsInExpressions(t *testing.T) {
	saved := bulkMin
	defer func() { bulkMin = saved }()
	for _, src := range []string{
		"ip.src in {10.0.0.1, 10.0.0.2 10.0.0.3..10.0.0.9} && tcp.dstport in {22 80 443}",
		"ip.src in {10.0.0.1, 10.0.0.2,}",
		"tcp.dstport in {1..2, 3} || tcp.dstport in {4}",
	} {
		base := rules.Pos{File: "x.hcl", Offset: 40, Line: 3, Column: 12}
		bulkMin = 1
		fast, fd := ParseExpr("x.hcl", []byte(src), base)
		bulkMin = 1 << 30
		slow, sd := ParseExpr("x.hcl", []byte(src), base)
		if !reflect.DeepEqual(fast, slow) || fmt.Sprint(fd) != fmt.Sprint(sd) {
			t.Errorf("%q: collapsed lists give %v %v, the grammar %v %v", src, fast, fd, slow, sd)
		}
	}
}

// TestBulkListLarge: a list of 100,000 addresses is collapsed (one
// allocation of literals, not a node per element) and reads the same.
func TestBulkListLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("rule big {\n    match ip.src in {")
	for i := range 100_000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "10.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff)
	}
	b.WriteString("}\n    log ip.src\n}\n")
	src := []byte(b.String())
	s := newSource("big.rules", src, rules.Pos{})
	toks, _ := s.lex()
	if got := len(s.collapseLists(toks)); got > 20 {
		t.Fatalf("%d tokens after collapsing, want the list as one", got)
	}
	parseBothWays(t, "big.rules", src)
}
