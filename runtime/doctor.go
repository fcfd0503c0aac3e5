package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Finding is one thing `hdrlog doctor` looked at: what it found and, when
// that keeps hdrlog from working, what to do about it.
type Finding struct {
	Check  string // what was looked at ("tcx links")
	OK     bool   // false: something hdrlog needs is missing
	Info   bool   // informational: neither needed nor missing
	Detail string // what was found
	Fix    string // what to do when !OK
}

// needed are the capabilities `run`, `check` and `test` use. CAP_PERFMON
// is needed for the pointer arithmetic of the generated programs.
var needed = []capability{capBPF, capNetAdmin, capPerfmon}

// Doctor probes the kernel and the process for everything hdrlog needs and
// says, for each missing piece, what to do. It loads nothing that stays:
// every probe program is closed before it returns, and the attach probes
// name an interface that does not exist, so that nothing is attached.
func Doctor() []Finding {
	var fs []Finding
	add := func(f Finding) { fs = append(fs, f) }

	var uts unix.Utsname
	release := "unknown"
	if unix.Uname(&uts) == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	maj, min := kernelVersion(release)
	kv := Finding{Check: "kernel", Detail: "Linux " + release, OK: maj > 6 || maj == 6 && min >= 6}
	if !kv.OK {
		kv.Fix = "hdrlog attaches tc programs through tcx links, which need Linux 6.6 or later; upgrade the kernel"
	}
	add(kv)

	add(capabilityFinding())

	lim := Finding{Check: "memlock", Info: true, OK: true}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl) == nil {
		lim.Detail = "RLIMIT_MEMLOCK " + rlimitText(rl.Cur)
	}
	if maj > 5 || maj == 5 && min >= 11 {
		lim.Detail += " (not used: since Linux 5.11 BPF memory is charged to the cgroup)"
	} else if rl.Cur != unix.RLIM_INFINITY {
		lim.Info, lim.OK = false, false
		lim.Fix = "raise the memlock limit (ulimit -l unlimited, or LimitMEMLOCK=infinity in a systemd unit)"
	}
	add(lim)

	_, err := btf.LoadKernelSpec()
	add(probe("kernel BTF", err, "/sys/kernel/btf/vmlinux", "not needed for packet rules; the system-call and process features need a kernel built with CONFIG_DEBUG_INFO_BTF=y", true))

	add(probe("program type sched_cls (tc)", features.HaveProgramType(ebpf.SchedCLS), "supported", "", false))
	add(probe("program type xdp", features.HaveProgramType(ebpf.XDP), "supported", "", false))
	add(probe("ring buffer maps", features.HaveMapType(ebpf.RingBuf), "supported", "hdrlog hands events over through a BPF ring buffer (Linux 5.8)", false))
	add(probe("tcx links", attachProbe(ebpf.SchedCLS, func(p *ebpf.Program) error {
		l, err := link.AttachTCX(link.TCXOptions{Interface: noSuchIfindex, Program: p, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			l.Close()
		}
		return err
	}), "supported", "tc rules attach through tcx links (Linux 6.6)", false))
	// An XDP link to a missing interface fails with EINVAL, as it does on a
	// kernel without XDP links: only attaching for real would tell, so the
	// kernel version decides.
	xdpLinks := Finding{Check: "xdp links", OK: maj > 5 || maj == 5 && min >= 9, Detail: "Linux 5.9 or later has them"}
	if !xdpLinks.OK {
		xdpLinks.Detail, xdpLinks.Fix = "this kernel is older than 5.9", "xdp rules attach through bpf links (Linux 5.9); use tc hooks or upgrade the kernel"
	}
	add(xdpLinks)
	add(probe("test runs", testRunProbe(), "BPF_PROG_TEST_RUN works", "`hdrlog test` replays captures through BPF_PROG_TEST_RUN; without it use `hdrlog test --no-kernel`", false))

	stats := Finding{Check: "bpf_stats", Info: true, OK: true}
	if b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); err == nil {
		if strings.TrimSpace(string(b)) == "1" {
			stats.Detail = "on: the kernel times every program run (costs a little on each packet; `sysctl kernel.bpf_stats_enabled=0` to turn off)"
		} else {
			stats.Detail = "off (`sysctl kernel.bpf_stats_enabled=1` makes the kernel count program run time)"
		}
	} else {
		stats.Detail = "unknown: " + err.Error()
	}
	add(stats)

	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_bpf_disabled"); err == nil {
		add(Finding{Check: "unprivileged_bpf_disabled", Info: true, OK: true,
			Detail: strings.TrimSpace(string(b)) + " (hdrlog needs the capabilities above in any case)"})
	}
	return fs
}

// noSuchIfindex is an interface index no interface has: an attach probe to
// it fails with ENODEV exactly when the attach kind is supported.
const noSuchIfindex = 0x7ffffff0

// probe turns a feature test's result into a finding.
func probe(check string, err error, okDetail, why string, info bool) Finding {
	f := Finding{Check: check, OK: err == nil, Info: info && err != nil, Detail: okDetail}
	switch {
	case err == nil:
	case isPermissionError(err):
		f.OK, f.Info = false, false
		f.Detail = "not tested: the kernel refused the probe for lack of privileges"
		f.Fix = "run as root, or with " + capNames(needed)
	case errors.Is(err, ebpf.ErrNotSupported):
		f.Detail = "not supported by this kernel"
		f.Fix = why
	default:
		f.Detail = errnoText(err)
		f.Fix = why
	}
	if f.Info {
		f.OK = true
		f.Fix = ""
		f.Detail += "; " + why
	}
	return f
}

// attachProbe loads a minimal program of type t and attaches it with
// attach to noSuchIfindex: ENODEV means the kernel knows the attach kind.
func attachProbe(t ebpf.ProgramType, attach func(*ebpf.Program) error) error {
	p, err := minimalProgram(t)
	if err != nil {
		return err
	}
	defer p.Close()
	err = attach(p)
	if err == nil {
		return errors.New("the probe attached to an interface that should not exist")
	}
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// testRunProbe runs a minimal tc program once on a minimal frame.
func testRunProbe() error {
	p, err := minimalProgram(ebpf.SchedCLS)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	return err
}

func minimalProgram(t ebpf.ProgramType) (*ebpf.Program, error) {
	var at ebpf.AttachType
	if t == ebpf.XDP {
		at = ebpf.AttachXDP // what a bpf_link of an XDP program asks for
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: t, AttachType: at, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
}

// capabilityFinding names the capabilities hdrlog needs that the process
// lacks.
func capabilityFinding() Finding {
	f := Finding{Check: "capabilities", OK: true}
	lack := missingCaps(needed...)
	if _, err := effectiveCaps(); err != nil {
		return Finding{Check: "capabilities", Detail: "unknown: " + err.Error(), Fix: "run as root, or with " + capNames(needed)}
	}
	if len(lack) == 0 {
		f.Detail = "has " + capNames(needed)
		return f
	}
	f.OK = false
	f.Detail = "lacks " + strings.Join(lack, ", ")
	f.Fix = "run as root, or give the binary exactly these: setcap cap_bpf,cap_net_admin,cap_perfmon+ep hdrlog (or AmbientCapabilities= in a systemd unit); `check --no-kernel` and `test --no-kernel` need none"
	return f
}

func capNames(cs []capability) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func rlimitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprintf("%d KiB", v/1024)
}

// kernelVersion reads the major and minor numbers of a kernel release
// string ("6.18.0-1-amd64").
func kernelVersion(release string) (int, int) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	maj, _ := strconv.Atoi(parts[0])
	digits := parts[1]
	for i, r := range digits {
		if r < '0' || r > '9' {
			digits = digits[:i]
			break
		}
	}
	min, _ := strconv.Atoi(digits)
	return maj, min
}
