package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hdrlog/hdrlog/bench/internal/cbpf"
	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Implementation names, in table order.
const (
	implEmpty  = "empty"
	implHdrlog = "hdrlog"
	implClang  = "clang"
	implPcap   = "libpcap"
	implPcapD  = "libpcap-direct"
)

// cell is one (rule set, packet class) measurement: per implementation the
// per-trial ns/run, the events each run emitted and the events lost.
type cell struct {
	Set, Class string
	Trials     map[string][]measure.Sample
	EventsRun  map[string]float64 // events per run seen in the ring
	Lost       map[string]uint64
	Match      map[string]bool // the program matched (events, or a non-zero return for libpcap)
}

// runCell times impls on frame, interleaved: every trial runs each
// implementation once, forwards on even trials and backwards on odd ones.
// The ring of each logging implementation is drained after each call and
// its lost counters read.
func runCell(set, class string, impls []*impl, frame []byte, repeat, trials int) (*cell, error) {
	c := &cell{Set: set, Class: class, Trials: map[string][]measure.Sample{}, EventsRun: map[string]float64{},
		Lost: map[string]uint64{}, Match: map[string]bool{}}
	events := map[string]int{}
	for _, im := range impls {
		if _, _, err := im.drain(false); err != nil {
			return nil, err
		}
		if err := im.resetLost(); err != nil {
			return nil, err
		}
	}
	for t := 0; t < trials; t++ {
		order := append([]*impl(nil), impls...)
		if t%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, im := range order {
			s, err := measure.Run(im.prog, frame, repeat)
			if err != nil {
				return nil, fmt.Errorf("%s %s %s: %w", set, class, im.name, err)
			}
			c.Trials[im.name] = append(c.Trials[im.name], s)
			n, _, err := im.drain(false)
			if err != nil {
				return nil, err
			}
			events[im.name] += n
		}
	}
	for _, im := range impls {
		l, err := im.lostTotal()
		if err != nil {
			return nil, err
		}
		c.Lost[im.name] = l
		c.EventsRun[im.name] = float64(events[im.name]) / float64(repeat*trials)
	}
	return c, nil
}

// pool adds the trials of another load of the same rule set to r.
func (r *setResult) pool(o *setResult) {
	if o.Err != "" && r.Err == "" {
		r.Err = o.Err
	}
	r.Mismatch = append(r.Mismatch, o.Mismatch...)
	for i, c := range r.Cells {
		if i >= len(o.Cells) {
			break
		}
		oc := o.Cells[i]
		for name, tr := range oc.Trials {
			n0, n1 := float64(len(c.Trials[name])), float64(len(tr))
			c.EventsRun[name] = (c.EventsRun[name]*n0 + oc.EventsRun[name]*n1) / (n0 + n1)
			c.Trials[name] = append(c.Trials[name], tr...)
			c.Lost[name] += oc.Lost[name]
		}
	}
}

// setResult is everything measured for one rule set.
type setResult struct {
	Set      suite.RuleSet
	Cells    []*cell
	Static   map[string]staticCost
	Classic  int // classic BPF instructions from libpcap
	Checks   []string
	Mismatch []string
	Listing  string // hdrlog's listing (for the appendix)
	Err      string
}

// noWakeup is a wake-up threshold no test run reaches. With hdrlog's default
// (64 KiB) a test-run call fills the ring past it after ~1,000 events, and
// from then on every event asks for a wake-up (an irq_work and a self-IPI,
// ~15 µs each here): the per-packet table would measure that instead of the
// generated code. The event-cost section measures the default policy.
const noWakeup = 1 << 30

// recordBytes is the ring-buffer space one record of an event of size n takes.
func recordBytes(n int) int { return 8 + (n+7)&^7 }

func pow2(n int) int {
	p := 4096
	for p < n {
		p <<= 1
	}
	return p
}

// ringFor sizes a ring so that repeat runs, each emitting perRun bytes of
// records, never fill it.
func ringFor(perRun, repeat int) int {
	if perRun == 0 {
		return 64 << 10
	}
	return pow2(perRun*repeat + perRun*repeat/16)
}

// benchSet measures one rule set on every packet class.
func (b *bench) benchSet(rs suite.RuleSet) *setResult {
	res := &setResult{Set: rs, Static: map[string]staticCost{}}
	fail := func(err error) *setResult {
		res.Err = err.Error()
		b.logf("%s: %v", rs.Name, err)
		return res
	}
	// Wake-up threshold out of reach for both (see noWakeup).
	set, err := suite.Check(rs.Name, rs.Rules)
	if err != nil {
		return fail(err)
	}
	out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
	if err != nil {
		return fail(err)
	}
	res.Listing = out.Programs[0].Insns.String()
	if err := os.MkdirAll(b.listings, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(b.listings, rs.C+"_nowake.hdrlog.txt"), []byte(res.Listing), 0o644)
	}
	cobj := filepath.Join(b.cdir, rs.C+"_nowake.o")

	// Correctness first, on small rings: hdrlog and clang must emit the
	// same events (time aside), libpcap must match the same classes.
	hd, err := loadHdrlog(implHdrlog, out, rules.HookTCIngress, 1<<20)
	if err != nil {
		return fail(err)
	}
	cc, err := loadC(implClang, cobj, 1<<20)
	if err != nil {
		hd.Close()
		return fail(err)
	}
	pc, nclassic, err := loadPcap(implPcap, rs.Pcap, cbpf.LdAbs)
	if err != nil {
		hd.Close()
		cc.Close()
		return fail(err)
	}
	res.Classic = nclassic
	pd, _, err := loadPcap(implPcapD, rs.Pcap, cbpf.Direct)
	if err != nil {
		hd.Close()
		cc.Close()
		pc.Close()
		return fail(err)
	}
	defer pc.Close()
	defer pd.Close()
	perRun := 0
	for _, cl := range suite.Classes {
		hev, err := runOnce(hd, cl.Frame)
		if err != nil {
			return fail(err)
		}
		cev, err := runOnce(cc, cl.Frame)
		if err != nil {
			return fail(err)
		}
		sz := 0
		for _, e := range hev {
			sz += recordBytes(len(e))
		}
		perRun = max(perRun, sz)
		same := len(hev) == len(cev)
		for i := 0; same && i < len(hev); i++ {
			same = len(hev[i]) == len(cev[i]) && bytes.Equal(hev[i][8:], cev[i][8:])
		}
		var rulesHit []string
		for _, e := range hev {
			rulesHit = append(rulesHit, out.Schema.Rules[compiler.ByteOrder.Uint32(e[compiler.EvRule:])].Name)
		}
		pret, err := measure.Run(pc.prog, cl.Frame, 1)
		if err != nil {
			return fail(err)
		}
		dret, err := measure.Run(pd.prog, cl.Frame, 1)
		if err != nil {
			return fail(err)
		}
		line := fmt.Sprintf("%s: hdrlog %d event(s) [%s]; clang %d, %s; libpcap %s",
			cl.Name, len(hev), strings.Join(rulesHit, ", "), len(cev), map[bool]string{true: "byte-identical (time aside)", false: "DIFFERENT"}[same],
			map[bool]string{true: "match", false: "no match"}[pret.Ret != 0])
		if !same {
			res.Mismatch = append(res.Mismatch, fmt.Sprintf("%s %s: hdrlog %x / clang %x", rs.Name, cl.Name, hev, cev))
		}
		if (pret.Ret != 0) != (len(hev) > 0) || (dret.Ret != 0) != (pret.Ret != 0) {
			line += " (differs from hdrlog)"
		}
		res.Checks = append(res.Checks, line)
	}
	hd.Close()
	cc.Close()

	ring := ringFor(perRun, b.repeat)
	if hd, err = loadHdrlog(implHdrlog, out, rules.HookTCIngress, ring); err != nil {
		return fail(err)
	}
	defer hd.Close()
	// clang's program writes into hdrlog's ring: the events of both land
	// in the same memory (how it is backed, what of it is cached), which
	// otherwise differs between two 64 MiB rings from run to run.
	if cc, err = loadCWithRing(implClang, cobj, ring, hd.events); err != nil {
		return fail(err)
	}
	defer cc.Close()
	for _, im := range []*impl{hd, cc, pc, pd} {
		sc, err := im.static()
		if err != nil {
			return fail(err)
		}
		res.Static[im.name] = sc
	}
	impls := []*impl{b.emptyTC, cc, pc, pd, hd}
	for _, cl := range suite.Classes {
		b.logf("%s %s", rs.Name, cl.Name)
		c, err := runCell(rs.Name, cl.Name, impls, cl.Frame, b.repeat, b.trials)
		if err != nil {
			return fail(err)
		}
		res.Cells = append(res.Cells, c)
	}
	return res
}

// runOnce runs a logging program once over frame and returns its events.
func runOnce(im *impl, frame []byte) ([][]byte, error) {
	if _, _, err := im.drain(false); err != nil {
		return nil, err
	}
	if _, err := measure.Run(im.prog, frame, 1); err != nil {
		return nil, err
	}
	_, recs, err := im.drain(true)
	return recs, err
}
