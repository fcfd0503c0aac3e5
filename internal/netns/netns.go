//go:build linux

// Package netns creates throw-away network namespaces joined by veth pairs, for hdrlog's end-to-end tests and demo.
//
// A Pair is two named network namespaces ("A" and "B", as `ip netns` knows
// them) joined by one veth pair, with IPv4 and IPv6 addresses on both ends.
// Nothing is ever created in the caller's own network namespace: the veth is
// created inside A and its peer is moved straight into B, so deleting the two
// namespaces removes everything.
//
// Namespace names carry the PID and start time of the creating process, so
// Sweep can tell namespaces left behind by a killed run from those of a run
// that is still going (for instance a parallel `go test` of another package).
//
// The harness needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW) and
// iproute2's `ip`. When either is missing it fails loudly rather than
// skipping: hdrlog's kernel tests must not pass silently when they cannot run.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of everything the harness creates.
const Prefix = "hdl"

// RunDir is where `ip netns` keeps its named namespaces.
const RunDir = "/run/netns"

// Pair is two network namespaces joined by a veth pair.
type Pair struct {
	Name   string // unique prefix: Prefix + 8 random hex digits
	HostIf string // veth end in namespace A (Name + "a")
	PeerIf string // veth end in namespace B (Name + "b")
	NSA    string // name of namespace A, as `ip netns` knows it
	NSB    string // name of namespace B

	AddrA, AddrB   netip.Addr // 10.x.y.1 and 10.x.y.2, prefix length 24
	Addr6A, Addr6B netip.Addr // fd00:…::1 and fd00:…::2, prefix length 64, nodad

	IfindexA, IfindexB int              // ifindex of HostIf in A, PeerIf in B
	MACA, MACB         net.HardwareAddr // MAC of HostIf, PeerIf

	ip string // path of the ip binary

	mu     sync.Mutex
	procs  []*exec.Cmd // commands built by Command/Start, killed on cleanup
	closed bool
	errs   error // result of the first cleanup
}

// Interface indexes of the two veth ends within their namespaces.
const (
	HostIfindex = 2
	PeerIfindex = 3
)

// Prefix lengths of the addresses of a Pair.
const (
	PrefixLen4 = 24
	PrefixLen6 = 64
)

// Prefix4 and Prefix6 return the subnets shared by the two ends.
func (p *Pair) Prefix4() netip.Prefix { return netip.PrefixFrom(p.AddrA, PrefixLen4).Masked() }
func (p *Pair) Prefix6() netip.Prefix { return netip.PrefixFrom(p.Addr6A, PrefixLen6).Masked() }

// String describes the pair in one line, for logs and the demo.
func (p *Pair) String() string {
	return fmt.Sprintf("netns %s: %s #%d %s %s/%d %s/%d <-veth-> netns %s: %s #%d %s %s/%d %s/%d",
		p.NSA, p.HostIf, p.IfindexA, p.MACA, p.AddrA, PrefixLen4, p.Addr6A, PrefixLen6,
		p.NSB, p.PeerIf, p.IfindexB, p.MACB, p.AddrB, PrefixLen4, p.Addr6B, PrefixLen6)
}

// CmdError is returned when a command run by the harness fails. Its message
// holds the full command line and its combined output.
type CmdError struct {
	Args   []string
	Output []byte
	Err    error
}

func (e *CmdError) Error() string {
	out := strings.TrimSpace(string(e.Output))
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("command %q failed: %v; output: %s", strings.Join(e.Args, " "), e.Err, out)
}

func (e *CmdError) Unwrap() error { return e.Err }

// NewPair creates a Pair and registers its removal with t.Cleanup. It calls
// t.Fatalf, naming the failing command and its output, if anything fails
// (including not being root or not finding `ip`); it never skips.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	p, cleanup, err := Setup()
	if err != nil {
		t.Fatalf("netns: setting up veth pair: %v", err)
	}
	t.Cleanup(func() {
		if err := cleanup(); err != nil {
			t.Errorf("netns: cleaning up %s: %v", p.Name, err)
		}
	})
	t.Logf("netns: %s", p)
	return p
}

// Setup is NewPair without testing.TB, for the CLI demo. The returned
// cleanup function kills what Start launched and deletes both namespaces
// (which removes the veth); it is idempotent and safe to call from several
// goroutines. When Setup fails, whatever it had created is already removed.
func Setup() (*Pair, func() error, error) {
	ip, err := Check()
	if err != nil {
		return nil, nil, err
	}
	sweepOnce.Do(func() { _, _ = SweepStale(Prefix) })

	p, err := newNames()
	if err != nil {
		return nil, nil, err
	}
	p.ip = ip
	if err := p.create(); err != nil {
		if cerr := p.Cleanup(); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, nil, err
	}
	return p, p.Cleanup, nil
}

var sweepOnce sync.Once

// Check verifies that the harness can run: effective root with
// CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW, and an `ip` binary from
// iproute2. It returns the path of `ip`, or an error naming what is missing.
func Check() (string, error) {
	if euid := os.Geteuid(); euid != 0 {
		return "", fmt.Errorf("netns: must run as root (euid is %d): creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN, injecting frames needs CAP_NET_RAW; run the tests with sudo", euid)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return "", fmt.Errorf("netns: capget: %w", err)
	}
	var missing []string
	for _, c := range []struct {
		name string
		bit  uint
	}{{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}, {"CAP_NET_ADMIN", unix.CAP_NET_ADMIN}, {"CAP_NET_RAW", unix.CAP_NET_RAW}} {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("netns: running as root but missing capabilities %s (a restricted container?)", strings.Join(missing, ", "))
	}
	ip, err := findIP()
	if err != nil {
		return "", err
	}
	return ip, nil
}

func findIP() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	// PATH often lacks the sbin directories outside login shells.
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("netns: the `ip` command (package iproute2) was not found in PATH, /usr/sbin, /sbin, /usr/bin or /bin; install iproute2")
}

// newNames picks random names and addresses.
func newNames() (*Pair, error) {
	var r [11]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("netns: crypto/rand: %w", err)
	}
	owner, err := ownerTag(os.Getpid())
	if err != nil {
		return nil, err
	}
	name := Prefix + hex.EncodeToString(r[:4]) // 11 bytes
	p := &Pair{
		Name:   name,
		HostIf: name + "a", // 12 bytes <= IFNAMSIZ-1
		PeerIf: name + "b",
		NSA:    name + "-" + owner + "-a",
		NSB:    name + "-" + owner + "-b",
		AddrA:  netip.AddrFrom4([4]byte{10, r[4], r[5], 1}),
		AddrB:  netip.AddrFrom4([4]byte{10, r[4], r[5], 2}),
	}
	v6 := [16]byte{0xfd, 0x00, r[6], r[7], r[8], r[9], r[10], r[4]}
	v6[15] = 1
	p.Addr6A = netip.AddrFrom16(v6)
	v6[15] = 2
	p.Addr6B = netip.AddrFrom16(v6)
	return p, nil
}

// ownerTag identifies a live process: "<pid>-<start time in clock ticks>".
func ownerTag(pid int) (string, error) {
	st, err := procStartTime(pid)
	if err != nil {
		return "", fmt.Errorf("netns: reading start time of pid %d: %w", pid, err)
	}
	return fmt.Sprintf("%d-%d", pid, st), nil
}

func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces and parentheses: skip past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// nsAddMu serialises `ip netns add` within this process: the first call
// sets up the shared mount of /run/netns and concurrent first calls can race.
var nsAddMu sync.Mutex

func (p *Pair) create() error {
	nsAddMu.Lock()
	for _, ns := range []string{p.NSA, p.NSB} {
		if _, err := p.ipCmd("netns", "add", ns); err != nil {
			nsAddMu.Unlock()
			return err
		}
	}
	nsAddMu.Unlock()

	steps := [][]string{
		// Create the veth inside A and put the peer directly into B. The
		// ends get different ifindexes (each fresh namespace would number
		// both 2): besides avoiding mix-ups, the kernel's linkwatch treats a
		// carrier change on a device whose ifindex differs from its iflink
		// as urgent, so the link is usable at once instead of after ~1s.
		{"-n", p.NSA, "link", "add", p.HostIf, "index", strconv.Itoa(HostIfindex), "type", "veth",
			"peer", "name", p.PeerIf, "index", strconv.Itoa(PeerIfindex), "netns", p.NSB},
		{"-n", p.NSA, "addr", "add", fmt.Sprintf("%s/%d", p.AddrA, PrefixLen4), "dev", p.HostIf},
		{"-n", p.NSA, "addr", "add", fmt.Sprintf("%s/%d", p.Addr6A, PrefixLen6), "dev", p.HostIf, "nodad"},
		{"-n", p.NSB, "addr", "add", fmt.Sprintf("%s/%d", p.AddrB, PrefixLen4), "dev", p.PeerIf},
		{"-n", p.NSB, "addr", "add", fmt.Sprintf("%s/%d", p.Addr6B, PrefixLen6), "dev", p.PeerIf, "nodad"},
		{"-n", p.NSA, "link", "set", "lo", "up"},
		{"-n", p.NSB, "link", "set", "lo", "up"},
		{"-n", p.NSA, "link", "set", p.HostIf, "up"},
		{"-n", p.NSB, "link", "set", p.PeerIf, "up"},
	}
	for _, s := range steps {
		if _, err := p.ipCmd(s...); err != nil {
			return err
		}
	}

	// Read back ifindex and MAC, and wait until both ends are running
	// (the veth carrier comes up only once both ends are up).
	deadline := time.Now().Add(10 * time.Second)
	for _, end := range []struct {
		ns, ifname string
		index      *int
		mac        *net.HardwareAddr
	}{{p.NSA, p.HostIf, &p.IfindexA, &p.MACA}, {p.NSB, p.PeerIf, &p.IfindexB, &p.MACB}} {
		for {
			var ifi *net.Interface
			err := p.Do(end.ns, func() error {
				var err error
				ifi, err = net.InterfaceByName(end.ifname)
				return err
			})
			if err != nil {
				return fmt.Errorf("netns: looking up %s in netns %s: %w", end.ifname, end.ns, err)
			}
			*end.index, *end.mac = ifi.Index, ifi.HardwareAddr
			if ifi.Flags&net.FlagRunning != 0 {
				break
			}
			if time.Now().After(deadline) {
				out, _ := p.ipCmd("-n", end.ns, "link", "show", "dev", end.ifname)
				return fmt.Errorf("netns: %s in netns %s is not running after 10s (flags %v): %s", end.ifname, end.ns, ifi.Flags, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

func (p *Pair) ipCmd(args ...string) ([]byte, error) {
	return runCmd(p.ip, args...)
}

func runCmd(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, &CmdError{Args: append([]string{name}, args...), Output: out, Err: err}
	}
	return out, nil
}

// resolve maps "A"/"B" or a namespace name to one of the pair's namespaces.
// The harness refuses to act in any other namespace.
func (p *Pair) resolve(ns string) (string, error) {
	switch ns {
	case "A", p.NSA:
		return p.NSA, nil
	case "B", p.NSB:
		return p.NSB, nil
	}
	return "", fmt.Errorf("netns: %q is not a namespace of pair %s (want %q, %q, \"A\" or \"B\")", ns, p.Name, p.NSA, p.NSB)
}

// Run runs a command inside namespace ns (p.NSA, p.NSB, "A" or "B") with
// `ip netns exec` and returns its combined output. On failure the error is
// a *CmdError holding the command line and output.
func (p *Pair) Run(ns string, name string, args ...string) ([]byte, error) {
	ns, err := p.resolve(ns)
	if err != nil {
		return nil, err
	}
	return p.ipCmd(append([]string{"netns", "exec", ns, name}, args...)...)
}

// Command returns an unstarted command that will run inside namespace ns, in
// its own process group, so the caller can set Stdin/Stdout/Stderr before
// starting it. Once started, its process group is killed on cleanup.
func (p *Pair) Command(ns string, name string, args ...string) (*exec.Cmd, error) {
	ns, err := p.resolve(ns)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("netns: pair %s is already cleaned up", p.Name)
	}
	cmd := exec.Command(p.ip, append([]string{"netns", "exec", ns, name}, args...)...)
	// `ip netns exec` execs the command, so the process we start is the
	// command itself and leads its own process group. Pdeathsig makes it
	// die with the test binary (strictly: with the OS thread that starts
	// it, which Go keeps alive unless that goroutine locked it and exits).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.procs = append(p.procs, cmd)
	return cmd, nil
}

// Start starts a background command inside namespace ns. The caller may kill
// and wait for it; otherwise its process group is killed on cleanup. Its
// output is discarded; use Command to capture it.
func (p *Pair) Start(ns string, name string, args ...string) (*exec.Cmd, error) {
	cmd, err := p.Command(ns, name, args...)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, &CmdError{Args: cmd.Args, Err: err}
	}
	return cmd, nil
}

// Do runs fn on the calling goroutine with its OS thread switched into
// namespace ns (p.NSA, p.NSB, "A" or "B"). Sockets fn creates stay in that
// namespace and may be used after Do returns; goroutines fn starts do NOT
// run in the namespace. The original namespace is restored afterwards; if
// restoring fails the thread stays locked to the goroutine (so the runtime
// discards it when the goroutine exits) and Do reports the error.
func (p *Pair) Do(ns string, fn func() error) error {
	ns, err := p.resolve(ns)
	if err != nil {
		return err
	}
	return doIn(filepath.Join(RunDir, ns), fn)
}

func doIn(path string, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: opening current netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: opening %s: %w", path, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: setns %s: %w", path, err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Leave the thread locked: it is in the wrong namespace and
			// the runtime will terminate it when this goroutine exits.
			err = errors.Join(err, fmt.Errorf("netns: restoring original netns after %s: %w (OS thread left locked)", path, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// InjectRaw sends raw Ethernet frames (complete from the destination MAC on,
// without FCS) out of interface ifname inside namespace ns, through an
// AF_PACKET SOCK_RAW socket bound to it. Tagged frames need no VLAN device.
// Frames sent out of one veth end are received at ingress of the other end,
// where XDP sees any 802.1Q tag inline but the stack (TC, packet sockets)
// usually sees it moved into skb metadata.
func (p *Pair) InjectRaw(ns, ifname string, frames ...[]byte) error {
	return p.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("netns: InjectRaw: interface %s in netns %s: %w", ifname, ns, err)
		}
		// Protocol 0: a send-only socket that never queues received frames.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("netns: InjectRaw: AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("netns: InjectRaw: bind to %s: %w", ifname, err)
		}
		for i, f := range frames {
			if len(f) < 14 {
				return fmt.Errorf("netns: InjectRaw: frame %d is %d bytes, shorter than an Ethernet header", i, len(f))
			}
			n, err := unix.Write(fd, f)
			if err != nil {
				return fmt.Errorf("netns: InjectRaw: sending frame %d (%d bytes) on %s: %w", i, len(f), ifname, err)
			}
			if n != len(f) {
				return fmt.Errorf("netns: InjectRaw: short write of frame %d on %s: %d of %d bytes", i, ifname, n, len(f))
			}
		}
		return nil
	})
}

// Cleanup kills the process groups of commands started in the pair and
// deletes both namespaces, which removes the veth pair. Only the first call
// does work; later calls return its result.
func (p *Pair) Cleanup() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.errs
	}
	p.closed = true

	var errs []error
	for _, cmd := range p.procs {
		if cmd.Process == nil {
			continue // never started
		}
		// Signal(0) fails once the caller has waited for the process, so a
		// reaped (and possibly reused) PID is never signalled.
		if cmd.Process.Signal(syscall.Signal(0)) == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	for _, ns := range []string{p.NSA, p.NSB} {
		if err := removeNS(p.ip, ns); err != nil {
			errs = append(errs, err)
		}
	}
	p.errs = errors.Join(errs...)
	return p.errs
}

// removeNS kills every process still inside namespace ns (anything there
// was started by the harness) and deletes it. A missing namespace is not an
// error.
func removeNS(ip, ns string) error {
	if _, err := os.Stat(filepath.Join(RunDir, ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := runCmd(ip, "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if _, err := runCmd(ip, "netns", "del", ns); err != nil {
		if _, serr := os.Stat(filepath.Join(RunDir, ns)); errors.Is(serr, os.ErrNotExist) {
			return nil // removed concurrently
		}
		return err
	}
	return nil
}

// Sweep removes stale namespaces whose names start with prefix (normally
// Prefix, "hdl", or a Pair's Name) and that were left behind by a run that no longer exists,
// e.g. a test binary killed by a timeout. Namespaces of processes that are
// still running, such as parallel tests, are left alone, as is anything
// not named the way this package names namespaces. Errors are
// ignored; see SweepStale.
func Sweep(prefix string) {
	_, _ = SweepStale(prefix)
}

// SweepStale is Sweep reporting the namespaces it removed and any errors.
func SweepStale(prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("netns: Sweep: empty prefix")
	}
	entries, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: Sweep: %w", err)
	}
	ip, err := findIP()
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `[0-9a-f]*-([0-9]+)-([0-9]+)-[ab]$`)
	var removed []string
	var errs []error
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		pid, err1 := strconv.Atoi(m[1])
		start, err2 := strconv.ParseUint(m[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if st, err := procStartTime(pid); err == nil && st == start {
			continue // owner still running
		}
		if err := removeNS(ip, e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
