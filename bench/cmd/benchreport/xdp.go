package main

import (
	"strings"

	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// xdpResult is the reference row: S1 compiled for XDP against an empty XDP
// program, timed by the kernel's own clock (with repeat > 1 an XDP test
// run re-patches the dispatcher, which the wall clock would include).
type xdpResult struct {
	Cells []*cell
	Err   string
}

func (b *bench) benchXDP() *xdpResult {
	res := &xdpResult{}
	rs := suite.Suite[0]
	src := strings.Replace(rs.Rules, "    match", "    hook  xdp\n    match", 1)
	set, err := suite.Check(rs.Name+"-xdp", src)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
	if err != nil {
		res.Err = err.Error()
		return res
	}
	hd, err := loadHdrlog(implHdrlog, out, rules.HookXDP, ringFor(64, b.repeat))
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer hd.Close()
	for _, cl := range suite.Classes {
		b.logf("xdp %s", cl.Name)
		c, err := runCell("S1", cl.Name, []*impl{b.emptyXDP, hd}, cl.Frame, b.repeat, b.trials)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		res.Cells = append(res.Cells, c)
	}
	return res
}
