package main

import (
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// What counting, sampling and limits cost per packet, against S1's logging
// rule, on S1's matching packet, in the same trials: the count map's hit
// path (the key exists: lookup and two adds), a sampled rule that logs 1 in
// 100, and a limited rule over its limit (the bucket's atomics, no event).

type volumeResult struct {
	Cell   *cell
	Repeat int
	Err    string
}

// The volume variants of S1's rule, in table order.
var volumeVariants = []struct{ name, clause string }{
	{"log", "log ip.src, ip.dst, tcp.srcport, tcp.dstport"},
	{"count by", "count by ip.src, ip.dst, tcp.srcport, tcp.dstport every 10s"},
	{"count by + sum", "count by ip.src, ip.dst, tcp.srcport, tcp.dstport every 10s sum frame.len"},
	{"sample 1/100", "log ip.src, ip.dst, tcp.srcport, tcp.dstport\n    sample 1/100"},
	{"limit (over)", "log ip.src, ip.dst, tcp.srcport, tcp.dstport\n    limit 10/s burst 1"},
}

func (b *bench) benchVolume() *volumeResult {
	res := &volumeResult{Repeat: b.repeat}
	ring := ringFor(recordBytes(48), b.repeat)
	var impls []*impl
	defer func() {
		for _, im := range impls {
			im.Close()
		}
	}()
	for _, v := range volumeVariants {
		src := "rule ssh_syn {\n    match tcp.dstport == 22 && tcp.flags.syn == 1\n    " + v.clause + "\n}\n"
		f, diags := lang.ParseDSL("volume.rules", []byte(src))
		if diags.HasErrors() {
			res.Err = diags.Error()
			return res
		}
		set, diags := rules.Check(f)
		if diags.HasErrors() {
			res.Err = diags.Error()
			return res
		}
		out, err := compiler.Compile(set, compiler.Options{})
		if err != nil {
			res.Err = err.Error()
			return res
		}
		im, err := loadHdrlog(v.name, out, rules.HookTCIngress, ring)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		impls = append(impls, im)
	}
	b.logf("volume: %s", suite.Classes[0].Name)
	c, err := runCell("S1", suite.Classes[0].Name, append([]*impl{b.emptyTC}, impls...), suite.Classes[0].Frame, b.repeat, b.trials)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Cell = c
	return res
}

func (r *report) volume(p func(string, ...any)) {
	v := r.Volume
	if v == nil {
		return
	}
	p("### (a3) Counting, sampling and limits per packet")
	p("")
	p("S1's rule on its matching packet (syn4), as written (log) and with its log statement replaced by `count by` the same four fields (the key exists: the count map's hit path), with `sum frame.len`, with `sample 1/100` (1 event in 100) and with `limit 10/s burst 1` (past its burst every run is over the limit: the bucket's atomics, no event). Same trials, %d runs per call, above the empty program; the ratio divides by the log rule's median.", v.Repeat)
	p("")
	if v.Err != "" {
		p("**Error:** `%s`", v.Err)
		p("")
		return
	}
	log := v.Cell.net("log", implEmpty, true)
	p("| rule | ns per packet | ÷ log |")
	p("|---|---|---|")
	for _, vv := range volumeVariants {
		s := v.Cell.net(vv.name, implEmpty, true)
		p("| %s | %s | %.2f |", vv.name, ns(s), s.Median/log.Median)
	}
	p("")
}
