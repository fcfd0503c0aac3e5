package compiler

import (
	"github.com/hdrlog/hdrlog/rules"
)

// A replay (hdrlog test) may run the rules of a tc hook through their XDP
// build, compiled with those rules at the XDP hook (runtime's xdpBuild),
// because an XDP test run costs less than a tc one: no socket buffer is
// allocated around the frame. It does so only when the rules mean exactly
// the same there, which SameAtXDP decides, conservatively: anything of tc's
// alone in the rules, or any state kept from one frame to the next, and the
// tc program runs.
//
// What differs between the two in a test run, and why it does not matter
// for the rules SameAtXDP accepts:
//   - the packet's bounds, length on the wire and time come from different
//     places of the context (Flavour); the test runner sets both the same
//     way (frame.len, the frame's time);
//   - the interface: both test runs run on the loopback device;
//   - the bytes: a tc test run holds the frame linear; an XDP one linear up
//     to a limit (the runtime sends only frames within it);
//   - at tc ingress the outer VLAN tag may sit in skb metadata, though not
//     in a test run: rules that read tags or eth.type are refused all the
//     same (tcOnly);
//   - process fields (the packet's local socket) exist at tc only: refused;
//   - maps keyed by hook (L7 flows, held ClientHellos, transactions), the
//     counting, sampling and limit maps keep state across frames, which
//     must stay in one program: refused (any map but the per-frame ones).

// tcOnly says why rules using refs at hook h may mean something else at
// XDP. The parser of every IP rule steps over VLAN tags (need.close), which
// a test run leaves in the frame at both hooks: a tc test run never puts a
// tag into skb metadata (net/bpf/test_run.c refuses a context that sets
// vlan_*), so only rules that name tags or eth.type are refused, out of
// caution.
func tcOnly(h rules.Hook, refs []rules.FieldRef) string {
	if h != rules.HookTCIngress && h != rules.HookTCEgress {
		return "not a tc hook"
	}
	for _, ref := range refs {
		switch f := ref.Field; {
		case f.Header == rules.HdrVLAN || f.Header == rules.HdrIEEE8021AD || f.Name == "eth.type":
			return "reads VLAN tags or eth.type (at tc ingress the outer tag may sit in skb metadata)"
		case f.Header == rules.HdrProc:
			return "reads process fields (the packet's local socket, at tc only)"
		}
	}
	return ""
}

// perFrameMaps are the maps whose contents do not carry over from one frame
// to the next in a replay (or which only count), so that two programs may
// share the frames of a replay between them.
var perFrameMaps = map[string]bool{
	EventsMap: true, LostMap: true, ScratchMap: true, PayloadMap: true,
	AcctMap: true, ReplayClockMap: true,
}

// SameAtXDP reports whether the rules of tc hook h, in this test-run build,
// give the same events, frame for frame, when compiled at the XDP hook; if
// not, why not.
func (out *Output) SameAtXDP(h rules.Hook) (bool, string) {
	if !out.Options.TestRun {
		return false, "not a test-run build"
	}
	var p *Program
	for _, q := range out.Programs {
		if q.Hook == h {
			p = q
		}
	}
	if p == nil {
		return false, "no program"
	}
	if p.tcOnly != "" {
		return false, p.tcOnly
	}
	return out.stateless(p)
}
