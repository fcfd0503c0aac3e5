package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// String sets: the crossover that sets compiler.TextSetMapMin, a chain of
// string compares against one hash map lookup keyed by the value, and
// large sets of names (a set file of domains, an inline list of hosts).

// textMissName is the value of the miss packets: in no set.
const textMissName = "miss.example.net"

// compileWithTextMapMin compiles with compiler.TextSetMapMin set to min.
func compileWithTextMapMin(rs *rules.RuleSet, min int) (*compiler.Output, error) {
	saved := compiler.TextSetMapMin
	compiler.TextSetMapMin = min
	defer func() { compiler.TextSetMapMin = saved }()
	return compiler.Compile(rs, compiler.Options{WakeupBytes: noWakeup})
}

// httpGet is an HTTP GET request with Host: host in a TCP/IPv4 segment to
// port 80.
func httpGet(host string) []byte {
	req := "GET /index.html HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n"
	return testpkt.New().IPv4("10.1.2.3", "10.1.2.4").TCP(40000, 80).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(req)).Bytes()
}

// dnsGet is a DNS query for name in a UDP/IPv4 datagram to port 53.
func dnsGet(name string) []byte {
	return testpkt.New().IPv4("10.1.2.3", "10.1.2.4").UDP(5353, 53).Payload(dnsQuery(name)).Bytes()
}

// sameLenName is host name i, as long as textMissName and sharing its
// suffix (h000.example.net): every compare of a chain passes the length
// test and compares bytes, the chain's worst case on a miss.
func sameLenName(i int) string { return fmt.Sprintf("h%03d.example.net", i) }

// mixedLenName is host name i, 10 to 25 bytes long (the length cycles
// through the 16 lengths every 16 names): one compare in 16 passes the
// length test of a 16-byte miss.
func mixedLenName(i int) string {
	n := 10 + (i*7)%16
	id := fmt.Sprint(i)
	return "h" + id + "-" + strings.Repeat("x", n-len(id)-6) + ".net"
}

// textSetKinds are the string kinds of the crossover. The hit packets
// write element 0 in capitals: host names compare case-insensitively.
var textSetKinds = []setKind{
	{Name: "host names, all 16 bytes", Field: "http.host", Text: true,
		Elem: func(i int) string { return fmt.Sprintf("%q", sameLenName(i)) }, Miss: httpGet(textMissName),
		Hit: func(i int) []byte { return httpGet(strings.ToUpper(sameLenName(i))) }},
	{Name: "host names, 10–25 bytes", Field: "http.host", Text: true,
		Elem: func(i int) string { return fmt.Sprintf("%q", mixedLenName(i)) }, Miss: httpGet(textMissName),
		Hit: func(i int) []byte { return httpGet(strings.ToUpper(mixedLenName(i))) }},
	{Name: "DNS names, 10–25 bytes", Field: "dns.qry.name", Text: true,
		Elem: func(i int) string { return fmt.Sprintf("%q", mixedLenName(i)) }, Miss: dnsGet(textMissName),
		Hit: func(i int) []byte { return dnsGet(strings.ToUpper(mixedLenName(i))) }},
}

// textChainMax is the compile + load time of a chain of compares past
// which the crossover stops growing a kind's set.
const textChainMax = 20 * time.Second

func (b *bench) benchTextSetCrossover() []*crossRow {
	sizes := []int{1, 2, 4, 8, 16, 32, 64, 128, 256}
	if b.quick {
		sizes = []int{1, 16, 64}
	}
	var rows []*crossRow
	for _, k := range textSetKinds {
		stop := ""
		for _, n := range sizes {
			if stop != "" {
				rows = append(rows, &crossRow{Kind: k.Name, N: n, Err: stop})
				continue
			}
			b.logf("sets: crossover, %d %s", n, k.Name)
			row := b.crossOne(k, n)
			rows = append(rows, row)
			switch {
			case row.CodeLoad > textChainMax:
				stop = fmt.Sprintf("not run: the chain of %d took %s to compile and load", n, dur(row.CodeLoad))
			case row.Err != "" && row.CodeInsns == 0:
				stop = fmt.Sprintf("not run: the chain of %d did not load", n)
			}
		}
	}
	return rows
}

func (r *report) textSetsCrossover(p func(string, ...any)) {
	if r.TextCross == nil {
		return
	}
	p("### (c) Crossover for string sets: a chain of string compares against a map lookup")
	p("")
	p("One rule `FIELD in {n names}`, compiled both ways (`compiler.TextSetMapMin` forced), timed on a packet whose value is in no set: for `http.host` an HTTP GET to port 80 with `Host: %s`, for `dns.qry.name` a DNS query for %s (16 bytes). *All 16 bytes*: every name as long as the miss's value and sharing its suffix (h000.example.net), so each compare passes the length test and compares bytes (the chain's worst case); *10–25 bytes*: one name in 16 is as long as the miss's value. Both fields compare case-insensitively; before timing, both programs log a packet carrying the first name in capitals and nothing for the miss. ns per packet above the empty program, median [min–max] over %d trials, both programs in the same trials; *map ÷ code* is the ratio of the medians; *compile + load* is compiling the rule set and loading it (the verifier's time included). At n = 1 both programs are the same single compare (the checker makes one name a plain ==). A kind's sizes stop after a chain that took more than %s to compile and load or did not load. hdrlog compiles an inline string set into a map from %d names.",
		textMissName, textMissName, r.Bench.trials, textChainMax, compiler.TextSetMapMin)
	p("")
	p("| set | n | code insns | map insns | code compile + load | map compile + load | code (ns) | map (ns) | map ÷ code | error |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, row := range r.TextCross {
		code, mp, rat := codeAndMap(row.Cell)
		p("| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s |", row.Kind, row.N, row.CodeInsns, row.MapInsns, dur(row.CodeLoad), dur(row.MapLoad), code, mp, rat, mdCell(row.Err))
	}
	p("")
}

// largeTextName is name i of the large string sets.
func largeTextName(i int) string { return fmt.Sprintf("host%d.example%d.test", i, i%97) }

// textScaleCases are the large string sets: a hundred thousand domains in
// a set file, ten thousand host names inline.
func textScaleCases(quick bool) []setScaleCase {
	file, inline := 100_000, 10_000
	if quick {
		file, inline = 5_000, 1_000
	}
	return []setScaleCase{
		{
			What: fmt.Sprintf("%d domain names, a set file (`dns.qry.name in $domains`)", file), Elems: file,
			Src:     func() string { return domainSetFileRule(file) },
			One:     fmt.Sprintf("rule big {\n    match dns.qry.name in {%q}\n    log dns.qry.name\n}\n", largeTextName(0)),
			Packets: []setPacket{{"miss: DNS query for " + textMissName, dnsGet(textMissName)}},
		},
		{
			What: fmt.Sprintf("%d inline host names (`http.host in {…}`)", inline), Elems: inline,
			Src: func() string {
				elems := make([]string, inline)
				for i := range elems {
					elems[i] = fmt.Sprintf("%q", largeTextName(i))
				}
				return setRule("big", "http.host", elems)
			},
			One:     setRule("big", "http.host", []string{fmt.Sprintf("%q", largeTextName(0))}),
			Packets: []setPacket{{"miss: HTTP GET, Host: " + textMissName, httpGet(textMissName)}},
		},
	}
}

// domainSetFileRule writes n domain names to a set file, one a line, and
// returns a rule testing dns.qry.name against them as a named set.
func domainSetFileRule(n int) string {
	path := setFilePath("textset")
	var sb strings.Builder
	for i := range n {
		sb.WriteString(largeTextName(i))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		fatalf("set file: %v", err)
	}
	return fmt.Sprintf("set domains file %q\nrule big {\n    match dns.qry.name in $domains\n    log dns.qry.name\n}\n", path)
}

func (b *bench) benchTextSetScale() []*setScaleRow {
	var rows []*setScaleRow
	for _, c := range textScaleCases(b.quick) {
		b.logf("sets: %s", c.What)
		rows = append(rows, b.setScaleOne(c))
	}
	os.Remove(setFilePath("textset"))
	return rows
}

func (r *report) textSetsScale(p func(string, ...any)) {
	if r.TextScale == nil {
		return
	}
	p("### (d) Large string sets")
	p("")
	p("Names `host<i>.example<i mod 97>.test` (19–24 bytes). The miss packets carry %s, in no set.", textMissName)
	p("")
	r.setsScaleTable(p, r.TextScale)
}
