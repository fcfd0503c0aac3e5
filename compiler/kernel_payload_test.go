package compiler_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// Byte fields (tcp.payload, udp.payload, frame) in the kernel, with
// outcomes worked out by hand from how each frame is built: slices in
// every form, contains, ==, !=, matches, masks and len(), the window of
// rules.PayloadWindow bytes (a test needing a byte past it is false), and
// the values events carry.

// payCase is a frame and the expressions that must hold or fail on it.
type payCase struct {
	name       string
	frame      []byte
	hold, fail []string
}

func TestKernelPayload(t *testing.T) {
	kerneltest.Require(t)
	get := []byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n") // 42 bytes
	n := len(get)
	w := rules.PayloadWindow
	long := bytes.Repeat([]byte{'.'}, 3000)
	copy(long[2030:], "hdrlog") // within the window
	copy(long[w-4:], "tail")    // its last four bytes
	copy(long[2500:], "MARKER") // past it
	straddle := bytes.Repeat([]byte{'.'}, 2100)
	copy(straddle[w-3:], "edge!!") // across the window's end
	digits := []byte("0123456789")
	cases := []payCase{
		{name: "tcp_get", frame: tcpFrame(40000, 8080, get),
			hold: []string{"tcp.payload", "!udp.payload", `tcp.payload[0:4] == "GET "`, "tcp.payload[0:4] == 47:45:54:20", `tcp.payload[:3] == "GET"`,
				`tcp.payload[0-3] == "GET "`, `tcp.payload[4:] contains "HTTP/1.1"`, "tcp.payload[-4:] == 0d:0a:0d:0a", "tcp.payload[-1] == 0a",
				"tcp.payload[-4:4] == 0d:0a:0d:0a", "tcp.payload[0] & 0x40", "tcp.payload[0] == 0x47", "tcp.payload[1:2] & 0xffff == 0x4554",
				"tcp.payload[0:4] & 0xff000000 == 0x47000000", `tcp.payload contains "Host:"`, "tcp.payload contains 0d:0a", `tcp.payload contains "GET"`,
				`tcp.payload matches "^get /"`, `tcp.payload matches "a\\.test\r\n\r\n$"`, `tcp.payload matches "HOST: A"`, `tcp.payload matches "(?-i)Host: a"`,
				fmt.Sprintf("len(tcp.payload) == %d", n), fmt.Sprintf("len(tcp.payload) >= %d", n), "frame[12:2] == 08:00", `frame contains "GET /index"`,
				fmt.Sprintf("len(frame) == %d", 14+20+20+n), fmt.Sprintf("tcp.payload[%d:1] != 00", n), "tcp.payload[0:4] != 00:00:00:00",
				fmt.Sprintf("tcp.payload[%d:] == 0a", n-1), fmt.Sprintf("tcp.payload[%d:2] == 47:45", -n), fmt.Sprintf("tcp.payload[%d:1]", n-1),
				fmt.Sprintf("tcp.payload != %q", get[:n-1]), "tcp.payload[0:2] != 47:46", fmt.Sprintf("tcp.payload == %q", get),
				"frame[0:6] == 02:00:00:00:00:02", "frame[-2:] == 0d:0a"},
			fail: []string{`tcp.payload[0:4] == "POST"`, fmt.Sprintf("tcp.payload[%d:1] == 00", n), fmt.Sprintf("tcp.payload[%d:1]", n),
				fmt.Sprintf("tcp.payload[%d:2] == 47:45", -n-1), fmt.Sprintf("tcp.payload[%d:2] != 47:45", -n), `tcp.payload contains "host:"`,
				`tcp.payload matches "(?-i)^get"`, `tcp.payload == "GET"`, fmt.Sprintf("len(tcp.payload) > %d", n), "udp.payload",
				`tcp.payload[0:4] != "GET "`, "tcp.payload[0] & 0x80", "tcp.payload[0] == 0x48", `tcp.payload[1:] contains "GET"`,
				`tcp.payload matches "^get /$"`, `frame contains "POST"`, "frame[12:2] == 86:dd", "tcp.payload[-1] == 0d"}},
		{name: "tcp_past_the_window", frame: tcpFrame(40000, 9000, long),
			hold: []string{"tcp.payload", `tcp.payload contains "hdrlog"`, `tcp.payload[2030:6] == "hdrlog"`, "len(tcp.payload) == 3000",
				"tcp.payload[2999:1]", "tcp.payload[2990:]", `tcp.payload contains "tail"`, fmt.Sprintf(`tcp.payload[%d:4] == "tail"`, w-4),
				fmt.Sprintf(`tcp.payload[%d:4] == "tail"`, w-4-3000), fmt.Sprintf(`tcp.payload[%d:] contains "hdrlog"`, 2030),
				"tcp.payload[3000:1] != 00", `tcp.payload matches "^\\.\\.\\."`},
			// A test that needs a byte past the window is false, != too.
			fail: []string{`tcp.payload contains "MARKER"`, `tcp.payload[2500:6] == "MARKER"`, `tcp.payload[2500:6] != "XXXXXX"`,
				fmt.Sprintf(`tcp.payload[%d:4] != "tail"`, w-3), "tcp.payload[-1] == 2e", "tcp.payload[2999] & 0xff",
				`tcp.payload matches "\\.\\.\\.$"`, `frame contains "tail"`, `tcp.payload[2031:] contains "hdrlog"`}},
		{name: "tcp_across_the_window", frame: tcpFrame(40000, 9000, straddle),
			hold: []string{`tcp.payload contains "edg"`, fmt.Sprintf(`tcp.payload[%d:3] == "edg"`, w-3), "len(tcp.payload) == 2100"},
			fail: []string{`tcp.payload contains "edge"`, fmt.Sprintf(`tcp.payload[%d:4] == "edge"`, w-3), `tcp.payload contains "edge!!"`, fmt.Sprintf(`tcp.payload[%d:6] == "edge!!"`, w-3),
				fmt.Sprintf(`tcp.payload[%d:6] != "edge!?"`, w-3), fmt.Sprintf(`tcp.payload[%d:] contains "!"`, w-3)}},
		{name: "udp_small", frame: udpFrame(40000, 9, []byte("x")),
			hold: []string{"udp.payload", `udp.payload == "x"`, "udp.payload == 78", "len(udp.payload) == 1", "udp.payload[0] == 78",
				`udp.payload contains "x"`, `udp.payload matches "^X$"`, `udp.payload != "xy"`, "udp.payload[-1:] == 78"},
			fail: []string{"tcp.payload", `udp.payload == "xy"`, "udp.payload[1:1]", "udp.payload[1:1] == 00", `udp.payload contains "xx"`, `udp.payload matches "(?-i)^X"`}},
		{name: "udp_length_shorter", frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(40000, 9).Length(8 + 4).Payload(digits).Bytes(),
			hold: []string{`udp.payload == "0123"`, "len(udp.payload) == 4", `frame contains "6789"`, "udp.payload[-1] == 33"},
			fail: []string{`udp.payload contains "4"`, "udp.payload[4:1]"}},
		{name: "ip_length_shorter", frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(20+20+3).TCP(1, 2).Payload(digits).Bytes(),
			hold: []string{`tcp.payload == "012"`, "len(tcp.payload) == 3", "len(frame) == 64"},
			fail: []string{`tcp.payload contains "3"`}},
		{name: "ip_length_zero", frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(0).TCP(1, 2).Payload(digits).Bytes(),
			hold: []string{`tcp.payload == "0123456789"`, "len(tcp.payload) == 10"}},
		{name: "tcp_reset_data", frame: testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Flags(testpkt.RST | testpkt.ACK).Payload(digits).Bytes(),
			hold: []string{"!tcp.payload", "tcp.len == 10", `frame contains "0123"`}, fail: []string{"tcp.payload", "len(tcp.payload) == 10", "tcp.payload[0:1] != 00"}},
		{name: "tcp_empty", frame: tcpFrame(40000, 9, nil),
			hold: []string{"!tcp.payload", "tcp.len == 0"}, fail: []string{"tcp.payload", "tcp.payload[0:] != 00", "len(tcp.payload) == 0", "tcp.payload[0:1]"}},
		{name: "vlan_tag_inline", frame: testpkt.New().VLAN(testpkt.TPID8021Q, 5, false, 42).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Payload(digits).Bytes(),
			hold: []string{"frame[12:2] == 81:00", "frame[14:2] & 0x0fff == 42", "frame[16:2] == 08:00", `udp.payload == "0123456789"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var exprs []ktExpr
			for _, e := range c.hold {
				exprs = append(exprs, ktExpr{e, true})
			}
			for _, e := range c.fail {
				exprs = append(exprs, ktExpr{e, false})
			}
			if wrong := ktCheckExprs(t, "pay_"+c.name, c.frame, exprs); len(wrong) > 0 {
				t.Errorf("frame %s: %d match expression outcome(s) wrong:\n\t%s", ktHex(c.frame), len(wrong), strings.Join(wrong, "\n\t"))
			}
		})
	}
}

// TestKernelPayloadLog: events carry a byte field's first bytes (64 by
// default, maxlen more or fewer) as hex pairs, its length and whether it
// was cut.
func TestKernelPayloadLog(t *testing.T) {
	kerneltest.Require(t)
	get := []byte("GET / HTTP/1.1\r\n\r\n")
	long := bytes.Repeat([]byte("0123456789"), 30)
	hexOf := func(b []byte) string { return fmt.Sprintf("%q", rules.BytesString(b)) }
	l7RunCases(t, []string{"tcp.payload", "udp.payload"}, []l7Case{
		{Name: "short", Frame: tcpFrame(40000, 9, get), Want: fmt.Sprintf(`{"tcp.payload":%s}`, hexOf(get))},
		{Name: "long", Frame: tcpFrame(40000, 9, long), Want: fmt.Sprintf(`{"tcp.payload":%s,"tcp.payload.truncated":true,"tcp.payload.len":300}`, hexOf(long[:64]))},
		{Name: "udp", Frame: udpFrame(40000, 9, []byte{0, 1, 0xff}), Want: `{"udp.payload":"00:01:ff"}`},
		{Name: "none", Frame: tcpFrame(40000, 9, nil), Want: `{}`},
	})
	t.Run("maxlen", func(t *testing.T) {
		l7RunCases(t, []string{"tcp.payload"}, []l7Case{
			{Name: "cut", Frame: tcpFrame(40000, 9, long), Want: fmt.Sprintf(`{"tcp.payload":%s,"tcp.payload.truncated":true,"tcp.payload.len":300}`, hexOf(long[:9]))},
			{Name: "whole", Frame: tcpFrame(40000, 9, get), Want: fmt.Sprintf(`{"tcp.payload":%s,"tcp.payload.truncated":true,"tcp.payload.len":%d}`, hexOf(get[:9]), len(get))},
		}, "maxlen tcp.payload 9")
	})
}
