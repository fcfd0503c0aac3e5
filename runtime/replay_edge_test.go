package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// The edge cases of the semantics, one frame each: what the reference (the
// specification) must log, and the kernel with it. `bug` names a documented
// kernel divergence (kernel-divergences.tsv) the case reproduces: the
// kernel must still disagree there, until the fix.

func ipv4TCP() *testpkt.TCP {
	return testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1234, 80)
}

func ipv6Exts(n int) []byte {
	f := testpkt.New()
	ip := f.IPv6("2001:db8::1", "2001:db8::2")
	for range n {
		ip.DestOpts(nil)
	}
	return f.TCP(1234, 80).Bytes()
}

var edgeCases = []struct {
	name  string
	rules string
	frame []byte
	want  string
	bug   string
}{
	{
		name:  "absent field compares false, != included",
		rules: `rule a { match tcp.dstport != 80 log frame.len } rule b { match !tcp.dstport log udp.dstport, tcp.dstport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(1, 53).Bytes(),
		want:  "b udp.dstport=53 tcp.dstport=null\n",
	},
	{
		name:  "either-direction fields",
		rules: `rule a { match ip.addr == 10.0.0.2 && tcp.port == 1234 log ip.src } rule b { match ip.addr != 10.0.0.1 log ip.dst }`,
		frame: ipv4TCP().Bytes(),
		want:  `a ip.src="10.0.0.1"` + "\n",
	},
	{
		name:  "IPv4 prefixes, ranges and sets",
		rules: `rule a { match ip.src in {192.168.0.0/16, 10.0.0.0..10.0.0.1} && tcp.dstport in {22, 70..90} log tcp.dstport }`,
		frame: ipv4TCP().Bytes(),
		want:  "a tcp.dstport=80\n",
	},
	{
		name:  "renderings",
		rules: `rule a { log eth.src, eth.type, ip.id, ip.flags, ip.flags.df, tcp.flags, ipv6.src }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").ID(0x1234).DF().TCP(1, 2).Flags(testpkt.SYN | testpkt.ACK).Bytes(),
		want:  `a eth.src="02:00:00:00:00:01" eth.type="0x0800" ip.id="0x1234" ip.flags="0x02" ip.flags.df=true tcp.flags="0x0012" ipv6.src=null` + "\n",
	},
	{
		name:  "802.3 length: no eth.type",
		rules: `rule a { match eth log eth.type, eth.dst } rule b { match eth.type log frame.len }`,
		frame: testpkt.New().EtherType(46).Payload(make([]byte, 46)).Bytes(),
		want:  `a eth.type=null eth.dst="02:00:00:00:00:02"` + "\n",
	},
	{
		name:  "QinQ: both tags, in order",
		rules: `rule a { match vlan.id == 20 log vlan.id#1, vlan.id#2, vlan.etype#1, vlan.etype#2, vlan.priority, vlan.dei#2, ip.src }`,
		frame: testpkt.New().VLAN(testpkt.TPID8021AD, 5, false, 10).VLAN(testpkt.TPID8021Q, 0, true, 20).IPv4("10.0.0.1", "10.0.0.2").Bytes(),
		want:  `a vlan.id#1=10 vlan.id#2=20 vlan.etype#1="0x8100" vlan.etype#2="0x0800" vlan.priority=5 vlan.dei#2=true ip.src="10.0.0.1"` + "\n",
	},
	{
		name:  "three tags: no network layer",
		rules: `rule a { match vlan.id#2 == 2 log ip.src, vlan.etype#2 }`,
		frame: testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 1).VLAN(testpkt.TPID8021Q, 0, false, 2).VLAN(testpkt.TPID8021Q, 0, false, 3).IPv4("10.0.0.1", "10.0.0.2").Bytes(),
		want:  `a ip.src=null vlan.etype#2="0x8100"` + "\n",
	},
	{
		name:  "VLAN tag cut short",
		rules: `rule a { match eth log eth.type, vlan.id }`,
		frame: testpkt.Truncate(testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 7).IPv4("10.0.0.1", "10.0.0.2").Bytes(), 16),
		want:  `a eth.type="0x8100" vlan.id=null` + "\n",
	},
	{
		name:  "IPv4 header length below 20: no IPv4",
		rules: `rule a { match eth log ip.src }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").IHL(4).Bytes(),
		want:  "a ip.src=null\n",
	},
	{
		name:  "IPv4 version not 4: no IPv4",
		rules: `rule a { match eth log ip.src }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Version(6).Bytes(),
		want:  "a ip.src=null\n",
	},
	{
		name:  "IPv4 options cut short: IPv4 present, no TCP",
		rules: `rule a { match ip log ip.hdr_len, tcp.srcport }`,
		frame: testpkt.Truncate(testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Options(make([]byte, 8)).TCP(1234, 80).Bytes(), 14+24),
		want:  "a ip.hdr_len=28 tcp.srcport=null\n",
	},
	{
		name:  "IPv4 options, then TCP",
		rules: `rule a { match tcp log ip.hdr_len, tcp.srcport, tcp.len }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Options([]byte{1, 1, 1, 1, 7, 7, 4, 0}).TCP(1234, 80).Payload([]byte("hi")).Bytes(),
		want:  "a ip.hdr_len=28 tcp.srcport=1234 tcp.len=2\n",
	},
	{
		name:  "ip.len below the header length: no transport layer",
		rules: `rule a { match ip log ip.len, tcp.srcport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(19).TCP(1234, 80).Bytes(),
		want:  "a ip.len=19 tcp.srcport=null\n",
	},
	{
		name:  "ip.len 0 (TSO): TCP present, tcp.len absent",
		rules: `rule a { match tcp log ip.len, tcp.len, tcp.dstport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(0).TCP(1234, 80).Bytes(),
		want:  "a ip.len=0 tcp.len=null tcp.dstport=80\n",
	},
	{
		// Wireshark cuts the IP payload at the IP length, never past the
		// frame's length on the wire (issue 18: 54 bytes saying 65535 gave
		// tcp.len 65495).
		name:  "ip.len larger than the frame: tcp.len counts the frame's bytes",
		rules: `rule a { match tcp log ip.len, tcp.len }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(65535).TCP(1234, 80).Bytes(),
		want:  "a ip.len=65535 tcp.len=0\n",
	},
	{
		name:  "ip.len larger than the frame, a payload: tcp.len is the payload in the frame",
		rules: `rule a { match tcp log tcp.len }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(1000).TCP(1234, 80).Payload([]byte("abc")).Bytes(),
		want:  "a tcp.len=3\n",
	},
	{
		name:  "ipv6.plen larger than the frame: tcp.len counts the frame's bytes",
		rules: `rule a { match tcp log ipv6.plen, tcp.len }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").PayloadLength(60000).TCP(1234, 80).Bytes(),
		want:  "a ipv6.plen=60000 tcp.len=0\n",
	},
	{
		name:  "ip.len larger than the frame, a TCP header longer than the frame: no tcp.len",
		rules: `rule a { match tcp log tcp.hdr_len, tcp.len }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(65535).TCP(1234, 80).DataOffset(15).Bytes(),
		want:  "a tcp.hdr_len=60 tcp.len=null\n",
	},
	{
		// The first question's name can only point into the 12-byte
		// header, whose ID, flags and counts name no host: absent, with
		// its type and class (tshark shows "a" here). README and
		// docs/l7.md say so.
		name:  "DNS question name pointing into the header: absent",
		rules: `rule a { match dns log dns.id, dns.qry.name, dns.qry.type }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(40000, 53).Payload(testpkt.DNSMessage(0x0161, 0, 1, 0, []byte{0xc0, 0x00}, 1, 1)).Bytes(),
		want:  `a dns.id="0x0161" dns.qry.name=null dns.qry.type=null` + "\n",
	},
	{
		name:  "first fragment: TCP present",
		rules: `rule a { match ip.flags.mf == 1 || ip.frag_offset > 0 log ip.frag_offset, tcp.srcport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").MF().TCP(1234, 80).Bytes(),
		want:  "a ip.frag_offset=0 tcp.srcport=1234\n",
	},
	{
		name:  "non-first fragment: no TCP",
		rules: `rule a { match ip.flags.mf == 1 || ip.frag_offset > 0 log ip.frag_offset, tcp.srcport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").FragOffset(185).TCP(1234, 80).Bytes(),
		want:  "a ip.frag_offset=185 tcp.srcport=null\n",
	},
	{
		name:  "TCP data offset below 5: TCP present, no tcp.len",
		rules: `rule a { match tcp log tcp.hdr_len, tcp.len, tcp.flags.syn }`,
		frame: ipv4TCP().Flags(testpkt.SYN).DataOffset(4).Bytes(),
		want:  "a tcp.hdr_len=16 tcp.len=null tcp.flags.syn=true\n",
	},
	{
		// The frame ends inside the TCP header: no tcp.len, as in Wireshark.
		name:  "TCP options cut short: TCP present",
		rules: `rule a { match tcp log tcp.hdr_len, tcp.len }`,
		frame: testpkt.Truncate(ipv4TCP().Options(make([]byte, 20)).Bytes(), 14+20+24),
		want:  "a tcp.hdr_len=40 tcp.len=null\n",
	},
	{
		name:  "TCP cut short: no TCP",
		rules: `rule a { match ip log tcp.srcport }`,
		frame: testpkt.Truncate(ipv4TCP().Bytes(), 14+20+19),
		want:  "a tcp.srcport=null\n",
	},
	{
		name:  "UDP length below 8: UDP present",
		rules: `rule a { match udp log udp.length, udp.srcport }`,
		frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(53, 53).Length(3).Bytes(),
		want:  "a udp.length=3 udp.srcport=53\n",
	},
	{
		name:  "ICMP only over IPv4, ICMPv6 only over IPv6",
		rules: `rule a { match icmp || icmpv6 log icmp.type, icmpv6.type }`,
		frame: testpkt.New().IPv6("fe80::1", "ff02::1").Proto(1).Payload(make([]byte, 8)).Bytes(),
		want:  "",
	},
	{
		name:  "ICMPv6 behind hop-by-hop",
		rules: `rule a { match icmpv6.type == 143 log ipv6.nxt, icmpv6.code }`,
		frame: testpkt.New().IPv6("fe80::1", "ff02::16").HopByHop([]byte{5, 2, 0, 0}).ICMPv6(143, 0).Bytes(),
		want:  "a ipv6.nxt=0 icmpv6.code=0\n",
	},
	{
		name:  "IPv6 fragments: the first has UDP, the others not",
		rules: `rule a { match ipv6 log udp.dstport }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 7).UDP(1, 53).Bytes(),
		want:  "a udp.dstport=53\n",
	},
	{
		name:  "IPv6 non-first fragment",
		rules: `rule a { match ipv6 log udp.dstport }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Fragment(100, false, 7).UDP(1, 53).Bytes(),
		want:  "a udp.dstport=null\n",
	},
	{
		name:  "AH of 8 bytes (payload length 0), then TCP",
		rules: `rule a { match tcp log tcp.dstport, tcp.len }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").NextHeader(51).Payload(append([]byte{6, 0, 0, 0, 0, 0, 0, 1}, ipv4TCP().Bytes()[34:]...)).Bytes(),
		want:  "a tcp.dstport=80 tcp.len=0\n",
	},
	{
		name:  "IPv6 payload length 0: TCP present, no tcp.len",
		rules: `rule a { match tcp log ipv6.plen, tcp.len }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").PayloadLength(0).TCP(1, 2).Bytes(),
		want:  "a ipv6.plen=0 tcp.len=null\n",
	},
	{
		name:  "IPv6 version not 6",
		rules: `rule a { match eth log ipv6.src }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").Version(4).Bytes(),
		want:  "a ipv6.src=null\n",
	},
	{
		name:  "7 extension headers, then TCP",
		rules: `rule a { match tcp log tcp.dstport }`,
		frame: ipv6Exts(7),
		want:  "a tcp.dstport=80\n",
	},
	{
		name:  "8 extension headers, then TCP",
		rules: `rule a { match ipv6 log tcp.dstport }`,
		frame: ipv6Exts(8),
		want:  "a tcp.dstport=80\n",
	},
	{
		name:  "9 extension headers: transport not found",
		rules: `rule a { match ipv6 log tcp.dstport }`,
		frame: ipv6Exts(9),
		want:  "a tcp.dstport=null\n",
	},
	{
		name:  "tcp.flags.res is true when any reserved bit is set",
		rules: `rule a { match tcp.flags.res == 1 log tcp.flags.res, tcp.flags }`,
		frame: ipv4TCP().Flags(0x400).Bytes(),
		want:  `a tcp.flags.res=true tcp.flags="0x0400"` + "\n",
	},
	{
		name:  "tcp.flags.res in a set",
		rules: `rule a { match tcp.flags.res in {1} log tcp.flags.res }`,
		frame: ipv4TCP().Flags(0x400).Bytes(),
		want:  "a tcp.flags.res=true\n",
	},
	{
		name:  "frame shorter than a test run takes",
		rules: `rule a { log frame.len } rule b { hook xdp log frame.len }`,
		frame: make([]byte, 13),
		want: "frame 1 (13 bytes) not replayed at tc ingress: shorter than the 14 bytes a test run takes\n" +
			"frame 1 (13 bytes) not replayed at xdp: shorter than the 14 bytes a test run takes\n",
	},
	{
		name:  "runt IPv4 frame: tc rules through XDP",
		rules: `rule a { log frame.len, eth.type, ip.src }`,
		frame: testpkt.Truncate(ipv4TCP().Bytes(), 30),
		want:  `a frame.len=30 eth.type="0x0800" ip.src=null` + "\nvia xdp: 1\n",
	},
	{
		name:  "long frame: tc rules through XDP, XDP rules with fragments",
		rules: `rule a { hook tc egress match tcp log frame.len, tcp.len } rule b { hook xdp log frame.len, tcp.len }`,
		frame: ipv4TCP().Payload(make([]byte, 5000)).Bytes(),
		want:  "a @tc-egress frame.len=5054 tcp.len=5000\nb @xdp frame.len=5054 tcp.len=5000\nvia xdp: 1\n",
	},
	{
		name:  "frame longer than any test run takes",
		rules: `rule a { log frame.len } rule b { hook xdp log frame.len }`,
		frame: make([]byte, 80000),
		want: "frame 1 (80000 bytes) not replayed at tc ingress: longer than the 73152 bytes an XDP test run takes\n" +
			"frame 1 (80000 bytes) not replayed at xdp: longer than the 73152 bytes an XDP test run takes\n",
	},
	{
		name:  "headers past the XDP linear area",
		rules: `rule a { hook xdp log tcp.dstport }`,
		frame: testpkt.New().IPv6("2001:db8::1", "2001:db8::2").HopByHop(make([]byte, 2000)).DestOpts(make([]byte, 2000)).TCP(1, 2).Bytes(),
		want:  "frame 1 (4090 bytes) not replayed at xdp: headers reach past the 3520 bytes an XDP test run holds linear (they end at byte 4090)\n",
	},
}

func TestEdges(t *testing.T) {
	documented := documentedDivergences(t)
	for _, c := range edgeCases {
		t.Run(c.name, func(t *testing.T) {
			checkCase(t, c.rules, [][]byte{c.frame}, c.want, c.bug, documented)
		})
	}
}

// checkCase replays frames through the reference, which must print want,
// and through the kernel, which must print want too, unless bug names the
// known divergence it reproduces.
func checkCase(t *testing.T, src string, frames [][]byte, want, bug string, documented map[string]bool) {
	t.Helper()
	rs := mustRules(t, src)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	replayAll := func(r *runtime.Replayer) string {
		var all strings.Builder
		for i, fr := range frames {
			s, err := replayFrame(r, out.Schema, i+1, fr)
			if err != nil {
				t.Fatal(err)
			}
			all.WriteString(compact(s))
		}
		return all.String()
	}
	if got := replayAll(ref); got != want {
		t.Errorf("reference:\n%swant:\n%s", got, want)
	}
	if bug != "" && !documented[bug] {
		t.Errorf("bug %s is not in kernel-divergences.tsv", bug)
	}

	kerneltest.Require(t)
	kern, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		if bug != "" && explainLoad(rs, err) == bug {
			return
		}
		t.Fatal(err)
	}
	defer kern.Close()
	got := replayAll(kern)
	switch {
	case bug == "" && got != want:
		t.Errorf("kernel:\n%swant:\n%s", got, want)
	case bug != "" && got == want:
		t.Errorf("the kernel now agrees with the reference: known divergence %s is fixed; remove it from kernel-divergences.tsv and this case's bug", bug)
	case bug != "":
		for _, fr := range frames {
			if id := explainFrame(rs, fr); id != "" && id != bug {
				t.Errorf("case reproduces %s, recognised as %s", bug, id)
			}
		}
	}
}

// Frames a tc test run refuses go through an XDP build, whose program sees
// only 3,520 bytes directly. Header fields must lie there (the replay checks
// it); L7 fields are read with bpf_xdp_load_bytes, fragments included. So a
// tc rule and the same rule at XDP log the same for a frame between 3,521
// and 3,712 bytes (both test runs take it), and the XDP build of a tc rule
// logs it for a longer frame.
func TestXDPBuildReadsL7PastTheLinearPart(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, `rule tc { match http.request log http.request.method, http.host, tcp.len }
rule x { hook xdp match http.request log http.request.method, http.host, tcp.len }`)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	for _, pad := range []int{3550, 3600, 3700} {
		req := "GET / HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", pad) + "\r\nHost: example.test\r\n\r\n"
		fr := ipv4TCP().Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(req)).Bytes()
		got, err := replayFrame(k, out.Schema, 1, fr)
		if err != nil {
			t.Fatal(err)
		}
		via := "\n"
		if len(fr) > runtime.DefaultTestRunLimits.TCMaxFrame {
			via = "\nvia xdp: 1\n"
		}
		fields := fmt.Sprintf(`http.request.method="GET" http.host="example.test" tcp.len=%d`, len(req))
		if want := "tc " + fields + "\nx @xdp " + fields + via; compact(got) != want {
			t.Errorf("%d-byte frame:\n%swant:\n%s", len(fr), compact(got), want)
		}
	}
}

// TestTCPLenSnapLength: a frame a capture cut short (tcpdump -s 80, the
// usual way to capture headers) keeps its length on the wire, and tcp.len
// counts what the IP length says up to that length, not the bytes captured:
// tshark gives tcp.len 100 for this frame, and so do the kernel and the
// reference (the reference counted the captured bytes: 25).
func TestTCPLenSnapLength(t *testing.T) {
	full := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1234, 80).Flags(testpkt.ACK).Payload(make([]byte, 100)).Bytes()
	cut := full[:79] // 14 + 20 + 20 + 25 bytes of payload
	const want = "a frame.len=154 ip.len=140 tcp.len=100\n"
	src := `rule a { match tcp log frame.len, ip.len, tcp.len }`
	rs := mustRules(t, src)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(r *runtime.Replayer) string {
		var b []byte
		fr := &runtime.CapturedFrame{Number: 1, Data: cut, OrigLen: len(full)}
		if _, err := r.ReplayFrame(fr, func(ev *runtime.Event) error {
			b = runtime.AppendJSON(b, out.Schema, ev, runtime.Meta{Time: replayEpoch, Frame: 1})
			b = append(b, '\n')
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return compact(string(b))
	}
	ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(ref); got != want {
		t.Errorf("reference: %swant: %s", got, want)
	}
	kerneltest.Require(t)
	kern, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer kern.Close()
	if got := run(kern); got != want {
		t.Errorf("kernel: %swant: %s", got, want)
	}
}
