package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// ktLangTable runs a table of "T expr" / "F expr" lines on one frame in the
// kernel (each expression as a rule and negated, tc ingress and XDP) and in
// the reference evaluator: both must give the table's verdict.
func ktLangTable(t *testing.T, name string, frame []byte, table string) {
	t.Helper()
	var exprs []ktExpr
	for _, line := range strings.Split(table, "\n") {
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
	var src strings.Builder
	for i, e := range exprs {
		fmt.Fprintf(&src, "rule e%d { match %s log frame.len }\n", i, e.Text)
	}
	f, diags := lang.ParseDSL(name+".rules", []byte(src.String()))
	rs, cdiags := rules.Check(f)
	if diags = append(diags, cdiags...); diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	ev, err := reference.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	fired := map[int]bool{}
	for _, e := range ev.Eval(rules.HookTCIngress, frame) {
		fired[e.Rule] = true
	}
	for i, e := range exprs {
		if fired[i] != e.Holds {
			t.Errorf("reference: %s is %v, want %v", e.Text, fired[i], e.Holds)
		}
	}
	kerneltest.Require(t)
	if wrong := ktCheckExprs(t, name, frame, exprs); len(wrong) > 0 {
		t.Errorf("frame %s: %d of %d kernel outcome(s) wrong:\n\t%s", ktHex(frame), len(wrong), 2*len(exprs), strings.Join(wrong, "\n\t"))
	}
}

// TestKernelAddressOrder: <, <=, >, >= and ranges on MAC and IPv6
// addresses order them byte by byte, as unsigned big-endian numbers (as
// Wireshark does); every piece of the address can decide. Expressions from
// Wireshark's display-filter suite (group_ether, group_ipv6) are among them.
func TestKernelAddressOrder(t *testing.T) {
	eth := testpkt.New().Eth("00:aa:00:a3:e3:a4", "ff:ff:ff:ff:ff:ff").
		IPv6("2001:db8::1", "ff05::9999").UDP(5000, 53).Payload(ktPayload(8)).Bytes()
	ktLangTable(t, "order", eth, `
		T eth.src > 00:aa:00:a3:e3:00
		F eth.src > 00:aa:00:a3:e3:a4
		F eth.src > 00:aa:00:a3:e3:ff
		T eth.src >= 00:aa:00:a3:e3:00
		T eth.src >= 00:aa:00:a3:e3:a4
		F eth.src >= 00:aa:00:a3:e3:ff
		F eth.src < 00:aa:00:a3:e3:00
		F eth.src < 00:aa:00:a3:e3:a4
		T eth.src < 00:aa:00:a3:e3:ff
		F eth.src <= 00:aa:00:a3:e3:00
		T eth.src <= 00:aa:00:a3:e3:a4
		T eth.src <= 00:aa:00:a3:e3:ff
		T eth.src < 00:ab:00:00:00:00
		F eth.src < 00:aa:00:a3:00:ff
		T eth.src > 00:a9:ff:ff:ff:ff
		T eth.src lt 01:00:00:00:00:00
		T eth.dst > eth.src
		T eth.dst >= 00:00:00:00:00:00
		F eth.dst < ff:ff:ff:ff:ff:ff
		T eth.addr < 00:aa:00:a3:e3:a5
		T eth.addr > fe:ff:ff:ff:ff:ff
		T eth.src in {00:aa:00:00:00:00..00:aa:00:ff:ff:ff}
		F eth.src in {00:aa:00:a3:e3:a5..00:aa:00:ff:ff:ff}
		T eth.src in {00:00:00:00:00:00..00:aa:00:a3:e3:a4}
		T eth.src in {11:11:11:11:11:11, 00:aa:00:a3:e3:a4..00:aa:00:a3:e3:a4}
		T ipv6.dst > ff05::0000
		F ipv6.dst > ff05::9999
		T ipv6.dst >= ff05::9999
		F ipv6.dst >= ff05::a000
		T ipv6.dst < ff05::a000
		F ipv6.dst < ff05::9999
		T ipv6.dst <= ff05::9999
		F ipv6.dst <= ff05::9998
		T ipv6.dst > ff04:ffff:ffff:ffff:ffff:ffff:ffff:ffff
		F ipv6.dst > ff05:0:0:1::
		T ipv6.dst < ff05:0:0:0:1::
		T ipv6.src < ipv6.dst
		F ipv6.src >= ipv6.dst
		T ipv6.addr > fe00::
		T ipv6.dst in {ff05::1..ff05::ffff}
		F ipv6.dst in {ff05::1..ff05::9998, ff06::..ff07::}
		T ipv6.dst in {::..ff05::9999}
		F ip.src < 255.255.255.255
	`)
	// Absent: every comparison is false, != and ordering against zero included.
	v4 := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes()
	ktLangTable(t, "order_absent", v4, `
		F ipv6.dst >= ::
		F ipv6.dst < ffff::
		F ipv6.dst in {::..ffff::}
		F ipv6.src <= ipv6.dst
		T eth.src < eth.dst
		T eth.src >= 00:00:00:00:00:00
	`)
}

// TestKernelFieldCompare: comparisons between two fields, false when either
// side is absent; Wireshark's any (==, ordering) and all-not-equal (!=)
// over fields with several occurrences.
func TestKernelFieldCompare(t *testing.T) {
	same := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:01").
		IPv4("10.0.0.7", "10.0.0.7").TTL(64).TCP(8080, 8080).Payload(ktPayload(4)).Bytes()
	ktLangTable(t, "fcmp_same", same, `
		T ip.src == ip.dst
		F ip.src != ip.dst
		T tcp.srcport == tcp.dstport
		F tcp.srcport > tcp.dstport
		T tcp.srcport >= tcp.dstport
		T eth.src == eth.dst
		F eth.src != eth.dst
		F ip.addr != ip.src
		T ip.addr == ip.dst
		T tcp.port == tcp.srcport
		F tcp.port != tcp.dstport
		F udp.srcport == udp.dstport
		F udp.srcport != udp.dstport
		F udp.port != tcp.port
		F tcp.srcport == udp.srcport
		T tcp.flags.syn == tcp.flags.ack
		F tcp.hdr_len > ip.ttl
		T ip.ttl > tcp.hdr_len
		F tcp.len == ip.ttl
		T ip.hdr_len == tcp.hdr_len
	`)
	diff := ktFrameIPv4TCP() // 10.1.2.3:40000 -> 192.168.100.200:22, SYN, no ACK
	ktLangTable(t, "fcmp_diff", diff, `
		F ip.src == ip.dst
		T ip.src != ip.dst
		T ip.src < ip.dst
		F ip.dst <= ip.src
		T tcp.srcport > tcp.dstport
		F tcp.srcport <= tcp.dstport
		T tcp.srcport != tcp.dstport
		T eth.src < eth.dst
		T eth.src != eth.dst
		F tcp.flags.syn == tcp.flags.ack
		T tcp.flags.syn != tcp.flags.ack
		T tcp.flags.res == tcp.flags.ece
		T ip.addr == ip.src
		F ip.addr != ip.src
		T tcp.port > tcp.dstport
		F ipv6.src == ipv6.dst
		F ipv6.src != ipv6.dst
	`)
	// Two tags (100 outer, 4095 inner): == holds when any pair matches, !=
	// when every pair of present occurrences differs.
	ktLangTable(t, "fcmp_vlan", ktFrameQinQICMP(), `
		F vlan.id#1 == vlan.id#2
		T vlan.id == vlan.id#2
		F vlan.id != vlan.id#2
		T vlan.id#1 != vlan.id#2
		T vlan.id#2 > vlan.id#1
		T vlan.priority#1 > vlan.priority#2
	`)
	one := testpkt.New().VLAN(testpkt.TPID8021Q, 3, true, 42).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes()
	ktLangTable(t, "fcmp_vlan1", one, `
		F vlan.id#1 == vlan.id#2
		F vlan.id#1 != vlan.id#2
		T vlan.id == vlan.id
		F vlan.id != vlan.id
		T vlan.id != vlan.priority
	`)
}

// TestKernelQuantifiers: Wireshark's any and all before a comparison, and
// ~= (some occurrence differs), on fields with several occurrences (the
// VLAN tags of a QinQ frame, both directions of ip.addr) and on fields with
// one, where they change nothing.
func TestKernelQuantifiers(t *testing.T) {
	// Outer tag 100 (pcp 5), inner 4095 (pcp 0, dei 1); 198.51.100.7 -> 203.0.113.9.
	ktLangTable(t, "quant_qinq", ktFrameQinQICMP(), `
		T any vlan.id == 100
		T any vlan.id == 4095
		F all vlan.id == 100
		F all vlan.id == 4095
		T all vlan.id >= 100
		F all vlan.id > 100
		T any vlan.id > 100
		T all vlan.id in {100, 4000..4095}
		F all vlan.id in {4000..4095}
		T any vlan.id in {4000..4095}
		F vlan.id != 100
		T vlan.id ~= 100
		T any vlan.id != 100
		F all vlan.id != 100
		F vlan.id ~= 100 && vlan.id ~= 4095 && !(vlan.id ~= 5)
		T vlan.id ~= 5
		T all vlan.id != 5
		T all vlan.id#1 == 100
		F all vlan.id#2 == 100
		T all ip.addr != 10.0.0.1
		F all ip.addr == 198.51.100.7
		T any ip.addr == 198.51.100.7
		T ip.addr ~= 198.51.100.7
		F ip.addr != 198.51.100.7
		T all ip.addr > 198.0.0.0
		T all ip.ttl == 255
		T ip.ttl ~= 254
		F ip.ttl ~= 255
		T all vlan.id#2 > vlan.id#1
		F all vlan.id > vlan.id#1
		T any vlan.id > vlan.id#1
		T all vlan.priority >= vlan.priority#2
		F all icmpv6.type == 128
		F icmpv6.type ~= 128
		F all tcp.port != 1
	`)
	// One tag (42): all holds when every present tag does; the inner one
	// is absent.
	one := testpkt.New().VLAN(testpkt.TPID8021Q, 3, true, 42).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes()
	ktLangTable(t, "quant_vlan1", one, `
		T all vlan.id == 42
		F all vlan.id#2 == 42
		T all vlan.id in {42}
		F vlan.id ~= 42
		T vlan.id ~= 41
		F all vlan.id#2 != 1
		T all udp.port < 3
		F all udp.port < 2
		T any udp.port < 2
	`)
}

// TestKernelSlices: Wireshark's slices of address fields in every form
// ([i:n], [i-j], [i], [:n], [i:], negative i), byte-string literals
// (16:03:01:00, aa.bb.ff, 153, 99:), contains, masks on slices, and len();
// expressions of Wireshark's suite (group_ether, group_ipv6, group_ipv4)
// among them.
func TestKernelSlices(t *testing.T) {
	v6 := testpkt.New().Eth("00:aa:00:a3:e3:a4", "03:00:5e:00:00:fb").
		IPv6("2001:db8::1", "ff05::9999").UDP(5000, 53).Payload(ktPayload(8)).Bytes()
	ktLangTable(t, "slice_v6", v6, `
		T eth.src[0:3] == 00:aa:00
		T eth.src[-3:3] == a3:e3:a4
		T eth.src[1:4] == aa:00:a3:e3
		T eth.src[0] == 00
		F eth.src[0] == 01
		T eth.src[1-3] == aa:00:a3
		T eth.src[:2] == 00:aa
		T eth.src[4:] == e3:a4
		T eth.src[-1] == a4
		T eth.src[-1] == 0xa4
		T eth.src[5] == 164
		T eth.src[0:3] != aa.bb.cc
		F eth.src[0:3] == aa.00.a3
		T eth.src[1:3] == aa.00.a3
		F eth.src[0:3] == 00:aa
		F eth.src[0:3] == 00:aa:00:a3
		T eth.src[0:3] != 00:aa:01
		F eth.src[0:3] != 00:aa:00
		T eth.src contains a3:e3
		T eth.src[2:] contains a3:e3:a4
		F eth.src[0:4] contains e3:a4
		T eth.dst[0] & 1
		F eth.src[0] & 1
		T eth.dst[0] & 0x03 == 3
		T eth.src[0:2] & 0xff00 == 0
		T eth.addr[0] & 1
		F all eth.addr[0] & 1 == 1
		T ipv6.dst[14:2] == 99:99
		F ipv6.dst[14:2] == 00:00
		T ipv6.dst[15:1] == 153
		T ipv6.dst[15:1] == 99:
		T ipv6.dst[0:2] == ff:05
		T ipv6.src[-2:] == 00:01
		T ipv6.addr[0:2] == 20:01
		F ip.src[0:2] == ac:19
		T len(eth.src) == 6
		T len(ipv6.dst) == 16
		F len(ip.src) == 4
		T len(ipv6.src)
		F len(ip.src)
		T !len(ip.dst)
	`)
	v4 := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").
		IPv4("172.25.100.14", "198.95.230.20").UDP(1, 2).Bytes()
	ktLangTable(t, "slice_v4", v4, `
		T ip.src[0:2] == ac:19
		T ip.src[2:2] == 64:0e
		F ip.src[2:2] == 64:0f
		T ip.src[3] == 0e
		F ip.src[3] == 14
		T ip.src[3] == 0x0e
		T ip.dst[-1] == 14
		T ip.addr[0] == 0xc6
		T len(ip.src) == 4
		T len(ip.src) >= 4
		F len(ip.src) > 4
		F ipv6.dst[0] == ff
		F ipv6.dst[0] != ff
		F eth.src[0:1] & 0x80
	`)
}
