package compiler_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
)

// TestKernelTruncation cuts full frames at every length, from the 14 bytes
// of an Ethernet header to the whole frame, and runs each through a rule that
// logs every field and always matches. At each length exactly the headers
// wholly inside the cut frame must be present, with the values they have in
// the whole frame; every field of a header cut short must be null.
//
// A header's extent is where the frame was built to put it. IPv4 and TCP
// options are not decoded: the fields lie in the fixed part, which is what
// must be there, but the transport header starts after the IP options, and
// after the whole IPv6 extension-header chain. The ICMPv6 header is its 4
// fixed bytes (type, code, checksum), ICMP's its 8.
//
// The kernel does not take every length: a tc test run rejects an IPv4 or
// IPv6 frame shorter than its network header (measured on 6.18). Which
// lengths it takes is measured with an empty program of each type; the rule
// program must run on exactly those, and the lengths it cannot are logged.
func TestKernelTruncation(t *testing.T) {
	kerneltest.Require(t)
	frames := []struct {
		name  string // in ktBasicFrames: the expectation of the whole frame
		frame []byte
		ends  map[string]int // header -> offset of its end
	}{
		{"ipv4_tcp", ktFrameIPv4TCP(), map[string]int{
			"eth": 14, "ip": 14 + 20, "tcp": 34 + 20}},
		{"vlan_ipv4opts_tcp", ktFrameVLANIPv4OptsTCP(), map[string]int{
			"eth": 14, "vlan#1": 18, "ip": 18 + 20, "tcp": 18 + 28 + 20}},
		{"ipv6_ext_udp", ktFrameIPv6ExtUDP(), map[string]int{
			"eth": 14, "ipv6": 14 + 40, "udp": 54 + 72 + 8}},
		{"ipv6_ext_tcp", ktBasicFrame("ipv6_ext_tcp").Bytes, map[string]int{
			"eth": 14, "ipv6": 14 + 40, "tcp": 54 + 72 + 20}},
		{"vlan_ipv4opts_udp", ktBasicFrame("vlan_ipv4opts_udp").Bytes, map[string]int{
			"eth": 14, "vlan#1": 18, "ip": 18 + 20, "udp": 18 + 28 + 8}},
		{"qinq_icmp", ktFrameQinQICMP(), map[string]int{
			"eth": 14, "vlan#1": 18, "vlan#2": 22, "ip": 22 + 20, "icmp": 42 + 8}},
		{"ipv6_icmpv6", ktFrameIPv6ICMPv6(), map[string]int{
			"eth": 14, "ipv6": 14 + 40, "icmpv6": 54 + 4, "icmpv6.echo": 54 + 8}},
	}

	all := ktAllFields()
	k := ktLoad(t, "truncation", []ktRule{{Name: "trunc", Match: "frame", Log: all}}, ktHooks, 1<<20)
	probes := ktProbes(t)

	for _, tf := range frames {
		t.Run(tf.name, func(t *testing.T) {
			// The whole frame: its values, checked against the expectation
			// worked out by hand, are the reference for every cut.
			full := map[rules.Hook]ktEvent{}
			for _, h := range ktHooks {
				evs, err := k.run(h, tf.frame)
				if err != nil || len(evs["trunc"]) != 1 {
					t.Fatalf("%s: whole frame: %d events, error %v", h.Hook, len(evs["trunc"]), err)
				}
				ev := evs["trunc"][0]
				if !ktCheckFields(t, fmt.Sprintf("%s, whole frame %s", h.Hook, ktHex(tf.frame)), ev, all, ktWant(ktBasicFrame(tf.name).Want)) {
					t.FailNow()
				}
				full[h.Hook] = ev
			}
			for _, h := range ktHooks {
				var rejected []string
				for n := 14; n <= len(tf.frame); n++ {
					cut := tf.frame[:n:n]
					accepted := probes[h.Hook].accepts(t, cut)
					evs, err := k.run(h, cut)
					if !accepted {
						if err == nil {
							t.Errorf("%s: length %d: the empty program is refused but the rule program runs", h.Hook, n)
						}
						rejected = append(rejected, fmt.Sprint(n))
						continue
					}
					if err != nil {
						t.Fatalf("%s: length %d: run: %v (frame %s)", h.Hook, n, err, ktHex(cut))
					}
					if len(evs["trunc"]) != 1 {
						t.Fatalf("%s: length %d: %d events, want 1", h.Hook, n, len(evs["trunc"]))
					}
					want := ktTruncWant(full[h.Hook], all, tf.ends, n)
					ktCheckFields(t, fmt.Sprintf("%s, cut to %d bytes: %s", h.Hook, n, ktHex(cut)), evs["trunc"][0], all, want)
				}
				if len(rejected) > 0 {
					t.Logf("%s: the kernel refuses test runs of %d of the %d lengths: %s",
						h.Hook, len(rejected), len(tf.frame)-13, strings.Join(rejected, " "))
				}
			}
		})
	}
}

// ktTruncWant is the expectation for a frame cut to n bytes: frame.len is n;
// a field is present, with its value in the whole frame, when its header
// ends within n bytes.
func ktTruncWant(full ktEvent, logged []string, ends map[string]int, n int) map[string]json.RawMessage {
	want := map[string]json.RawMessage{"frame.len": json.RawMessage(fmt.Sprint(n))}
	for _, name := range logged {
		f := ktField(name)
		if f.Header == rules.HdrFrame {
			continue
		}
		suffix := ""
		if i := strings.IndexByte(name, '#'); i >= 0 {
			suffix = name[i:]
		}
		var end int
		var ok bool
		key := f.Header.String() + suffix
		switch {
		case f.Header == rules.HdrIEEE8021AD:
			key = "vlan#1" // the outer tag, read as an S-tag
			end, ok = ends[key]
		default:
			// The first header of those that carry the field (ip.version:
			// IPv4 or IPv6) the frame has.
			for _, h := range append([]rules.Header{f.Header}, f.Also...) {
				if end, ok = ends[h.String()+suffix]; ok {
					break
				}
			}
		}
		if !ok {
			if v := string(full.Fields[name]); v != "null" {
				panic(fmt.Sprintf("%s is %s in the whole frame but its header %s has no extent", name, v, key))
			}
			continue
		}
		if n >= end && string(full.Fields[name]) != "null" {
			want[name] = full.Fields[name]
		}
	}
	// tcp.len counts the segment's bytes up to the IP length but never past
	// the frame (a test run's frame is whole on the wire): present once the
	// whole TCP header, options included, is in the frame, and then the
	// bytes after it, up to the whole frame's value.
	if _, logged := want["tcp.hdr_len"]; logged && string(full.Fields["tcp.len"]) != "null" {
		var hdrLen, fullLen int
		fmt.Sscan(string(full.Fields["tcp.hdr_len"]), &hdrLen)
		fmt.Sscan(string(full.Fields["tcp.len"]), &fullLen)
		delete(want, "tcp.len")
		if hdrEnd := ends["tcp"] - rules.HdrTCP.Def().MinLen + hdrLen; n >= hdrEnd {
			want["tcp.len"] = json.RawMessage(fmt.Sprint(min(fullLen, n-hdrEnd)))
		}
	}
	return want
}

// ktProbe is an empty program of one type: whether the kernel takes a frame
// for a test run of it says what the kernel accepts, whatever the program.
type ktProbe struct{ prog *ebpf.Program }

func ktProbes(t *testing.T) map[rules.Hook]ktProbe {
	out := map[rules.Hook]ktProbe{}
	for _, h := range ktHooks {
		typ := ebpf.SchedCLS
		if h.Hook == rules.HookXDP {
			typ = ebpf.XDP
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: typ, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			t.Fatalf("probe program: %v", err)
		}
		t.Cleanup(func() { prog.Close() })
		out[h.Hook] = ktProbe{prog}
	}
	return out
}

func (p ktProbe) accepts(t *testing.T, frame []byte) bool {
	_, err := p.prog.Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil && !errors.Is(err, unix.EINVAL) {
		t.Fatalf("probe run of %d bytes: %v", len(frame), err)
	}
	return err == nil
}
