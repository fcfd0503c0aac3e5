package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

const threeHooks = `
rule a { hook tc ingress  match udp  log udp.dstport }
rule b { hook tc egress   match udp  log udp.dstport }
rule c { hook xdp         match udp  log udp.dstport }
`

// Every hook attaches through a bpf_link, XDP in driver mode where the
// driver has it (veth) and generic mode where it has not (loopback); closing
// the attachments leaves the interfaces as they were.
func TestAttachModesAndDetach(t *testing.T) {
	kerneltest.RequireRoot(t)
	c := loadDSL(t, threeHooks, 0)
	p := netns.NewPair(t)

	for _, tc := range []struct {
		ifname  string
		xdpMode runtime.AttachMode
	}{
		{p.PeerIf, runtime.ModeXDPDriver},
		{"lo", runtime.ModeXDPGeneric},
	} {
		var as runtime.Attachments
		if err := p.Do("B", func() (err error) { as, err = c.Attach(tc.ifname); return err }); err != nil {
			t.Fatalf("attach to %s: %v", tc.ifname, err)
		}
		modes := map[rules.Hook]runtime.AttachMode{}
		for _, a := range as {
			t.Logf("attached: %s", a)
			modes[a.Hook] = a.Mode
			if a.Iface != tc.ifname {
				t.Errorf("attachment names interface %q, want %q", a.Iface, tc.ifname)
			}
		}
		want := map[rules.Hook]runtime.AttachMode{
			rules.HookTCIngress: runtime.ModeTCX, rules.HookTCEgress: runtime.ModeTCX, rules.HookXDP: tc.xdpMode,
		}
		for h, m := range want {
			if modes[h] != m {
				t.Errorf("%s: %s attached in mode %q, want %q", tc.ifname, h, modes[h], m)
			}
		}
		if in, eg, xdp := attached(t, p, "B", tc.ifname); in != 1 || eg != 1 || !xdp {
			t.Errorf("%s while attached: %d tcx ingress, %d tcx egress programs, xdp %v; want 1, 1, true", tc.ifname, in, eg, xdp)
		}
		if err := as.Close(); err != nil {
			t.Fatalf("detach: %v", err)
		}
		if err := as.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if in, eg, xdp := attached(t, p, "B", tc.ifname); in != 0 || eg != 0 || xdp {
			t.Errorf("%s after detach: %d tcx ingress, %d tcx egress programs, xdp %v; want nothing", tc.ifname, in, eg, xdp)
		}
	}
}

// hdrlog's tcx links coexist with a clsact qdisc and filter someone else
// installed, and detaching leaves them in place.
func TestAttachLeavesOthersAlone(t *testing.T) {
	kerneltest.RequireRoot(t)
	haveTool(t, "tc")
	c := loadDSL(t, threeHooks, 0)
	p := netns.NewPair(t)
	if out, err := p.Run("B", "tc", "qdisc", "add", "dev", p.PeerIf, "clsact"); err != nil {
		t.Fatalf("tc qdisc add: %v\n%s", err, out)
	}
	if out, err := p.Run("B", "tc", "filter", "add", "dev", p.PeerIf, "ingress", "protocol", "all",
		"prio", "7", "u32", "match", "u32", "0", "0", "classid", "1:1"); err != nil {
		t.Fatalf("tc filter add: %v\n%s", err, out)
	}
	as := attachIn(t, p, "B", p.PeerIf, c)
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	q, _ := p.Run("B", "tc", "qdisc", "show", "dev", p.PeerIf)
	f, _ := p.Run("B", "tc", "filter", "show", "dev", p.PeerIf, "ingress")
	if !strings.Contains(string(q), "clsact") || !strings.Contains(string(f), "u32") {
		t.Errorf("after detach, the other's qdisc or filter is gone:\n%s\n%s", q, f)
	}
}

func TestAttachUnknownInterface(t *testing.T) {
	kerneltest.Require(t)
	c := loadDSL(t, threeHooks, 0)
	_, err := c.Attach("nosuch0")
	if err == nil {
		t.Fatal("attached to an interface that does not exist")
	}
	if msg := err.Error(); !strings.Contains(msg, `no interface named "nosuch0"`) || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming the interface", msg)
	}
	if _, err := c.Attach("bad/name"); err == nil || !strings.Contains(err.Error(), "not a valid interface name") {
		t.Errorf("bad name: %v", err)
	}
}

// Through test runs (no traffic, no scheduling): with a one-page ring and no
// reader, events delivered + events lost = frames run, for each rule.
func TestLostCountsExact(t *testing.T) {
	c := loadDSL(t, `
rule flood { match udp.dstport == 7000  log ip.src, ip.dst, udp.srcport, udp.dstport }
rule quiet { match udp.dstport == 7001  log udp.dstport }
`, 4096)
	const runs = 300
	frame := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(1234, 7000).Bytes()
	for i := 0; i < runs; i++ {
		if err := c.Run(rules.HookTCIngress, frame); err != nil {
			t.Fatal(err)
		}
	}
	delivered := 0
	if err := c.Drain(func(ev *runtime.Event) error {
		if ev.Rule != 0 {
			return errors.New("event of the wrong rule")
		}
		delivered++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lost, err := c.LostCounts()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered %d, lost %v", delivered, lost)
	if lost[0] == 0 || delivered == 0 || uint64(delivered)+lost[0] != runs || lost[1] != 0 {
		t.Errorf("delivered %d, lost %v: want delivered + lost[0] = %d, both non-zero, lost[1] = 0", delivered, lost, runs)
	}
}
