package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// theThree are the capabilities hdrlog run needs, as a capability mask.
const theThree = 1<<unix.CAP_BPF | 1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_PERFMON

// startInB starts bin as a live run in namespace B (the child is forked
// from a thread in B), as nobody with the given ambient capabilities when
// ambient is not nil.
func startInB(t *testing.T, p *netns.Pair, bin string, ambient []uintptr, args ...string) *liveRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if ambient != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: ambient}
	}
	return startLive(t, cmd, func() error { return p.Do("B", cmd.Start) })
}

// procCaps reads the capability sets and no_new_privs of every thread of
// a process.
func procCaps(t *testing.T, pid int) []map[string]uint64 {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var out []map[string]uint64
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		m := map[string]uint64{}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			switch k {
			case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
				m[k], _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			case "NoNewPrivs":
				m[k], _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Fatalf("no thread of process %d", pid)
	}
	return out
}

// run works with exactly CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, as nobody:
// it attaches, logs, reloads on SIGHUP and ends cleanly; it empties its
// ambient set and sets no_new_privs in every thread.
func TestRunWithTheThreeCapabilities(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir, bin := nobodyCopy(t)
	rules := writeFile(t, dir, "udp.rules", udpInRules)
	r := startInB(t, p, bin, []uintptr{unix.CAP_BPF, unix.CAP_NET_ADMIN, unix.CAP_PERFMON},
		"run", "-i", p.PeerIf, "--poll-interval", "5ms", rules)
	sent := map[int]string{sendUDP(t, p, p.AddrA, p.AddrB): p.PeerIf}
	waitEvents(t, r, sent)
	for _, c := range procCaps(t, r.cmd.Process.Pid) {
		if c["CapEff"] != theThree || c["CapPrm"] != theThree || c["CapAmb"] != 0 || c["CapInh"] != 0 || c["NoNewPrivs"] != 1 {
			t.Errorf("a thread of hdrlog run as nobody: %x", c)
		}
	}

	// A reload with these capabilities alone, then more traffic.
	writeFile(t, dir, "udp.rules", udpInRules+"\nrule xdp_too { hook xdp match udp.dstport == 9999 log udp.srcport }\n")
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, r, 1)
	port := sendUDP(t, p, p.AddrA, p.AddrB)
	sent[port] = p.PeerIf
	waitEvents(t, r, sent)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v:\n%s", st, r.errOut)
	}
	if recs := reloadRecords(r.out.String()); len(recs) != 1 || !strings.Contains(recs[0], `"reload":"done"`) {
		t.Errorf("reload as nobody: %q\n%s", recs, r.errOut)
	}
	if n := len(find(r.lines(t), "xdp_too")); n != 1 {
		t.Errorf("rule added by the reload logged %d events, want 1", n)
	}
	waitDetached(t, p)
}

// Run as root, hdrlog keeps only the three capabilities after attaching,
// bounding set included, in every thread.
func TestRunDropsCapabilities(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	rules := writeFile(t, t.TempDir(), "udp.rules", udpInRules)
	r := startInB(t, p, hdrlogBin, nil, "run", "-i", p.PeerIf, rules)
	for _, c := range procCaps(t, r.cmd.Process.Pid) {
		if c["CapEff"] != theThree || c["CapPrm"] != theThree || c["CapBnd"] != theThree || c["CapAmb"] != 0 || c["NoNewPrivs"] != 1 {
			t.Errorf("a thread of hdrlog run as root: %x", c)
		}
	}
	if !strings.Contains(r.errOut.String(), "keeps only CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF (for reloads and new interfaces); dropped ") {
		t.Errorf("no notice of the capabilities dropped:\n%s", r.errOut)
	}
}

// waitReloads waits for n reload records.
func waitReloads(t *testing.T, r *liveRun, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(reloadRecords(r.out.String())) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d reloads after 5 s, want %d:\n%s", len(reloadRecords(r.out.String())), n, r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
