package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// Tests of `hdrlog check` as CI runs it: every file, every error, the
// output formats, the exit status, and the kernel verifier's verdicts.

func TestCheckHCLAndMixedDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.rules", "rule a { match udp log udp.dstport }\n")
	writeFile(t, dir, "b.hcl", "rule \"b\" {\n  hook = \"xdp\"\n  match = \"tcp.dstport == 22\"\n  log = [\"ip.src\"]\n}\n")
	writeFile(t, dir, "notes.txt", "not a rule file\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", ".")
	if code != 0 || !strings.Contains(stdout, "ok: 2 rules in 2 files") {
		t.Fatalf("check .: exit %d\n%s%s", code, stdout, stderr)
	}
	// Rule names are unique across the files of a run, whatever their syntax.
	writeFile(t, dir, "c.hcl", "rule \"a\" {\n  log = [\"frame.len\"]\n}\n")
	code, _, stderr = hdrlog(t, dir, "check", "--no-kernel", ".")
	if code != 1 || !strings.Contains(stderr, `c.hcl:1:7: error: rule "a" is already defined at a.rules:1:6`) {
		t.Errorf("duplicate across syntaxes: exit %d\n%s", code, stderr)
	}
}

// TestCheckReportsEveryError: syntax errors in one file do not hide those
// of another file, nor the type errors of the rules that parsed.
func TestCheckReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.rules", "rule a { match tcp.dstport == == 22 log ip.src }\nrule a2 { match udp.dstport == 70000 log ip.src }\n")
	writeFile(t, dir, "b.hcl", "rule \"b\" {\n  lg = [\"ip.src\"]\n  log = [\"ip.src\"]\n}\nrule \"b2\" {\n  log = \"ip.src\"\n}\nrule \"b3\" {\n  log = [\"ip.sorc\"]\n}\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", "a.rules", "b.hcl")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`a.rules:1:31: error: expected a value after "==", found "=="`,
		"a.rules:2:32: error: value 70000 is out of range for udp.dstport",
		"b.hcl:2:3: error: unsupported argument",
		"b.hcl:6:9: error: log must be a list of field names, not a string",
		"b.hcl:9:11: error: unknown field ip.sorc",
		"hdrlog check: 5 errors in rule files",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in\n%s", want, stderr)
		}
	}
}

func TestCheckFormatJSON(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.hcl", "rule \"a\" {\n  match = \"tcp && udp\"\n  log = [\"ip.src\"]\n}\nrule \"b\" {\n  log = [\"ip.src\", \"ip.src\"]\n}\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", "--format", "json", "a.hcl")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines on stdout, got:\n%s", stdout)
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, m)
	}
	want := []map[string]any{
		{"file": "a.hcl", "line": 2.0, "column": 12.0, "end_line": 2.0, "end_column": 22.0, "severity": "warning", "rule": "a",
			"message": "this match never holds: tcp needs a TCP header and udp a UDP header, but a packet has at most one of TCP, UDP, ICMP, ICMPv6, SCTP and GRE",
			"hint":    "the rule can never log anything; check for a mistyped protocol, field or value"},
		{"file": "a.hcl", "line": 6.0, "column": 21.0, "end_line": 6.0, "end_column": 27.0, "severity": "error", "rule": "b",
			"message": "ip.src is logged twice (first at a.hcl:6:11)", "hint": "remove one of them"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if !strings.Contains(stderr, "hdrlog check: 1 error in rule files") {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestCheckFormatGitHub(t *testing.T) {
	dir := t.TempDir()
	// A file name with the characters a property must escape.
	writeFile(t, dir, "a:b,c.rules", "rule a { match tcp.dstport == 22 && tcp.dstport == 80 log ip.src }\nrule b { match udp log ip.src }\nrule c { match udp log ip.src }\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", "--format", "github", "a:b,c.rules")
	if code != 0 {
		t.Fatalf("warnings alone: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	want := []string{
		"::warning file=a%3Ab%2Cc.rules,line=1,col=16,endLine=1,endColumn=54,title=hdrlog::this match never holds: tcp.dstport == 22 and tcp.dstport == 80 cannot both hold%0Ahint: the rule can never log anything; check for a mistyped protocol, field or value",
		`::warning file=a%3Ab%2Cc.rules,line=3,col=6,endLine=3,endColumn=7,title=hdrlog::rule "c" is identical to rule "b" (a:b,c.rules:2:1): same hook, match and logged fields, so every packet it matches is logged twice%0Ahint: remove one of them, or make them differ`,
	}
	for _, w := range want {
		if !strings.Contains(stdout, w+"\n") {
			t.Errorf("missing\n%s\nin\n%s", w, stdout)
		}
	}
	if !strings.Contains(stdout, "ok: 3 rules in 1 file, 1 program compiled (not loaded: --no-kernel), 2 warnings") {
		t.Errorf("verdict missing:\n%s", stdout)
	}
	code, _, stderr = hdrlog(t, dir, "check", "--no-kernel", "--strict", "--format", "github", "a:b,c.rules")
	if code != 1 || !strings.Contains(stderr, "hdrlog check: 2 warnings (--strict)") {
		t.Errorf("--strict: exit %d, stderr %q", code, stderr)
	}
}

func TestGitHubEscaping(t *testing.T) {
	if got, want := githubData("100% a\r\nb: c, d"), "100%25 a%0D%0Ab: c, d"; got != want {
		t.Errorf("githubData: %q, want %q", got, want)
	}
	if got, want := githubProperty("100% a\r\nb: c, d"), "100%25 a%0D%0Ab%3A c%2C d"; got != want {
		t.Errorf("githubProperty: %q, want %q", got, want)
	}
}

func TestCheckWarningsAndStrict(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "w.rules", "rule w { match udp log ip.src, tcp.srcport }\n")
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", "w.rules")
	if code != 0 || !strings.Contains(stderr, "w.rules:1:32: warning: tcp.srcport is absent from every packet this match accepts") ||
		!strings.Contains(stdout, "1 warning") {
		t.Errorf("warning: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = hdrlog(t, dir, "check", "--no-kernel", "--strict", "w.rules")
	if code != 1 || !strings.HasSuffix(stderr, "hdrlog check: 1 warning (--strict)\n") {
		t.Errorf("--strict: exit %d\n%s", code, stderr)
	}
	code, _, stderr = hdrlog(t, dir, "check", "--format", "xml", "w.rules")
	if code != 2 || !strings.Contains(stderr, `--format "xml" is not one of text, json, github`) {
		t.Errorf("--format xml: exit %d\n%s", code, stderr)
	}
}

// TestCheckTooLarge: a rule set whose program is longer than the kernel
// loads is reported as such, with or without the kernel, naming the rules
// that weigh most. The rules have four shapes and different log lists, so
// that the compiler cannot group them.
func TestCheckTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles 20,000 rules")
	}
	dir := t.TempDir()
	writeFile(t, dir, "big.rules", generatedRules(20000))
	code, stdout, stderr := hdrlog(t, dir, "check", "--no-kernel", "big.rules")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	re := regexp.MustCompile(`error: the tc ingress program of 20000 rules exceeds a kernel limit: (\d+) instructions, more than the kernel loads \(1,000,000\)`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no limit error in\n%s", stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n <= 1_000_000 {
		t.Errorf("%d instructions", n)
	}
	hint := regexp.MustCompile(`hint: the rules that weigh most, each compiled alone: ((r\d+ \(\d+ instructions\)(, )?){5});`)
	if !hint.MatchString(stderr) {
		t.Errorf("the five heaviest rules are not named:\n%s", stderr)
	}
	if !strings.Contains(stdout, "too large") {
		t.Errorf("table:\n%s", stdout)
	}
}

// generatedRules writes n distinct rules of four shapes, with OR-ed
// predicates and log lists that differ from rule to rule.
func generatedRules(n int) string {
	logs := []string{"ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "ip.ttl", "ip.id", "tcp.flags", "ip.len", "eth.src", "frame.len"}
	var b strings.Builder
	for i := 0; i < n; i++ {
		port := 1 + i%60000
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		var match string
		switch i % 4 {
		case 0:
			match = fmt.Sprintf("tcp.dstport == %d || udp.dstport == %d", port, port)
		case 1:
			match = fmt.Sprintf("ip.src == %s && (tcp.flags.syn == 1 || tcp.srcport == %d)", addr, port)
		case 2:
			match = fmt.Sprintf("ip.dst == %s || ip.src == %s", addr, addr)
		default:
			match = fmt.Sprintf("tcp.port == %d && ip.ttl < %d", port, 1+i%255)
		}
		var log []string
		for j, f := range logs {
			if j == 0 || i>>j&1 == 1 {
				log = append(log, f)
			}
		}
		fmt.Fprintf(&b, "rule r%d { match %s log %s }\n", i, match, strings.Join(log, ", "))
	}
	return b.String()
}

// TestCheckVerifierLimit: a rule set the verifier gives up on (here 3,000
// rules with OR-ed predicates: far fewer than a million instructions, but
// more than 8,192 branches pending; 2,000 pass since the parser leaves
// early on frames with neither TCP nor UDP) is reported as over a kernel limit,
// with the heaviest rules each compiled and verified alone.
func TestCheckVerifierLimit(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "rule t%d { match udp.dstport == %d || tcp.dstport == %d log ip.src }\n", i, i+1, i+1)
	}
	writeFile(t, dir, "many.rules", b.String())
	code, stdout, stderr := hdrlog(t, dir, "check", "many.rules")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "error: the tc ingress program of 3000 rules exceeds a kernel limit: ") {
		t.Fatalf("no limit error in\n%s", stderr)
	}
	hint := regexp.MustCompile(`hint: the rules that weigh most, each compiled and verified alone: ((t\d+ \(\d+ instructions, \d+ processed\)(, )?){5});`)
	if !hint.MatchString(stderr) {
		t.Errorf("the five heaviest rules are not named:\n%s", stderr)
	}
	if !strings.Contains(stdout, "over a limit") {
		t.Errorf("table:\n%s", stdout)
	}
}

var programLine = regexp.MustCompile(`(?m)^(tc ingress|tc egress|xdp|syscall \w+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*)$`)

// TestCheckExamples: every example, in both syntaxes, passes the checker
// without a warning and the kernel verifier; make check-examples does the
// same with the built binary.
func TestCheckExamples(t *testing.T) {
	kerneltest.Require(t)
	files, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "rules", "*.rules"))
	hcls, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "hcl", "*.hcl"))
	// The million-entry blocklist, in both syntaxes.
	big, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "sets", "*.rules"))
	bigHCL, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "sets", "*.hcl"))
	big = append(big, bigHCL...)
	files = append(append(files, hcls...), big...)
	if len(files) < 19 || len(big) != 2 {
		t.Fatalf("only %d example files", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		code, stdout, stderr := hdrlog(t, repoRoot, "check", "--strict", rel)
		if code != 0 || stderr != "" {
			t.Errorf("%s: exit %d\n%s%s", rel, code, stdout, stderr)
			continue
		}
		progs := programLine.FindAllStringSubmatch(stdout, -1)
		if len(progs) == 0 {
			t.Errorf("%s: no verified program in\n%s", rel, stdout)
		}
		for _, p := range progs {
			t.Logf("%s: %s %s instructions, %s processed (%s)", rel, p[1], p[3], p[4], p[5])
		}
	}
}

// TestCheckExampleDirectories: each directory of examples/ is a rule set
// that runs as a whole (the library in one syntax, or the demo), so that
// `hdrlog run -i IFACE examples/rules` works; no rule is defined twice.
func TestCheckExampleDirectories(t *testing.T) {
	kerneltest.Require(t)
	for dir, ext := range map[string]string{"examples": ".rules", "examples/rules": ".rules", "examples/hcl": ".hcl"} {
		all, _ := filepath.Glob(filepath.Join(repoRoot, dir, "*"+ext))
		files := fmt.Sprintf("%d files", len(all))
		if len(all) == 1 {
			files = "1 file"
		}
		code, stdout, stderr := hdrlog(t, repoRoot, "check", "--strict", dir)
		if code != 0 || stderr != "" || !strings.Contains(stdout, " rules in "+files+", ") || !strings.Contains(stdout, "verified by the kernel") {
			t.Errorf("check %s: exit %d\n%s%s", dir, code, stdout, stderr)
		}
	}
}

// TestCheckVerifierRegressions: rule files of testdata/verifier hold rules
// of every shape; the kernel verifier must accept each of them.
func TestCheckVerifierRegressions(t *testing.T) {
	kerneltest.Require(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "verifier", "*.rules"))
	if len(files) == 0 {
		t.Fatal("no files in testdata/verifier")
	}
	wd, _ := os.Getwd()
	for _, f := range files {
		code, stdout, stderr := hdrlog(t, wd, "check", f)
		if code != 0 || !strings.Contains(stdout, "verified by the kernel") {
			t.Errorf("%s: exit %d\n%s%s", f, code, stdout, stderr)
		}
	}
}

// TestRejectionNamesRule: a verifier rejection, as runtime.Load words it,
// becomes a diagnostic on the rule it names, with the log tail as its hint.
func TestRejectionNamesRule(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.rules", "rule a { match udp log ip.src }\nrule b { match tcp log ip.src }\n")
	rs, err := loadRules([]string{filepath.Join(dir, "a.rules")})
	if err != nil || rs.RuleSet == nil {
		t.Fatal(err, rs.Diags)
	}
	d := rejection(rs.RuleSet, fmt.Errorf("the kernel verifier rejected the tc ingress program, in the code of rule %q (instruction 12): permission denied\nverifier log (last 2 lines):\n  12: (61) r1 = *(u32 *)(r2 +0)\n  R2 invalid mem access 'scalar'", "b"))
	if d.Rule != "b" || d.Span.Start.Line != 2 || d.Severity.String() != "error" ||
		!strings.HasPrefix(d.Message, "the kernel verifier rejected") || !strings.Contains(d.Hint, "R2 invalid mem access") {
		t.Errorf("%+v", d)
	}
}

func TestKernelLimitKinds(t *testing.T) {
	for msg, want := range map[string]string{
		"BPF program is too large. Processed 1000001 insn":                                   "processed more than 1,000,000",
		"load program: argument list too long":                                               "longer than the kernel loads",
		"combined stack size of 3 calls is 544. Too large":                                   "stack",
		"The sequence of 8193 jumps is too complex.":                                         "too complex",
		"load program: bad address (hit verifier bug, increase LogSizeStart to fit the log)": "8,192 branches",
		"R2 invalid mem access 'scalar'":                                                     "",
	} {
		got := kernelLimit(msg)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("kernelLimit(%q) = %q, want it to say %q", msg, got, want)
		}
	}
}
