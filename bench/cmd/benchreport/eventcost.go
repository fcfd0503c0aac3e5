package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Variants of the event-cost benchmark.
const (
	varMiss   = "-miss"   // same tests, a match that never holds
	varNoWake = "-nowake" // wake-up threshold out of reach: never wakes the reader
)

// eventCostResult prices a logged event in the kernel: a matching packet
// minus the same rule set whose matches never hold (same parse, same
// tests). Cells measure the steady state (wake-up threshold out of reach,
// repeat as everywhere); WakeCells hdrlog's default policy (a wake-up each
// time the backlog crosses a multiple of 64 KiB), with fewer runs per call.
type eventCostResult struct {
	Cells      []*cell
	WakeCells  []*cell
	WakeRepeat int
	Err        string
}

// defaultWakeRepeat bounds a call with the default wake-up policy: about
// every 1,000th event crosses a multiple of 64 KiB and costs a wake-up.
const defaultWakeRepeat = 20_000

func (b *bench) benchEventCost() *eventCostResult {
	res := &eventCostResult{WakeRepeat: min(defaultWakeRepeat, b.repeat)}
	fail := func(err error) *eventCostResult {
		res.Err = err.Error()
		b.logf("event cost: %v", err)
		return res
	}
	for _, rs := range suite.Suite {
		compile := func(src string, wake int) (*compiler.Output, error) {
			set, err := suite.Check(rs.Name, src)
			if err != nil {
				return nil, err
			}
			return compiler.Compile(set, compiler.Options{WakeupBytes: wake})
		}
		out, err := compile(rs.Rules, 0)
		if err != nil {
			return fail(err)
		}
		miss, err := compile(rs.Miss, noWakeup)
		if err != nil {
			return fail(err)
		}
		nowake, err := compile(rs.Rules, noWakeup)
		if err != nil {
			return fail(err)
		}
		ring := ringFor(2*recordBytes(72), b.repeat)
		impls := map[string]*impl{}
		closeAll := func() {
			for _, im := range impls {
				im.Close()
			}
		}
		for _, v := range []struct {
			name string
			out  *compiler.Output
		}{{implHdrlog, out}, {implHdrlog + varMiss, miss}, {implHdrlog + varNoWake, nowake}} {
			im, err := loadHdrlog(v.name, v.out, rules.HookTCIngress, ring)
			if err != nil {
				closeAll()
				return fail(err)
			}
			impls[v.name] = im
		}
		// The C twins exist for S1 (s1_miss.o).
		if _, err := os.Stat(filepath.Join(b.cdir, rs.C+"_miss.o")); err == nil {
			for v, file := range map[string]string{"": rs.C, varMiss: rs.C + "_miss", varNoWake: rs.C + "_nowake"} {
				im, err := loadC(implClang+v, filepath.Join(b.cdir, file+".o"), ring)
				if err != nil {
					closeAll()
					return fail(err)
				}
				impls[implClang+v] = im
			}
		}
		pick := func(names ...string) []*impl {
			out := []*impl{b.emptyTC}
			for _, n := range names {
				if im, ok := impls[n]; ok {
					out = append(out, im)
				}
			}
			return out
		}
		for _, cl := range suite.Classes {
			evs, err := runOnce(impls[implHdrlog], cl.Frame)
			if err != nil {
				closeAll()
				return fail(err)
			}
			if len(evs) == 0 {
				continue
			}
			if mev, _ := runOnce(impls[implHdrlog+varMiss], cl.Frame); len(mev) != 0 {
				closeAll()
				return fail(fmt.Errorf("%s %s: the miss twin emitted %d events", rs.Name, cl.Name, len(mev)))
			}
			b.logf("event cost %s %s", rs.Name, cl.Name)
			c, err := runCell(rs.Name, cl.Name, pick(implHdrlog+varNoWake, implHdrlog+varMiss, implClang+varNoWake, implClang+varMiss), cl.Frame, b.repeat, b.trials)
			if err != nil {
				closeAll()
				return fail(err)
			}
			res.Cells = append(res.Cells, c)
			if rs.Name != "S1" && rs.Name != "S5" {
				continue // the wake-up dominates whatever the rules: S1 and S5 suffice
			}
			c, err = runCell(rs.Name, cl.Name, pick(implHdrlog, implHdrlog+varMiss, implClang, implClang+varMiss), cl.Frame, res.WakeRepeat, b.trials)
			if err != nil {
				closeAll()
				return fail(err)
			}
			res.WakeCells = append(res.WakeCells, c)
		}
		closeAll()
	}
	return res
}
