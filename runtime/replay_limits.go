package runtime

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// TestRunLimits are the frame sizes BPF_PROG_TEST_RUN accepts. They follow
// from the page size and the size of struct skb_shared_info (which
// CONFIG_MAX_SKB_FRAGS changes), so they are measured on the running kernel
// (ProbeTestRunLimits) rather than assumed.
//
// Measured on Linux 6.18, x86-64, 4 KiB pages (DefaultTestRunLimits):
//
//   - both program types refuse frames shorter than 14 bytes (ETH_HLEN);
//   - a tc (SCHED_CLS) test run also refuses a frame whose Ethernet type is
//     IPv4 (0x0800) and that has fewer than 20 bytes after the Ethernet
//     header, or IPv6 (0x86dd) and fewer than 40 (the kernel pulls the
//     network header whatever it holds): 34 and 54 bytes at least;
//   - a tc test run takes at most 3,712 bytes: one page less the headroom
//     and the skb_shared_info (4096 - 64 - 320); longer frames fail with
//     EINVAL;
//   - an XDP test run holds at most 3,520 bytes linear (4096 - 256 of
//     XDP_PACKET_HEADROOM - 320); longer frames are accepted, the rest going
//     to fragments the program cannot read directly but that count in
//     bpf_xdp_get_buff_len, up to 73,152 bytes (3,520 + 17 fragment pages);
//     longer frames fail with ENOMEM.
type TestRunLimits struct {
	MinFrame    int // shortest frame either program type accepts
	TCMinIPv4   int // shortest frame of Ethernet type 0x0800 a tc test run accepts
	TCMinIPv6   int // shortest frame of Ethernet type 0x86dd a tc test run accepts
	TCMaxFrame  int // longest frame a tc test run accepts
	XDPLinear   int // bytes an XDP program sees directly
	XDPMaxFrame int // longest frame an XDP test run accepts
}

// DefaultTestRunLimits are the limits measured on Linux 6.18, x86-64, 4 KiB
// pages. Replays without the kernel (--no-kernel) use them.
var DefaultTestRunLimits = TestRunLimits{MinFrame: 14, TCMinIPv4: 34, TCMinIPv6: 54, TCMaxFrame: 3712, XDPLinear: 3520, XDPMaxFrame: 73152}

var probed struct {
	once   sync.Once
	limits TestRunLimits
	err    error
}

// ProbeTestRunLimits measures the running kernel's test-run limits with two
// trivial programs (about 60 test runs, once per process).
func ProbeTestRunLimits() (TestRunLimits, error) {
	probed.once.Do(func() { probed.limits, probed.err = probeLimits() })
	return probed.limits, probed.err
}

func probeLimits() (TestRunLimits, error) {
	// Each program returns data_end - data: the bytes it sees linear.
	load := func(typ ebpf.ProgramType, data, end int16) (*ebpf.Program, error) {
		return ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: typ, License: "GPL",
			Instructions: asm.Instructions{
				asm.LoadMem(asm.R2, asm.R1, data, asm.Word),
				asm.LoadMem(asm.R0, asm.R1, end, asm.Word),
				asm.Sub.Reg(asm.R0, asm.R2),
				asm.Return(),
			},
		})
	}
	tc, err := load(ebpf.SchedCLS, 76, 80) // __sk_buff.data, data_end
	if err != nil {
		return TestRunLimits{}, explainProbe(err)
	}
	defer tc.Close()
	xdp, err := load(ebpf.XDP, 0, 4) // xdp_md.data, data_end
	if err != nil {
		return TestRunLimits{}, explainProbe(err)
	}
	defer xdp.Close()

	run := func(p *ebpf.Program, n int, etherType ...byte) (int, bool, error) {
		frame := make([]byte, n)
		if len(etherType) == 2 && n >= 14 {
			copy(frame[12:], etherType)
		}
		ret, err := p.Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.E2BIG) {
			return 0, false, nil
		}
		return int(ret), err == nil, err
	}
	// largest returns the largest n in [lo, hi] that p accepts, given that
	// it accepts lo and the accepted sizes form an interval.
	largest := func(p *ebpf.Program, lo, hi int) (int, error) {
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			_, ok, err := run(p, mid)
			if err != nil {
				return 0, err
			}
			if ok {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return lo, nil
	}
	var l TestRunLimits
	for l.MinFrame = 1; l.MinFrame <= 64; l.MinFrame++ {
		_, okTC, err := run(tc, l.MinFrame)
		if err != nil {
			return l, err
		}
		_, okXDP, err := run(xdp, l.MinFrame)
		if err != nil {
			return l, err
		}
		if okTC && okXDP {
			break
		}
	}
	if l.MinFrame > 64 {
		return l, errors.New("probe test-run limits: no frame of up to 64 bytes is accepted by both tc and XDP test runs")
	}
	smallest := func(etherType ...byte) (int, error) {
		for n := l.MinFrame; n <= 256; n++ {
			if _, ok, err := run(tc, n, etherType...); ok || err != nil {
				return n, err
			}
		}
		return 0, fmt.Errorf("probe test-run limits: no tc test run of Ethernet type %#x up to 256 bytes", etherType)
	}
	if l.TCMinIPv4, err = smallest(0x08, 0x00); err != nil {
		return l, err
	}
	if l.TCMinIPv6, err = smallest(0x86, 0xdd); err != nil {
		return l, err
	}
	if l.TCMaxFrame, err = largest(tc, l.MinFrame, 1<<16); err != nil {
		return l, err
	}
	if l.XDPMaxFrame, err = largest(xdp, l.MinFrame, 1<<20); err != nil {
		return l, err
	}
	if l.XDPLinear, _, err = run(xdp, l.XDPMaxFrame); err != nil {
		return l, err
	}
	return l, nil
}

// explainProbe turns a refused probe into the one-line privilege error that
// `check` and `run` give, naming the capabilities the process lacks.
func explainProbe(err error) error {
	if isPermissionError(err) {
		return privilegeError(ErrPrivilege, err, capBPF, capNetAdmin, capPerfmon)
	}
	return fmt.Errorf("probe test-run limits: %w", err)
}
