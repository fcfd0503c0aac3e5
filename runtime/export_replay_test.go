package runtime

// SetReplayBatchFrames sets how many frames a replay batch holds, so that a
// short capture spans many batches; it returns a function that restores it.
func SetReplayBatchFrames(n int) (restore func()) {
	old := batchFrames
	batchFrames = n
	return func() { batchFrames = old }
}
