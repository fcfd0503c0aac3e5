package main

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/output"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// eventOptions are the flags run and test share: where rules come from
// besides files (-e, --log), how many events to write (-c), and how (--format).
type eventOptions struct {
	exprs  []string
	log    string
	count  uint64
	format string
	schema string
	// countKeys bounds the count map of counting rules (count by).
	countKeys int
	// txFlows bounds each transaction map (docs/transactions.md).
	txFlows int
}

func (o *eventOptions) define(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.exprs, "expr", "e", nil, "a rule matching this expression (Wireshark display-filter syntax), named e1, e2...; repeatable")
	fs.StringVar(&o.log, "log", "", "fields the -e rules log, comma-separated (default: the fields the expression names and a set for its protocols)")
	fs.Uint64VarP(&o.count, "count", "c", 0, "stop after writing this many events (0: no limit)")
	fs.StringVar(&o.format, "format", "json", "how events are written: json (one JSON object per line) or text (one aligned line, like tcpdump -n)")
	fs.StringVar(&o.schema, "schema", "wireshark", "field names of JSON lines and OTLP attributes: wireshark, or ecs (Elastic Common Schema)")
	fs.IntVar(&o.countKeys, "count-keys", compiler.DefaultAggEntries, "keys the count map of counting rules (count by) holds per interval; packets of further keys are counted as not counted")
	fs.IntVar(&o.txFlows, "tx-flows", rules.DefaultTxFlows, "flows each transaction map holds (http.time, dns.time, tls.handshake.time); past it the least recently used flow is evicted and its waiting requests counted as evicted")
}

// maxTxFlows bounds --tx-flows (an HTTP flow with the request's values
// takes about 1 KiB, allocated when the rules are loaded).
const maxTxFlows = 1 << 24

// compileOptions sets the compiler options the event flags decide.
func (o *eventOptions) compileOptions(c compiler.Options) (compiler.Options, error) {
	if o.countKeys < 1 || o.countKeys > 1<<24 {
		return c, usagef("--count-keys %d is out of range (1 to %d)", o.countKeys, 1<<24)
	}
	c.AggEntries = o.countKeys
	if o.txFlows < 1 || o.txFlows > maxTxFlows {
		return c, usagef("--tx-flows %d is out of range (1 to %d)", o.txFlows, maxTxFlows)
	}
	c.TxFlows = o.txFlows
	return c, nil
}

func (o *eventOptions) input(args []string) ruleInput {
	return ruleInput{args: args, exprs: o.exprs, log: o.log}
}

// lineFormats are the values of --format.
var lineFormats = map[string]func(s *compiler.Schema, ifaces []string) runtime.LineFormat{
	"json": func(s *compiler.Schema, _ []string) runtime.LineFormat { return runtime.JSONLines(s) },
	"text": func(s *compiler.Schema, ifaces []string) runtime.LineFormat { return output.NewText(s, ifaces) },
}

// checkFormat validates --format before anything is loaded.
func (o *eventOptions) checkFormat() error {
	if _, ok := lineFormats[o.format]; !ok {
		var names []string
		for n := range lineFormats {
			names = append(names, n)
		}
		sort.Strings(names)
		return usagef("--format %q is not one of %s", o.format, strings.Join(names, ", "))
	}
	if _, ok := output.Namings[o.schema]; !ok {
		return usagef("--schema %q is not one of ecs, wireshark", o.schema)
	}
	if o.schema != "wireshark" && o.format != "json" {
		return usagef("--schema %s names the members of JSON lines (and OTLP attributes): it takes --format json", o.schema)
	}
	return nil
}

func (o *eventOptions) lineFormat(s *compiler.Schema, ifaces []string) runtime.LineFormat {
	if o.schema != "wireshark" {
		return output.NewAttrsJSON(output.Namings[o.schema](s))
	}
	return lineFormats[o.format](s, ifaces)
}

// lineFormats makes the line format of each rule set a stream sees.
func (o *eventOptions) lineFormatOf(ifaces []string) func(*compiler.Schema) runtime.LineFormat {
	return func(s *compiler.Schema) runtime.LineFormat { return o.lineFormat(s, ifaces) }
}
