package runtime_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

const directionRules = `
rule syn_in  { match tcp.flags.syn == 1 log ip.src, frame.len }
rule syn_out { hook tc egress match tcp.flags.syn == 1 log ip.src, frame.len }
rule syn_xdp { hook xdp match tcp.flags.syn == 1 log ip.src, frame.len }`

// replayLines replays a capture through the kernel or the reference and
// returns "rule hook frame ip.src frame.len" per event, and the summary.
func replayLines(t *testing.T, src, path string, noKernel bool, opts runtime.ReplayOptions) (string, *runtime.ReplaySummary) {
	t.Helper()
	rs := mustRules(t, src)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.NoKernel = noKernel
	r, err := runtime.NewReplayer(rs, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	sum, err := runtime.Replay(r, c, &buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %v %v %v\n", ev["rule"], ev["hook"], ev["frame"], ev["ip.src"], ev["frame.len"])
	}
	return b.String(), sum
}

// bothWays runs check on the reference's replay, then on the kernel's.
func bothWays(t *testing.T, fn func(noKernel bool)) {
	fn(true)
	kerneltest.Require(t)
	fn(false)
}

func syn(src, dst string) []byte {
	return testpkt.New().IPv4(src, dst).TCP(40000, 22).Flags(testpkt.SYN).Bytes()
}

// A pcapng capture with one received and one sent SYN (epb_flags) gives
// two events, each at the hooks of its direction, as `run` gave; a frame
// without a direction goes through every hook and is counted.
func TestReplayDirectionPcapng(t *testing.T) {
	eth := pcapgo.NgInterface{Name: "veth0", LinkType: layers.LinkTypeEthernet}
	path := writePcapng(t, []pcapgo.NgInterface{eth},
		testFrame{data: syn("10.0.0.2", "10.0.0.1"), dir: runtime.DirIn},
		testFrame{data: syn("10.0.0.1", "10.0.0.2"), dir: runtime.DirOut},
		testFrame{data: syn("10.0.0.3", "10.0.0.1")})
	bothWays(t, func(noKernel bool) {
		got, sum := replayLines(t, directionRules, path, noKernel, runtime.ReplayOptions{})
		want := `syn_in tc ingress 1 10.0.0.2 54
syn_xdp xdp 1 10.0.0.2 54
syn_out tc egress 2 10.0.0.1 54
syn_in tc ingress 3 10.0.0.3 54
syn_out tc egress 3 10.0.0.3 54
syn_xdp xdp 3 10.0.0.3 54
`
		if got != want {
			t.Errorf("noKernel=%v:\n%swant:\n%s", noKernel, got, want)
		}
		if sum.Direction != [3]int{runtime.DirUnknown: 1, runtime.DirIn: 1, runtime.DirOut: 1} {
			t.Errorf("noKernel=%v: directions %v", noKernel, sum.Direction)
		}
		// --direction out overrides the capture.
		got, sum = replayLines(t, directionRules, path, noKernel, runtime.ReplayOptions{Direction: runtime.DirOut})
		if want := "syn_out tc egress 1 10.0.0.2 54\nsyn_out tc egress 2 10.0.0.1 54\nsyn_out tc egress 3 10.0.0.3 54\n"; got != want || sum.Direction[runtime.DirOut] != 3 {
			t.Errorf("noKernel=%v, --direction out:\n%s%v", noKernel, got, sum.Direction)
		}
	})
}

// cookedFrame wraps an Ethernet frame's payload in a Linux cooked header
// (SLL or SLL2) of the given packet type, with the sender's address.
func cookedFrame(lt layers.LinkType, pktType uint16, eth []byte) []byte {
	src, proto, payload := eth[6:12], eth[12:14], eth[14:]
	var h []byte
	if lt == layers.LinkTypeLinuxSLL {
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], pktType)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], src)
		copy(h[14:], proto)
	} else {
		h = make([]byte, 20)
		copy(h[0:], proto)
		binary.BigEndian.PutUint32(h[4:], 7) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[10], h[11] = byte(pktType), 6
		copy(h[12:], src)
	}
	return append(h, payload...)
}

// Linux cooked captures (tcpdump -i any; -y LINUX_SLL2) are replayed as the
// Ethernet frames the hooks see, in the direction of their packet type;
// frame.len is the Ethernet frame's.
func TestReplayCooked(t *testing.T) {
	in := testpkt.New().IPv4("10.0.0.2", "10.0.0.1").TCP(40000, 22).Flags(testpkt.SYN).Payload(make([]byte, 100)).Bytes()
	out := syn("10.0.0.1", "10.0.0.2")
	for _, lt := range []layers.LinkType{layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2} {
		t.Run(lt.String(), func(t *testing.T) {
			cin := cookedFrame(lt, 0, in)
			path := writePcap(t, lt,
				testFrame{data: cin[:len(cin)-60], origLen: len(cin)}, // snap length
				testFrame{data: cookedFrame(lt, 4, out)},
				testFrame{data: cookedFrame(lt, 1, out)}, // broadcast: received
				testFrame{data: cookedFrame(lt, 4, out)[:10]})
			frames := readAll(t, path)
			if len(frames) != 4 || frames[0].Dir != runtime.DirIn || frames[1].Dir != runtime.DirOut || !frames[0].Cooked {
				t.Fatalf("frames: %+v", frames)
			}
			if want := append(make([]byte, 6), in[6:]...)[:len(in)-60]; !bytes.Equal(frames[0].Data, want) || frames[0].OrigLen != len(in) {
				t.Errorf("rebuilt frame %x (%d on the wire), want %x (%d)", frames[0].Data, frames[0].OrigLen, want, len(in))
			}
			if !bytes.Equal(frames[2].Data[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || len(frames[3].Data) != 0 {
				t.Errorf("broadcast %x, cut header %x", frames[2].Data, frames[3].Data)
			}
			bothWays(t, func(noKernel bool) {
				got, sum := replayLines(t, directionRules, path, noKernel, runtime.ReplayOptions{})
				want := "syn_in tc ingress 1 10.0.0.2 154\nsyn_xdp xdp 1 10.0.0.2 154\nsyn_out tc egress 2 10.0.0.1 54\nsyn_in tc ingress 3 10.0.0.1 54\nsyn_xdp xdp 3 10.0.0.1 54\n"
				if got != want || sum.Cooked != 4 {
					t.Errorf("noKernel=%v (%d cooked):\n%swant:\n%s", noKernel, sum.Cooked, got, want)
				}
			})
		})
	}
}

// Where the capture gives no direction, the local MAC or addresses do.
func TestLocalDirection(t *testing.T) {
	local := runtime.Local{
		MACs:     []net.HardwareAddr{{2, 0, 0, 0, 0, 1}},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8::/64")},
	}
	macs := runtime.Local{MACs: local.MACs}
	mk := func(dst, src string) *testpkt.Frame {
		return testpkt.New().Eth(src, dst)
	}
	for _, c := range []struct {
		name  string
		local runtime.Local
		frame []byte
		want  runtime.Direction
	}{
		{"ip in", local, testpkt.New().IPv4("192.0.2.1", "10.0.0.1").UDP(1, 2).Bytes(), runtime.DirIn},
		{"ip out", local, testpkt.New().IPv4("10.0.0.1", "192.0.2.1").UDP(1, 2).Bytes(), runtime.DirOut},
		{"ip both local", local, testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirUnknown},
		{"ipv6 in, tagged", local, testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 5).IPv6("2001:db8:1::1", "2001:db8::1").UDP(1, 2).Bytes(), runtime.DirIn},
		{"mac out", macs, mk("02:00:00:00:00:09", "02:00:00:00:00:01").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirOut},
		{"mac in", macs, mk("02:00:00:00:00:01", "02:00:00:00:00:09").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirIn},
		{"mac broadcast in", macs, mk("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:09").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirIn},
		{"mac broadcast out", macs, mk("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirOut},
		{"mac neither", macs, mk("02:00:00:00:00:08", "02:00:00:00:00:09").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(), runtime.DirUnknown},
		{"short", local, make([]byte, 10), runtime.DirUnknown},
	} {
		if got := c.local.Direction(c.frame); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
