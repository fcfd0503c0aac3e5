package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// The per-event cost against an independent C twin: S1's rule written in C
// without hdrlog's event layout or wake-up policy (bench/c/twin_ssh_syn.c:
// a time stamp and the four fields, wake-ups batched by a counter), against
// hdrlog's S1 with its default wake-up policy, on the packets of S1 that
// both see as a hit and, through each one's miss twin (port 23), the cost
// of the event alone. Same trials, interleaved.

const implTwin = "clang-twin"

type twinResult struct {
	Cells   []*cell
	PerLoad []twinLoadMedians
	Repeat  int
	Loads   int
	Err     string
}

// twinLoadMedians are one load's medians of the hit path, above the floor.
type twinLoadMedians struct {
	Class        string
	Hdrlog, Twin float64
}

func (b *bench) benchTwin() *twinResult {
	res := &twinResult{Repeat: b.repeat, Loads: b.loads}
	ring := ringFor(2*recordBytes(72), b.repeat)
	// Placements move hdrlog's figure from one load to the next (new JIT
	// images, new rings): every load is measured, the trials pooled, and
	// each load's medians kept.
	for load := 0; load < b.loads; load++ {
		cells, err := b.twinLoad(suite.Suite[0], ring)
		if err != nil {
			res.Err = err.Error()
			b.logf("twin: %v", err)
			return res
		}
		for i, c := range cells {
			res.PerLoad = append(res.PerLoad, twinLoadMedians{Class: c.Class,
				Hdrlog: c.net(implHdrlog, implEmpty, true).Median, Twin: c.net(implTwin, implEmpty, true).Median})
			if load == 0 {
				res.Cells = append(res.Cells, c)
				continue
			}
			for name, tr := range c.Trials {
				res.Cells[i].Trials[name] = append(res.Cells[i].Trials[name], tr...)
			}
		}
	}
	if len(res.Cells) == 0 {
		res.Err = "no packet class is a hit for both hdrlog and the twin"
	}
	return res
}

// twinLoad loads hdrlog's S1, the twin and their miss twins afresh and
// measures the classes both see as a hit.
func (b *bench) twinLoad(rs suite.RuleSet, ring int) ([]*cell, error) {
	var impls []*impl
	defer func() {
		for _, im := range impls {
			im.Close()
		}
	}()
	for _, v := range []struct{ name, src string }{{implHdrlog, rs.Rules}, {implHdrlog + varMiss, rs.Miss}} {
		set, err := suite.Check(rs.Name, v.src)
		if err != nil {
			return nil, err
		}
		out, err := compiler.Compile(set, compiler.Options{})
		if err != nil {
			return nil, err
		}
		im, err := loadHdrlog(v.name, out, rules.HookTCIngress, ring)
		if err != nil {
			return nil, err
		}
		impls = append(impls, im)
	}
	for _, v := range []struct{ name, file string }{{implTwin, "twin_ssh_syn.o"}, {implTwin + varMiss, "twin_ssh_syn_miss.o"}} {
		im, err := loadC(v.name, filepath.Join(b.cdir, v.file), ring)
		if err != nil {
			return nil, err
		}
		impls = append(impls, im)
	}
	var cells []*cell
	for _, cl := range suite.Classes {
		evs, err := runOnce(impls[0], cl.Frame)
		if err != nil {
			return nil, err
		}
		tevs, err := runOnce(impls[2], cl.Frame)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 || len(tevs) != len(evs) {
			continue // not a hit for both (the twin skips VLAN and IPv6 extension headers)
		}
		b.logf("twin %s", cl.Name)
		c, err := runCell(rs.Name, cl.Name, append([]*impl{b.emptyTC}, impls...), cl.Frame, b.repeat, b.trials)
		if err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	return cells, nil
}

func (r *report) twin(p func(string, ...any)) {
	t := r.Twin
	if t == nil {
		return
	}
	p("### (a2) Kernel cost per event against an independent C twin")
	p("")
	p("S1's rule written in C without hdrlog's event layout or wake-up policy (`bench/c/twin_ssh_syn.c`: its own 48-byte event of a time stamp and the four fields, direct packet access, one wake-up every 1,024 events by a counter), against hdrlog's S1 with its default wake-up policy, in the same trials (%d runs per call), every program loaded afresh for each of %d loads and the trials pooled. *hit*: the matching packet above the empty program; *event*: hit minus the program's miss twin (port 23, same parse and tests). Ratios divide hdrlog's median by the twin's.", t.Repeat, t.Loads)
	p("")
	if t.Err != "" {
		p("**Error:** `%s`", t.Err)
		p("")
		return
	}
	p("| class | hdrlog hit | twin hit | hit ÷ | hdrlog event | twin event | event ÷ | hdrlog miss | twin miss |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, c := range t.Cells {
		hh, th := c.net(implHdrlog, implEmpty, true), c.net(implTwin, implEmpty, true)
		he, te := c.net(implHdrlog, implHdrlog+varMiss, true), c.net(implTwin, implTwin+varMiss, true)
		p("| %s | %s | %s | %.2f | %s | %s | %.2f | %s | %s |", c.Class, ns(hh), ns(th), hh.Median/th.Median, ns(he), ns(te), he.Median/te.Median,
			ns(c.net(implHdrlog+varMiss, implEmpty, true)), ns(c.net(implTwin+varMiss, implEmpty, true)))
	}
	p("")
	var loads []string
	for _, l := range t.PerLoad {
		loads = append(loads, fmt.Sprintf("%s %.0f/%.0f", l.Class, l.Hdrlog, l.Twin))
	}
	p("Hit path per load (hdrlog/twin medians, ns): %s.", strings.Join(loads, "; "))
	p("")
}
