package runtime_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// A tagged frame reaches tc ingress with its tag in skb metadata, and XDP
// with it inline. frame's bytes are the frame as it was on the wire at
// both: hdrlog puts the tag back at tc ingress, as a capture shows it.
func TestStreamLiveFrameBytesVLAN(t *testing.T) {
	kerneltest.RequireRoot(t)
	p := netns.NewPair(t)
	match := fmt.Sprintf(`frame[0:6] == %s && frame[12:2] == 81:00 && frame[14:2] & 0x0fff == 42 && frame[16:2] == 08:00 && frame contains "hdrlog-vlan" && udp.payload[0:11] == "hdrlog-vlan"`, p.MACB)
	c := loadDSL(t, `
rule frame_tc {
    hook tc ingress
    match `+match+`
    log udp.payload, frame.len
}
rule frame_xdp {
    hook xdp
    match `+match+`
    log udp.payload, frame.len
}
rule untagged_view_tc {
    hook tc ingress
    match frame[12:2] == 08:00
    log frame.len
}
`, 0)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	payload := []byte("hdrlog-vlan, and then some")
	frame := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).
		VLAN(testpkt.TPID8021Q, 3, false, 42).
		IPv4(p.AddrA.String(), p.AddrB.String()).UDP(5000, 7777).Payload(payload).Bytes()
	if err := p.InjectRaw("A", p.HostIf, frame); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the tagged frame at both hooks", 5*time.Second, func(objs []map[string]any) bool {
		return len(byRule(objs, "frame_tc")) > 0 && len(byRule(objs, "frame_xdp")) > 0
	})
	s.stop(t)
	objs := s.sink.objects(t)
	for _, rule := range []string{"frame_tc", "frame_xdp"} {
		evs := byRule(objs, rule)
		if len(evs) != 1 {
			t.Errorf("%s: want 1 event, got %v", rule, evs)
			continue
		}
		assertFields(t, evs[0], map[string]any{"udp.payload": rules.BytesString(payload), "frame.len": len(frame)})
	}
	if evs := byRule(objs, "untagged_view_tc"); len(evs) != 0 {
		t.Errorf("tc ingress saw the frame without its tag: %v", evs)
	}
}
