package main

import (
	"fmt"
	"time"

	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/scale"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// scaleRow is one rule count of the scaling table.
type scaleRow struct {
	Rules   int
	Compile time.Duration
	Insns   int
	LoadErr string
	Static  staticCost
	Repeat  int
	Match   *cell // classes "first" (matches rule 0), "miss" and "near"
	Miss    *cell
	Near    *cell
	Err     string
}

// implOneRule is the 1-rule program of the scaling table, timed in every
// row's trials so that each row's ratio to it is paired.
const implOneRule = "hdrlog-1-rule"

func (b *bench) benchScaling() []*scaleRow {
	var rows []*scaleRow
	var one *impl
	if set, err := suite.Check("gen1", scale.Rules(1)); err == nil {
		if out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup}); err == nil {
			one, err = loadHdrlog(implOneRule, out, rules.HookTCIngress, ringFor(recordBytes(48), 1_000_000))
			if err != nil {
				b.logf("scaling: 1-rule baseline: %v", err)
			} else {
				defer one.Close()
			}
		}
	}
	for _, n := range b.scales {
		b.logf("scaling: %d rules", n)
		rows = append(rows, b.scaleOne(n, one))
	}
	return rows
}

func (b *bench) scaleOne(n int, one *impl) *scaleRow {
	row := &scaleRow{Rules: n}
	set, err := suite.Check(fmt.Sprintf("gen%d", n), scale.Rules(n))
	if err != nil {
		row.Err = err.Error()
		return row
	}
	start := time.Now()
	out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
	row.Compile = time.Since(start)
	if err != nil {
		row.Err = "compile: " + err.Error()
		return row
	}
	for _, p := range out.Programs {
		row.Insns += len(p.Insns)
	}
	hd, err := loadHdrlog(implHdrlog, out, rules.HookTCIngress, ringFor(recordBytes(48), 1_000_000))
	if err != nil {
		row.LoadErr = firstLines1(err.Error())
		return row
	}
	defer hd.Close()
	if row.Static, err = hd.static(); err != nil {
		row.Err = err.Error()
		return row
	}
	first, miss, near := scale.FirstMatch(), scale.Miss(), scale.NearMiss()
	if evs, err := runOnce(hd, first); err != nil || len(evs) != 1 {
		row.Err = fmt.Sprintf("the first-rule packet gave %d events (want 1): %v", len(evs), err)
		return row
	}
	if evs, err := runOnce(hd, miss); err != nil || len(evs) != 0 {
		row.Err = fmt.Sprintf("the miss packet gave %d events (want 0): %v", len(evs), err)
		return row
	}
	if evs, err := runOnce(hd, near); err != nil || len(evs) != 0 {
		row.Err = fmt.Sprintf("the near-miss packet gave %d events (want 0): %v", len(evs), err)
		return row
	}
	// Aim at ~150 ms per call: 10^6 runs for small programs, fewer (never
	// under 10^4) when a run takes microseconds.
	row.Repeat = b.repeat
	if s, err := measure.Run(hd.prog, miss, 1000); err == nil && s.Kernel > 0 {
		if r := int(150e6 / s.Kernel); r < row.Repeat {
			row.Repeat = max(r, 10_000)
		}
	}
	_, _, _ = hd.drain(false)
	impls := []*impl{b.emptyTC, hd}
	if one != nil {
		impls = append(impls, one)
	}
	if row.Match, err = runCell(fmt.Sprint(n), "first", impls, first, row.Repeat, b.trials); err != nil {
		row.Err = err.Error()
		return row
	}
	if row.Miss, err = runCell(fmt.Sprint(n), "miss", impls, miss, row.Repeat, b.trials); err != nil {
		row.Err = err.Error()
		return row
	}
	if row.Near, err = runCell(fmt.Sprint(n), "near", impls, near, row.Repeat, b.trials); err != nil {
		row.Err = err.Error()
	}
	return row
}

// firstLines1 keeps an error's first line and the last lines of a verifier
// log that follows it.
func firstLines1(s string) string {
	const max = 600
	if len(s) > max {
		return s[:300] + " … " + s[len(s)-300:]
	}
	return s
}
