package main

import (
	"fmt"
	"strings"

	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// Inline rules: `-e EXPR` is a rule whose match is EXPR, named e1, e2, ...
// in order, at the default hook (tc ingress), logging the fields of --log,
// or when --log is absent the fields the expression names and a default set
// for the protocols it names (defaultLog). Each becomes a small rule file in
// the DSL, parsed and checked with the others, so errors point into the
// expression with the usual caret.

// inlineRule is one -e expression.
type inlineRule struct {
	name string // e1, e2, ...
	expr string
}

// inlineName is how diagnostics name the source of the i-th -e (1-based).
func inlineName(i int) string { return fmt.Sprintf("-e#%d", i) }

// inlineSource writes the rule file of an inline rule.
func inlineSource(r inlineRule, log []string) []byte {
	return fmt.Appendf(nil, "rule %s {\n    match %s\n    log %s\n}\n", r.name, r.expr, strings.Join(log, ", "))
}

// parseLogList splits --log's comma-separated field names.
func parseLogList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// protocolDefaults are the fields an inline rule logs, without --log, for
// each protocol its expression names (the headers of the fields it tests),
// in the order of the headers below: addresses, then ports, then what says
// most about the packet, as tcpdump -n prints them.
var protocolDefaults = []struct {
	header rules.Header
	fields []string
}{
	{rules.HdrEth, []string{"eth.src", "eth.dst", "eth.type"}},
	{rules.HdrVLAN, []string{"vlan.id"}},
	{rules.HdrIPv4, []string{"ip.src", "ip.dst"}},
	{rules.HdrIPv6, []string{"ipv6.src", "ipv6.dst"}},
	{rules.HdrTCP, []string{"tcp.srcport", "tcp.dstport", "tcp.flags"}},
	{rules.HdrUDP, []string{"udp.srcport", "udp.dstport", "udp.length"}},
	{rules.HdrICMP, []string{"icmp.type", "icmp.code"}},
	{rules.HdrICMPv6, []string{"icmpv6.type", "icmpv6.code"}},
	{rules.HdrHTTP, []string{"http.request.method", "http.host", "http.request.uri"}},
	{rules.HdrDNS, []string{"dns.id", "dns.qry.name", "dns.qry.type"}},
	{rules.HdrTLS, []string{"tls.handshake.extensions_server_name"}},
	{rules.HdrFrame, []string{"frame.len"}},
}

// impliedHeaders: naming a transport or application protocol implies the
// network layer below it, whose addresses are logged too (both families,
// since the expression did not choose; the other is null); naming nothing
// at all logs the Ethernet header.
var impliedHeaders = map[rules.Header][]rules.Header{
	rules.HdrTCP:    {rules.HdrIPv4, rules.HdrIPv6},
	rules.HdrUDP:    {rules.HdrIPv4, rules.HdrIPv6},
	rules.HdrICMP:   {rules.HdrIPv4},
	rules.HdrICMPv6: {rules.HdrIPv6},
	rules.HdrHTTP:   {rules.HdrIPv4, rules.HdrIPv6, rules.HdrTCP},
	rules.HdrDNS:    {rules.HdrIPv4, rules.HdrIPv6},
	rules.HdrTLS:    {rules.HdrIPv4, rules.HdrIPv6, rules.HdrTCP},
}

// defaultLog picks the fields an inline rule logs without --log: the
// protocol defaults of every header the match names (and the headers those
// imply), then the fields the match tests that are not among them, then
// frame.len.
func defaultLog(match rules.Pred) []string {
	var named []*rules.Field
	headers := map[rules.Header]bool{}
	walkFields(match, func(f *rules.Field) {
		headers[f.Header] = true
		if f.Type != rules.TypeProto && len(f.Either) == 0 {
			named = append(named, f)
		}
	})
	// An expression that names one address family gets only that one.
	familyNamed := headers[rules.HdrIPv4] || headers[rules.HdrIPv6]
	var implied []rules.Header
	for h := range headers {
		for _, imp := range impliedHeaders[h] {
			if !familyNamed || imp != rules.HdrIPv4 && imp != rules.HdrIPv6 {
				implied = append(implied, imp)
			}
		}
	}
	for _, h := range implied {
		headers[h] = true
	}
	if len(headers) == 0 || len(headers) == 1 && headers[rules.HdrFrame] {
		headers[rules.HdrEth] = true
	}
	headers[rules.HdrFrame] = true
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, d := range protocolDefaults {
		if !headers[d.header] {
			continue
		}
		if d.header == rules.HdrFrame {
			for _, f := range named { // tested fields before frame.len
				add(f.Name)
			}
		}
		for _, f := range d.fields {
			add(f)
		}
	}
	return out
}

// walkFields calls fn for the field of every term of a predicate.
func walkFields(p rules.Pred, fn func(*rules.Field)) {
	switch p := p.(type) {
	case *rules.PredAnd:
		for _, t := range p.Terms {
			walkFields(t, fn)
		}
	case *rules.PredOr:
		for _, t := range p.Terms {
			walkFields(t, fn)
		}
	case *rules.PredNot:
		walkFields(p.X, fn)
	case *rules.PredExists:
		fn(p.Ref.Field)
	case *rules.PredCompare:
		fn(p.Ref.Field)
	case *rules.PredInSet:
		fn(p.Ref.Field)
	case *rules.PredBitTest:
		fn(p.Ref.Field)
	case *rules.PredText:
		fn(p.Ref.Field)
	case *rules.PredTextSet:
		fn(p.Ref.Field)
	}
}

// inlineFiles parses the -e expressions into rule files. Without --log, an
// expression is first checked alone (logging frame.len) to learn which
// fields it names; its errors are reported then, against its own source.
func inlineFiles(exprs []string, log string, rs *ruleSources) []*rules.File {
	fields := parseLogList(log)
	var files []*rules.File
	for i, e := range exprs {
		r := inlineRule{name: fmt.Sprintf("e%d", i+1), expr: e}
		name := inlineName(i + 1)
		logged := fields
		if len(logged) == 0 {
			src := inlineSource(r, []string{"frame.len"})
			f, ds := lang.ParseDSL(name, src)
			if f != nil && !ds.HasErrors() {
				set, cds := rules.Check(f)
				ds = append(ds, cds...)
				if set != nil && !ds.HasErrors() {
					logged = defaultLog(set.Rules[0].Match)
				}
			}
			if len(logged) == 0 { // the expression has errors: report them
				rs.Sources[name] = src
				rs.Diags = append(rs.Diags, ds...)
				continue
			}
		}
		src := inlineSource(r, logged)
		rs.Sources[name] = src
		f, ds := lang.ParseDSL(name, src)
		rs.Diags = append(rs.Diags, ds...)
		if f != nil {
			files = append(files, f)
		}
	}
	return files
}
