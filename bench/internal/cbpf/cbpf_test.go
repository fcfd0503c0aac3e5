package cbpf

import (
	"os/exec"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// `tcpdump -ddd -y EN10MB 'tcp dst port 22'` (libpcap 1.10).
const tcpPort22 = `16
40 0 0 12
21 0 4 34525
48 0 0 20
21 0 11 6
40 0 0 56
21 8 9 22
21 0 8 2048
48 0 0 23
21 0 6 6
40 0 0 20
69 4 0 8191
177 0 0 14
72 0 0 16
21 0 1 22
6 0 0 262144
6 0 0 0
`

func TestParse(t *testing.T) {
	prog, err := Parse([]byte(tcpPort22))
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != 16 {
		t.Fatalf("%d instructions, want 16", len(prog))
	}
	if want := (Insn{Code: 0x15, Jt: 8, Jf: 9, K: 22}); prog[5] != want {
		t.Fatalf("instruction 5 is %+v, want %+v", prog[5], want)
	}
	for _, bad := range []string{"", "2\n6 0 0 0\n", "1\n6 0 0\n", "1\nx 0 0 0\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestTranslateShape(t *testing.T) {
	prog, _ := Parse([]byte(tcpPort22))
	for _, mode := range []Mode{LdAbs, Direct} {
		insns, err := Translate(prog, mode)
		if err != nil {
			t.Fatal(err)
		}
		abs := 0
		for _, ins := range insns {
			if ins.OpCode.Class() == asm.LdClass && (ins.OpCode.Mode() == asm.AbsMode || ins.OpCode.Mode() == asm.IndMode) {
				abs++
			}
		}
		// 7 packet loads in the classic program, ldxb 4*([14]&0xf) included.
		if want := map[Mode]int{LdAbs: 7, Direct: 0}[mode]; abs != want {
			t.Errorf("mode %d: %d LD_ABS/LD_IND, want %d", mode, abs, want)
		}
	}
}

// TestTranslateKernel checks, in the kernel, that translations match the
// frames libpcap's filters are meant to match.
func TestTranslateKernel(t *testing.T) {
	kerneltest.Require(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("tcpdump not installed")
		}
		t.Skip("tcpdump not installed")
	}
	syn := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1234, 22).Flags(testpkt.SYN).PadTo(60).Bytes()
	syn6 := testpkt.New().IPv6("fd00::1", "fd00::2").TCP(1234, 22).Flags(testpkt.SYN).Bytes()
	udp := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").UDP(1234, 53).PadTo(60).Bytes()
	tagged := testpkt.New().VLAN(testpkt.TPID8021Q, 0, false, 42).IPv4("10.0.0.1", "10.0.0.2").TCP(1234, 443).Bytes()
	opts := testpkt.New().IPv4("10.0.0.1", "10.0.0.2").Options([]byte{1, 1, 1, 1}).TCP(1234, 22).Bytes()
	cases := []struct {
		expr  string
		frame []byte
		match bool
	}{
		{"tcp dst port 22", syn, true},
		{"tcp dst port 22", syn6, true},
		{"tcp dst port 22", opts, true}, // ldxb 4*([14]&0xf): IPv4 options
		{"tcp dst port 22", udp, false},
		{"udp port 53", udp, true},
		{"tcp[tcpflags] & tcp-syn != 0", syn, true},
		{"src net 10.0.0.0/8 and len >= 60", syn, true},
		{"vlan 42 and tcp dst port 443", tagged, true},
		{"vlan 43 and tcp dst port 443", tagged, false},
	}
	for _, c := range cases {
		classic, err := Compile(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []Mode{LdAbs, Direct} {
			insns, err := Translate(classic, mode)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
			if err != nil {
				t.Fatalf("%q mode %d: %v", c.expr, mode, err)
			}
			ret, _, err := prog.Test(c.frame)
			prog.Close()
			if err != nil {
				t.Fatal(err)
			}
			if (ret != 0) != c.match {
				t.Errorf("%q mode %d: returned %d, want match=%v", c.expr, mode, ret, c.match)
			}
		}
	}
}
