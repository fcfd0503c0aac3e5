package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// cgroupAttached counts the programs attached to a cgroup at the cgroup
// hooks.
func cgroupAttached(t *testing.T, dir string) (in, eg int) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, q := range []struct {
		at ebpf.AttachType
		n  *int
	}{{ebpf.AttachCGroupInetIngress, &in}, {ebpf.AttachCGroupInetEgress, &eg}} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: q.at})
		if err != nil {
			t.Fatalf("query %s of %s: %v", q.at, dir, err)
		}
		*q.n = len(res.Programs)
	}
	return in, eg
}

// TestRunCgroupHooks: `hook cgroup egress` and `hook cgroup ingress` with
// the cgroup named in the rule file see the packets of the processes in
// that cgroup, whatever interface they use, and no other process's; the
// frame starts at the IP header. When hdrlog stops, nothing is left
// attached to the cgroup.
func TestRunCgroupHooks(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	root, err := runtime.CgroupRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	p := netns.NewPair(t)
	const port = 7201
	rules := writeFile(t, t.TempDir(), "cg.rules", fmt.Sprintf(`
rule cg_out {
    hook cgroup egress %q
    match udp.dstport == %d
    log proc.pid, proc.name, cgroup.id, ip.src, ip.dst, udp.dstport, frame.len
}
rule cg_in {
    hook cgroup ingress %q
    match udp.srcport == %d
    log proc.pid, proc.name, ip.src, udp.length
}`, dir, port, dir, port))
	r := startRunHere(t, "--poll-interval", "5ms", rules)
	if in, eg := cgroupAttached(t, dir); in != 1 || eg != 1 {
		t.Fatalf("attached at the cgroup: %d ingress, %d egress programs; want 1 and 1", in, eg)
	}
	if _, err := p.Start("A", "/usr/bin/python3", "-c", fmt.Sprintf(`import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((%q, %d))
while True:
    d, peer = u.recvfrom(100); u.sendto(d, peer)`, p.AddrA, port)); err != nil {
		t.Fatal(err)
	}
	// Two processes in B send the same datagram: one in the cgroup, one not.
	send := func(inCgroup bool, name string) int {
		cmd, err := p.Command("B", "/usr/bin/python3", "-c", fmt.Sprintf(`import socket, time
open('/proc/self/comm', 'w').write(%q)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.2)
for i in range(50):
    u.sendto(b"hello", (%q, %d))
    try:
        u.recv(100); break
    except socket.timeout:
        pass`, name, p.AddrA, port))
		if err != nil {
			t.Fatal(err)
		}
		if inCgroup {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return cmd.ProcessState.Pid()
	}
	outside := send(false, "hl_outside")
	inside := send(true, "hl_inside")
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(find(r.lines(t), "cg_in")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	lines := r.lines(t)
	out, in := find(lines, "cg_out"), find(lines, "cg_in")
	if len(out) == 0 || len(in) == 0 {
		t.Fatalf("%d egress and %d ingress events, want some of each:\n%s", len(out), len(in), r.errOut)
	}
	for _, ev := range append(out, in...) {
		if fmt.Sprint(ev["proc.pid"]) != fmt.Sprint(inside) || ev["proc.name"] != "hl_inside" {
			t.Errorf("event of another process than pid %d (hl_inside; pid %d is outside the cgroup): %v", inside, outside, ev)
		}
	}
	for _, ev := range out {
		// An IP packet: a UDP datagram of 5 bytes is 33 bytes from the IP header on.
		want := map[string]any{"ip.src": p.AddrB.String(), "ip.dst": p.AddrA.String(), "frame.len": 33.0, "cgroup.id": float64(st.Ino)}
		for k, v := range want {
			if ev[k] != v {
				t.Errorf("cg_out event: %s = %v, want %v: %v", k, ev[k], v, ev)
			}
		}
	}
	if ev := in[0]; ev["ip.src"] != p.AddrA.String() || ev["udp.length"] != 13.0 {
		t.Errorf("cg_in event: %v; want ip.src %s, udp.length 13", ev, p.AddrA)
	}
	if !strings.Contains(r.errOut.String(), "cgroup egress") {
		t.Errorf("the start notice does not name the cgroup attachments:\n%s", r.errOut)
	}
	// A reload replaces the cgroup programs in place.
	writeFile(t, filepath.Dir(rules), "cg.rules", fmt.Sprintf(`
rule cg_out2 {
    hook cgroup egress %q
    match udp.dstport == %d && proc.name == "hl_again"
    log proc.pid, proc.name
}
rule cg_in {
    hook cgroup ingress %q
    match udp.srcport == %d
    log proc.pid, proc.name, ip.src, udp.length
}`, dir, port, dir, port))
	r.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(r.out.String(), `"reload":"done"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	again := send(true, "hl_again")
	deadline = time.Now().Add(10 * time.Second)
	for len(find(r.lines(t), "cg_out2")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if evs := find(r.lines(t), "cg_out2"); len(evs) == 0 || fmt.Sprint(evs[0]["proc.pid"]) != fmt.Sprint(again) {
		t.Errorf("after the reload: cg_out2 events %v, want hl_again's (pid %d)\n%s", evs, again, r.errOut)
	}
	if in, eg := cgroupAttached(t, dir); in != 1 || eg != 1 {
		t.Errorf("after the reload: %d ingress, %d egress programs attached; want 1 and 1", in, eg)
	}
	r.cmd.Process.Signal(os.Interrupt)
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Errorf("hdrlog run: %v\n%s", st, r.errOut)
	}
	if in, eg := cgroupAttached(t, dir); in != 0 || eg != 0 {
		t.Errorf("after hdrlog stopped: %d ingress, %d egress programs still attached to the cgroup", in, eg)
	}
}

// TestRunCgroupPathErrors: the cgroup hooks need one cgroup, given once.
func TestRunCgroupPathErrors(t *testing.T) {
	dir := t.TempDir()
	two := writeFile(t, dir, "two.rules", `rule a { hook cgroup egress "/sys/fs/cgroup/a" log ip.src }
rule b { hook cgroup ingress "/sys/fs/cgroup/b" log ip.src }`)
	none := writeFile(t, dir, "none.rules", `rule a { hook cgroup egress log ip.src }`)
	tc := writeFile(t, dir, "tc.rules", `rule a { hook tc egress "/sys/fs/cgroup/a" log ip.src }`)
	hclTC := writeFile(t, dir, "tc.hcl", `rule "a" {
  hook = "tc egress /sys/fs/cgroup/a"
  log  = ["ip.src"]
}`)
	relative := writeFile(t, dir, "rel.hcl", `rule "a" {
  hook = "cgroup egress web.slice"
  log  = ["ip.src"]
}`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", two}, "names cgroup /sys/fs/cgroup/b, rule a (" + two + ":1:1) names /sys/fs/cgroup/a: a run attaches its cgroup hooks to one cgroup"},
		{[]string{"run", none}, "name the cgroup of the cgroup hooks with --cgroup PATH"},
		{[]string{"run", "--cgroup", dir, "-e", "udp", "-i", "lo"}, "--cgroup names the cgroup of the rules with hook cgroup ingress or cgroup egress; there are none"},
		{[]string{"check", tc}, "hook tc egress takes no cgroup path"},
		{[]string{"test", "-r", "/dev/null", none}, "rule a (" + none + ":1:1, cgroup egress): a capture's frames belong to no cgroup"},
		{[]string{"check", hclTC}, `unknown hook "tc egress /sys/fs/cgroup/a"`},
		{[]string{"check", relative}, `cgroup path "web.slice" is not absolute`},
	} {
		code, _, stderr := hdrlog(t, dir, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("hdrlog %s: exit %d, stderr %q; want it to say %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}
