package runtime

import "github.com/cilium/ebpf"

// SetReplayBatchFrames sets how many frames a replay batch holds, so that a
// short capture spans many batches; it returns a function that restores it.
func SetReplayBatchFrames(n int) (restore func()) {
	old := batchFrames
	batchFrames = n
	return func() { batchFrames = old }
}

// ReplayerMaps returns every map of every collection the replayer loaded:
// its own, its XDP and batch builds, and its other workers' (the maps are
// the collections', not to be closed).
func ReplayerMaps(r *Replayer) []*ebpf.Map {
	colls := append([]*Collection{r.coll}, r.extraColls()...)
	for _, f := range r.forks {
		colls = append(colls, f.coll)
		colls = append(colls, f.extraColls()...)
	}
	var maps []*ebpf.Map
	for _, c := range colls {
		if c == nil {
			continue
		}
		for _, m := range c.coll.Maps {
			maps = append(maps, m)
		}
	}
	return maps
}
