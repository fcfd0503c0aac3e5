package compiler_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
	"github.com/hdrlog/hdrlog/runtime"
)

// String sets as maps (l7_textset.go) against the same sets compiled as
// chains of compares, the reference evaluator and an independent oracle
// (ASCII case folding written here), over values chosen to break the key:
// every length around a word's end, one byte more or less, a last byte
// changed, capitals, the bytes next to 'A', 'Z', 'a' and 'z' ('@', '[', '`',
// '{') that a wrong fold would turn into letters, bytes with bit 7 set
// whose low seven bits are capitals, values longer than any element, and
// the bytes after the value in the payload window (the next header line).

// textSetNames are a set's elements: lengths 1 to 40 around every word
// boundary, the longest host name hdrlog keeps (64), and the fold's edges.
func textSetNames(prefix string) []string {
	var out []string
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 64} {
		s := prefix + strings.Repeat("abcdefghij", 7)
		out = append(out, s[:n])
	}
	return append(out, "mixed.Example.COM", "`{", "az", "ab", "x@y[z", "host-12.example.net", prefix+"\xe1b")
}

// asciiFold lowers ASCII capitals only.
func asciiFold(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// textSetValues are the values tried against names.
func textSetValues(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n, strings.ToUpper(n), n+"x", n+"\x00")
		if len(n) > 1 {
			out = append(out, n[:len(n)-1], n[:len(n)-1]+"~", "~"+n[1:])
		}
	}
	return append(out, "@[", "`{", "@{", "AZ", "Az", "\xc1b", "\xe1b", "\xc1\xda", "aB", "X@Y[Z", "x`y{z",
		strings.Repeat("a", 65), strings.Repeat("abcdefghij", 7), "HOST-12.EXAMPLE.NET", "host-12.example.ne")
}

func TestKernelTextSets(t *testing.T) {
	kerneltest.Require(t)
	hosts, uris, qnames := textSetNames(""), textSetNames("/"), textSetNames("q")
	set := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = strconv.Quote(n)
		}
		return "{" + strings.Join(q, ", ") + "}"
	}
	var src strings.Builder
	for _, h := range ktHooks {
		for _, r := range []struct{ name, match string }{
			{"host", "http.host in " + set(hosts)},
			{"nothost", "!(http.host in " + set(hosts) + ") && http.request"},
			{"uri", "http.request.uri in " + set(uris)},
			{"ua", "lower(http.user_agent) in " + set(hosts)},
			{"qname", "dns.qry.name in " + set(qnames)},
		} {
			fmt.Fprintf(&src, "rule %s_%s {\n\t%s\n\tmatch %s\n\tlog frame.len\n}\n", r.name, h.Suffix, h.Stmt, r.match)
		}
	}
	f, diags := lang.ParseDSL("textsets.rules", []byte(src.String()))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	load := func(mapMin int) *ktLoaded {
		saved := compiler.TextSetMapMin
		compiler.TextSetMapMin = mapMin
		defer func() { compiler.TextSetMapMin = saved }()
		out, err := compiler.Compile(rs, compiler.Options{})
		if err != nil {
			t.Fatal(err)
		}
		strs := 0
		for _, m := range out.Sets {
			if m.Type == rules.TypeString {
				strs++
			}
		}
		if want := map[bool]int{true: 4, false: 0}[mapMin == 1]; strs != want {
			// host and nothost share one map per hook's set; uri, ua, qname.
			t.Fatalf("TextSetMapMin %d: %d string set maps, want %d", mapMin, strs, want)
		}
		coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: 1 << 20})
		if err != nil {
			t.Fatalf("load (TextSetMapMin %d): %v", mapMin, err)
		}
		t.Cleanup(func() { coll.Close() })
		return &ktLoaded{coll: coll, hooks: ktHooks}
	}
	maps, chains := load(1), load(1<<30)
	ref, err := reference.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	in := func(names []string, v string, fold bool) bool {
		for _, n := range names {
			if n == v || fold && asciiFold(n) == asciiFold(v) {
				return true
			}
		}
		return false
	}
	// lower(F) in {…}: an element with capitals never equals a lowered
	// value (the checker warns).
	lowerIn := func(names []string, v string) bool {
		for _, n := range names {
			if n == asciiFold(n) && n == asciiFold(v) {
				return true
			}
		}
		return false
	}
	type trial struct {
		frame []byte
		want  map[string]bool
	}
	var trials []trial
	for _, v := range textSetValues(hosts) {
		req := testpkt.HTTPRequest("GET", "/", "HTTP/1.1", "Host: "+v, "User-Agent: "+v, "Accept: */*")
		trials = append(trials, trial{tcpFrame(40000, 80, req), map[string]bool{"host": in(hosts, v, true), "nothost": !in(hosts, v, true), "ua": lowerIn(hosts, v), "uri": in(uris, "/", false)}})
	}
	for _, v := range textSetValues(uris) {
		if strings.ContainsAny(v, " \x00") {
			continue // not a request target
		}
		req := testpkt.HTTPRequest("GET", v, "HTTP/1.1", "Host: h")
		trials = append(trials, trial{tcpFrame(40000, 80, req), map[string]bool{"uri": in(uris, v, false), "nothost": true}})
	}
	for _, v := range textSetValues(qnames) {
		if strings.ContainsAny(v, ".\x00") || len(v) > 63 {
			continue // one label, as written
		}
		msg := testpkt.DNSMessage(7, 0x0100, 1, 0, testpkt.DNSName(v), 1, 1)
		trials = append(trials, trial{udpFrame(40000, 53, msg), map[string]bool{"qname": in(qnames, v, true)}})
	}
	held := map[string]int{}
	for _, tr := range trials {
		for _, h := range ktHooks {
			got := map[string]map[string]bool{}
			for what, k := range map[string]*ktLoaded{"maps": maps, "chains": chains} {
				evs, err := k.run(h, tr.frame)
				if err != nil {
					t.Fatalf("%s: %s: %v", what, h.Hook, err)
				}
				got[what] = map[string]bool{}
				for name := range evs {
					got[what][name] = true
				}
			}
			refGot := map[string]bool{}
			for _, e := range ref.Eval(h.Hook, tr.frame) {
				if name := rs.Rules[e.Rule].Name; strings.HasSuffix(name, "_"+h.Suffix) {
					refGot[strings.TrimSuffix(name, "_"+h.Suffix)] = true
				}
			}
			for _, r := range []string{"host", "nothost", "uri", "ua", "qname"} {
				want := tr.want[r]
				if got["maps"][r] != want || got["chains"][r] != want || refGot[r] != want {
					t.Errorf("%s: rule %s: maps %v, chains %v, reference %v, want %v\nframe %s", h.Hook, r, got["maps"][r], got["chains"][r], refGot[r], want, ktHex(tr.frame))
				}
				if want {
					held[r]++
				}
			}
		}
	}
	for _, r := range []string{"host", "nothost", "uri", "ua", "qname"} {
		if held[r] == 0 {
			t.Errorf("rule %s held on no frame: the test is vacuous", r)
		}
	}
	t.Logf("%d frames, held %v", len(trials), held)
}
