package compiler_test

import (
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// TestKernelOperators checks, in the kernel, the operators and semantics the
// generated matrix of TestKernelFrames does not reach: either-direction
// fields, CIDR prefixes, address ranges, bit tests and masked comparisons,
// protocol tests, layers of VLAN fields and Wireshark's != on fields with
// several occurrences (it holds when every present occurrence differs), and
// absent fields (every comparison false, != included). Each expression runs
// as a rule and negated, through tc ingress and XDP.
func TestKernelOperators(t *testing.T) {
	kerneltest.Require(t)
	udp4 := testpkt.New().Eth("02:11:22:33:44:55", "0a:bb:cc:dd:ee:ff").
		IPv4("10.1.2.3", "8.8.8.8").UDP(33000, 53).Payload(ktPayload(20)).Bytes()
	vlan1 := testpkt.New().VLAN(testpkt.TPID8021Q, 3, true, 42).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes()
	tables := []struct {
		name  string
		frame []byte
		// Each line is "T expr" (must hold) or "F expr" (must not).
		exprs string
	}{
		// 10.1.2.3:40000 -> 192.168.100.200:22, TCP flags 0x1aa (AE CWR URG
		// PSH SYN), 02:11:22:33:44:55 -> 0a:bb:cc:dd:ee:ff.
		{"ipv4_tcp", ktFrameIPv4TCP(), `
			T ip.addr == 10.1.2.3
			T ip.addr == 192.168.100.200
			F ip.addr == 10.1.2.4
			F ip.addr != 10.1.2.3
			F ip.addr != 192.168.100.200
			T ip.addr != 1.1.1.1
			T ip.addr ne 1.1.1.1
			T ip.addr == 192.168.0.0/16
			F ip.addr == 172.16.0.0/12
			F ip.addr != 10.0.0.0/8
			T ip.addr != 172.16.0.0/12
			T ip.addr in {172.16.0.0/12, 192.168.0.0/16}
			F ip.addr in {172.16.0.0/12, 11.0.0.0/8}
			T ip.addr in {1.1.1.1, 10.1.2.0..10.1.2.3}
			T ip.src == 10.0.0.0/8
			T ip.src == 10.1.2.3/32
			F ip.src == 10.1.2.2/32
			T ip.src == 10.1.2.2/31
			F ip.src == 10.1.2.4/30
			T ip.src == 0.0.0.0/0
			F ip.src != 0.0.0.0/0
			T ip.dst == 192.168.100.192/26
			F ip.dst == 192.168.100.0/25
			T ip.dst != 192.168.100.0/25
			T ip.src in {10.1.2.1..10.1.2.5}
			F ip.src in {10.1.2.4..10.1.2.9}
			T ip.src in {0.0.0.0..10.1.2.3}
			T ip.dst in {192.168.100.200..255.255.255.255}
			T ip.src > 10.1.2.2
			F ip.src > 10.1.2.3
			T ip.src gt 9.255.255.255
			F ip.src < 10.1.2.3
			T ip.dst >= 192.168.100.200
			T ip.dst le 192.168.100.200
			T ip.dst > 128.0.0.0
			T tcp.port == 22
			T tcp.port == 40000
			F tcp.port == 80
			F tcp.port != 22
			F tcp.port != 40000
			T tcp.port != 80
			T tcp.port in {80, 443, 20..25}
			F tcp.port in {1..21, 23..39999, 40001..65535}
			T tcp.port > 39999
			F tcp.port > 40000
			T tcp.port < 23
			F tcp.port < 22
			T tcp.port <= 22
			T tcp.port >= 40000
			F udp.port == 22
			F udp.port != 22
			T eth.addr == 02:11:22:33:44:55
			T eth.addr == 0a:bb:cc:dd:ee:ff
			F eth.addr == ff:ff:ff:ff:ff:ff
			F eth.addr != 02:11:22:33:44:55
			T eth.addr != ff:ff:ff:ff:ff:ff
			T eth.addr in {ff:ff:ff:ff:ff:ff, 0a:bb:cc:dd:ee:ff}
			F eth.addr in {ff:ff:ff:ff:ff:ff, 00:00:00:00:00:00}
			T eth.src == 02:11:22:33:44:55 && eth.dst == 0a:bb:cc:dd:ee:ff
			F ipv6.addr == ::/0
			F ipv6.addr != 2001:db8::1
			T !ipv6.addr
			T tcp.flags & 0x02
			F tcp.flags & 0x10
			T tcp.flags & 0x12
			F tcp.flags & 0x0c51
			T tcp.flags & 0x12 == 0x02
			F tcp.flags & 0x12 == 0x12
			T tcp.flags & 0x12 != 0x12
			F tcp.flags & 0x12 != 0x02
			T tcp.flags & 0x0fff == 0x1aa
			T tcp.flags & 0x3f in {0x2a}
			F tcp.flags & 0x3f in {0x02, 0x12}
			T tcp.flags & 0x3f in {0x20..0x2f}
			T tcp.flags & 0xff > 0xa9
			F tcp.flags & 0xff >= 0xab
			T ip.dsfield & 0xfc == 0xb8
			T ip.dsfield & 0x03 == 1
			T ip.flags & 2
			F ip.flags & 1
			F ip.flags & 5
			T ip.frag_offset & 0x1fff == 0
			F ip.frag_offset & 0x1fff
			T tcp.dstport & 0xff00 == 0
			T tcp.srcport & 0xff00 == 0x9c00
			T tcp.srcport & 0xff in {0x40, 0x41}
			T tcp.srcport & 0xff00 > 0x9b00
			F tcp.srcport & 0xff < 0x40
			T tcp.seq_raw & 0xffff0000 == 0x3b9a0000
			T tcp.ack_raw & 0x80000000
			T ip.id & 0xff == 0x34
			T ip.ttl & 0x80 == 0
			T tcp.hdr_len & 0x3c == 20
			T ip.hdr_len & 4
			T frame
			T eth
			T ip
			T tcp
			F udp
			T !udp
			F icmp
			F icmpv6
			T !icmpv6
			F ipv6
			F vlan
			T !vlan
			T tcp.len
			T tcp.len == 5
			T tcp.len in {1..10}
			F tcp.len > 5
			T eth.type
			T eth.type == 0x0800
			T eth.type in {0x0800, 0x86dd}
			T eth.type > 0x05ff
			T frame.len == 59
			T frame.len >= 59
			F frame.len < 59
			F !tcp.flags.ack
			T tcp.flags.syn == 1 and not tcp.flags.ack == 1
			T tcp.flags.syn == true && tcp.flags.ack == false
			T tcp.flags.ack != true
			F tcp.flags.ack != false
			T tcp.flags.ack eq 0
			T udp or tcp.dstport eq 22
			F udp || tcp.dstport eq 23
			T !(udp || tcp.dstport eq 23)
			T (tcp.dstport == 22 || tcp.dstport == 2222) && !(ip.src == 192.168.0.0/16)
			T ip.src == 10.0.0.0/8 && tcp.dstport in {22, 2222} && tcp.flags.syn == 1 && tcp.flags.ack == 0
			F ip.src == 10.0.0.0/8 && tcp.dstport in {22, 2222} && tcp.flags.syn == 1 && tcp.flags.ack == 1
			F vlan.id != 5
			F vlan.id == 0
			T !vlan.id
		`},
		// Absent fields: on UDP, every TCP comparison is false, != included;
		// only the negations hold.
		{"ipv4_udp", udp4, `
			F tcp.dstport != 22
			F tcp.dstport == 22
			F tcp.dstport == 0
			F tcp.dstport < 65535
			F tcp.dstport >= 0
			F tcp.dstport in {0..65535}
			F tcp.dstport & 0xffff
			F tcp.dstport & 0xffff == 0
			T !(tcp.dstport == 22)
			T !tcp
			T !tcp.dstport
			F tcp.port != 22
			F tcp.port == 0
			F tcp.flags.syn == 0
			F tcp.flags.syn != 1
			F tcp.flags.res == 0
			F tcp.len == 0
			F tcp.len != 0
			F icmp.type != 8
			F icmpv6.type != 128
			F ipv6.src != 2001:db8::1
			F ipv6.src == ::
			F ipv6.src == ::/0
			T udp.port == 53
			T udp.port == 33000
			F udp.port != 53
			T udp.port != 54
			T udp.port in {53, 5353}
			T udp.srcport > 32767 && udp.dstport < 1024
			T udp.length == 28
			T ip.addr == 8.8.8.8 && ip.addr == 10.1.2.3
			F ip.addr == 8.8.8.8 && ip.addr == 10.1.2.4
		`},
		// Two tags: outer 0x88a8 id 100 pcp 5 dei 0, inner 0x8100 id 4095
		// pcp 0 dei 1; a field without a layer stands for any occurrence,
		// and != for "every present occurrence differs".
		{"qinq_icmp", ktFrameQinQICMP(), `
			T vlan
			T vlan.id == 100
			T vlan.id == 4095
			F vlan.id == 5
			T vlan.id#1 == 100
			F vlan.id#2 == 100
			T vlan.id#2 == 4095
			F vlan.id#1 == 4095
			F vlan.id != 100
			F vlan.id != 4095
			T vlan.id != 5
			T vlan.id#1 != 4095
			F vlan.id#2 != 4095
			T vlan.id#2 != 100
			T vlan.id in {100}
			T vlan.id in {4000..4095}
			F vlan.id#1 in {4000..4095}
			F vlan.id in {0..99, 101..4094}
			T vlan.id > 4094
			T vlan.id < 101
			F vlan.id#2 < 4095
			T vlan.etype == 0x0800
			T vlan.etype == 0x8100
			F vlan.etype#1 == 0x0800
			F vlan.etype != 0x0800
			T vlan.etype != 0x86dd
			T vlan.dei == 1
			F vlan.dei#1 == 1
			F vlan.dei != 1
			F vlan.dei != 0
			T vlan.dei#2
			T vlan.priority > 4
			F vlan.priority#2 > 0
			T vlan.priority#2 == 0
			F vlan.priority != 0
			T vlan.id & 0x0f00 == 0x0f00
			F vlan.id#1 & 0x0f00
			T vlan.id#2
			T vlan.id#1
			T eth.type == 0x88a8
			T icmp && icmp.type == 8 && icmp.code == 0
			T icmp.type in {0, 8}
			F icmpv6
			F tcp.port != 1
		`},
		// One tag, id 42: != needs layer 1 present and differing; the
		// absent inner layer does not count.
		{"vlan1_udp", vlan1, `
			T vlan.id != 5
			F vlan.id != 42
			T vlan.id == 42
			F vlan.id#2 != 5
			F vlan.id#2 == 0
			T !vlan.id#2
			T vlan.id#1
			T vlan.priority == 3 && vlan.dei == 1
			F vlan.dei != 1
			T vlan.etype != 0x86dd
			T eth.type == 0x8100
		`},
		// 2001:db8::1 -> 2001:db8::2, extension headers, UDP 5000 -> 53.
		{"ipv6_ext_udp", ktFrameIPv6ExtUDP(), `
			T ipv6.addr == 2001:db8::2
			T ipv6.addr == 2001:db8::1
			F ipv6.addr == 2001:db8::3
			T ipv6.addr == 2001:db8::/32
			F ipv6.addr != 2001:db8::/32
			T ipv6.addr != 2001:db9::/32
			F ipv6.addr != 2001:db8::1
			T ipv6.addr != 2001:db8::3
			T ipv6.src == 2001:db8::/127
			F ipv6.dst == 2001:db8::/127
			T ipv6.dst == 2001:db8::/126
			T ipv6.src == ::/0
			T ipv6.src == 2001:db8:0:0:0:0:0:1/128
			T ipv6.src == 2001:db8::1/64
			F ipv6.src == 2001:db8:0:1::/64
			T ipv6.src == 2000::/3
			F ipv6.src == 4000::/3
			T ipv6.addr in {fe80::/10, 2001:db8::2}
			F ipv6.addr in {fe80::/10, 2001:db8::3}
			T ipv6.src in {2001:db8::/120}
			T ipv6 && udp && !tcp && !ip
			T udp.dstport == 53 && udp.port == 5000
			F ip.addr != 10.0.0.1
			F ip.addr == 0.0.0.0/0
			T ipv6.nxt == 0 && ipv6.plen > 8
		`},
	}
	for _, tb := range tables {
		t.Run(tb.name, func(t *testing.T) {
			t.Parallel()
			var exprs []ktExpr
			for _, line := range strings.Split(tb.exprs, "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				verdict, text, _ := strings.Cut(line, " ")
				if verdict != "T" && verdict != "F" {
					t.Fatalf("bad table line %q", line)
				}
				exprs = append(exprs, ktExpr{Text: text, Holds: verdict == "T"})
			}
			if wrong := ktCheckExprs(t, tb.name, tb.frame, exprs); len(wrong) > 0 {
				t.Errorf("frame %s: %d of %d match expression outcome(s) wrong:\n\t%s",
					ktHex(tb.frame), len(wrong), 2*len(exprs), strings.Join(wrong, "\n\t"))
			}
		})
	}
}
