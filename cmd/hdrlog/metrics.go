package main

import (
	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/metrics"
	"github.com/hdrlog/hdrlog/runtime"
)

// serveMetrics serves the stream's counts, the ring buffer's and the
// programs' to Prometheus at addr; extra are the export's lost counts and
// queue (nil without one).
func serveMetrics(addr string, c *runtime.Collection, live *runtime.LiveStats, extra *metrics.Sources) (*metrics.Server, error) {
	s := metrics.Sources{Live: live, Programs: map[string]*ebpf.Program{}, Version: version}
	for h, p := range c.Programs {
		s.Programs[h.String()] = p
	}
	if extra != nil {
		s.Lost, s.Queues, s.Service = extra.Lost, extra.Queues, extra.Service
	}
	return metrics.Serve(addr, metrics.Registry(s))
}
