package runtime_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/rules"
)

// When the XDP hook is taken, the refusal names the program that holds it,
// the link and the process holding the link, or says that it was attached
// without a link and how to remove it.
func TestAttachNamesXDPHolder(t *testing.T) {
	kerneltest.RequireRoot(t)
	first := loadDSL(t, `rule x { hook xdp match udp log udp.dstport }`, 0)
	second := loadDSL(t, `rule y { hook xdp match tcp log tcp.dstport }`, 0)
	p := netns.NewPair(t)
	attachIn(t, p, "B", p.PeerIf, first)

	var err error
	p.Do("B", func() error { _, err = second.Attach(p.PeerIf); return nil })
	self := fmt.Sprintf(`held by \S+ \(pid %d\); stop that process`, os.Getpid())
	want := regexp.MustCompile(`the XDP hook of ` + p.PeerIf + ` is taken by program \d+ "hdrlog_xdp" \(tag [0-9a-f]{16}\) in driver mode, through bpf_link \d+, ` + self)
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("second attach: %v\nwant %s", err, want)
	}
	t.Log(err)
}

func TestAttachNamesXDPHolderWithoutLink(t *testing.T) {
	kerneltest.RequireRoot(t)
	other := loadDSL(t, `rule x { hook xdp match udp log udp.dstport }`, 0)
	c := loadDSL(t, `rule y { hook xdp match tcp log tcp.dstport }`, 0)
	p := netns.NewPair(t)
	var err error
	p.Do("B", func() error {
		// The old way, as ip link set dev X xdp does: no link, the program
		// stays attached when its loader exits.
		l, lerr := netlink.LinkByName(p.PeerIf)
		if lerr != nil {
			t.Fatal(lerr)
		}
		if lerr := netlink.LinkSetXdpFdWithFlags(l, other.Programs[rules.HookXDP].FD(), unix.XDP_FLAGS_SKB_MODE); lerr != nil {
			t.Fatal(lerr)
		}
		_, err = c.Attach(p.PeerIf)
		return nil
	})
	want := regexp.MustCompile(`taken by program \d+ "hdrlog_xdp" \(tag [0-9a-f]{16}\) in generic mode, attached without a bpf_link, held by \S+ \(pid \d+\); if it is no longer needed, remove it with ` + "`ip link set dev " + p.PeerIf + " xdp off`")
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("attach: %v\nwant %s", err, want)
	}
	t.Log(err)
}
