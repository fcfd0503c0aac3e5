package main

import (
	"time"

	"github.com/hdrlog/hdrlog/bench/internal/eventpath"
	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
)

// decodeResult is user-space decode + JSON throughput on one core.
type decodeResult struct {
	EventsPerSec []float64 // one per trial
	Stats        measure.Stats
	BytesPerLine float64
	Err          string
}

func (b *bench) benchDecode() *decodeResult {
	res := &decodeResult{}
	out, err := suite.Compile("S5", suite.Suite[4].Rules)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	recs := eventpath.Records(out.Schema, 1000)
	if err := measure.Pin(b.cpu); err != nil {
		res.Err = err.Error()
		return res
	}
	defer measure.Unpin()
	d, n := time.Second, 5
	if b.quick {
		d, n = 200*time.Millisecond, 2
	}
	for i := 0; i < n; i++ {
		eps, bpl, err := eventpath.Throughput(out.Schema, recs, d)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		res.EventsPerSec = append(res.EventsPerSec, eps)
		res.BytesPerLine = bpl
	}
	res.Stats = measure.Summarise(res.EventsPerSec)
	return res
}
