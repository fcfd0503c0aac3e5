package compiler_test

import (
	"fmt"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestKernelLargeFrames runs frames beyond what a test run keeps linear
// (about 3.5 KB at XDP, where the rest goes to fragments) and beyond what a
// tc test run takes at all (about 4 KB; measured with an empty program).
// frame.len is the whole frame's length, fragments included; the headers,
// in the linear part, are all there.
func TestKernelLargeFrames(t *testing.T) {
	kerneltest.Require(t)
	k := ktLoad(t, "large", []ktRule{{Name: "big", Match: "tcp.dstport == 2",
		Log: []string{"frame.len", "ip.len", "tcp.len", "tcp.dstport"}}}, ktHooks, 1<<20)
	probes := ktProbes(t)
	for _, payload := range []int{1500, 3500, 3600, 4000, 9000, 60000} {
		f := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Payload(make([]byte, payload)).Bytes()
		want := ktWant(fmt.Sprintf(`{"frame.len":%d,"ip.len":%d,"tcp.len":%d,"tcp.dstport":2}`, len(f), payload+40, payload))
		for _, h := range ktHooks {
			if !probes[h.Hook].accepts(t, f) {
				if _, err := k.run(h, f); err == nil {
					t.Errorf("%s: %d bytes: the empty program is refused but the rule program runs", h.Hook, len(f))
				}
				t.Logf("%s: the kernel refuses a test run of %d bytes", h.Hook, len(f))
				continue
			}
			evs, err := k.run(h, f)
			if err != nil || len(evs["big"]) != 1 {
				t.Fatalf("%s: %d bytes: %d events, error %v", h.Hook, len(f), len(evs["big"]), err)
			}
			ktCheckFields(t, fmt.Sprintf("%s, %d bytes", h.Hook, len(f)), evs["big"][0], []string{"frame.len", "ip.len", "tcp.len", "tcp.dstport"}, want)
		}
	}
}
