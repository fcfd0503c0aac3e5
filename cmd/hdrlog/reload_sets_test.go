package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/internal/testpkt"
)

const setsRules = `
set blocked file "blocked.txt"
rule blocked { match udp && (ip.src in $blocked || ipv6.src in $blocked)  log ip.src, udp.srcport }
`

// TestRunSetFileReloadInPlace edits the element file of a named set under
// a running hdrlog --watch: the set's map is updated in place, traffic from
// the added address is logged from then on, and the programs are the same
// ones (the kernel's program ids the process holds do not change). A later
// edit of the rule file itself does load new programs, which shows that the
// ids tell.
func TestRunSetFileReloadInPlace(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	rulesPath := writeFile(t, dir, "sets.rules", setsRules)
	setPath := writeFile(t, dir, "blocked.txt", "# addresses to log\n198.51.100.7\n2001:db8::/32\n")
	r := startRun(t, p, "--poll-interval", "5ms", "--watch", dir)

	send := func(sport uint16) {
		t.Helper()
		fr := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).IPv4(p.AddrA.String(), p.AddrB.String()).UDP(sport, 9999).Bytes()
		if err := p.InjectRaw("A", p.HostIf, fr); err != nil {
			t.Fatal(err)
		}
	}
	waitRecords := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(reloadRecords(r.out.String())) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no reload %d within 10 s:\n%s", n, r.errOut)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 3 {
		send(uint16(1000 + i))
	}
	before := progIDs(t, r.cmd.Process.Pid)
	if len(before) == 0 {
		t.Fatal("the hdrlog process holds no BPF program")
	}

	// The address of A joins the set.
	writeAtomically(t, setPath, "# addresses to log\n198.51.100.7\n2001:db8::/32\n"+p.AddrA.String()+"\n")
	waitRecords(1)
	rec := reloadRecords(r.out.String())[0]
	if !strings.Contains(rec, `"sets":[{"set":"blocked","map":"set_blocked_4p","added":1,"removed":0}],"programs":"kept"`) {
		t.Errorf("reload record: %s", rec)
	}
	for i := range 3 {
		send(uint16(2000 + i))
	}
	if after := progIDs(t, r.cmd.Process.Pid); !slices.Equal(before, after) {
		t.Errorf("program ids changed on a set update: %v, then %v", before, after)
	}

	// A change of the rule itself loads new programs.
	writeAtomically(t, rulesPath, strings.Replace(setsRules, "log ip.src, udp.srcport", "log udp.srcport, ip.src", 1))
	waitRecords(2)
	if rec := reloadRecords(r.out.String())[1]; strings.Contains(rec, `"programs":"kept"`) || !strings.Contains(rec, `"changed":["blocked"]`) {
		t.Errorf("second reload record: %s", rec)
	}
	if after := progIDs(t, r.cmd.Process.Pid); slices.Equal(before, after) {
		t.Errorf("program ids unchanged after a rule change: %v", after)
	}
	for i := range 3 {
		send(uint16(3000 + i))
	}
	time.Sleep(200 * time.Millisecond)
	var ports []int
	for _, ev := range find(r.lines(t), "blocked") {
		if ev["ip.src"] != p.AddrA.String() {
			t.Errorf("event from %v", ev["ip.src"])
		}
		ports = append(ports, int(ev["udp.srcport"].(float64)))
	}
	if want := []int{2000, 2001, 2002, 3000, 3001, 3002}; !slices.Equal(ports, want) {
		t.Errorf("logged source ports %v, want %v (none before the set had the address)", ports, want)
	}
	if !strings.Contains(r.errOut.String(), "programs kept; sets updated in place: $blocked +1 -0") {
		t.Errorf("stderr lacks the in-place notice:\n%s", r.errOut)
	}
}

// progIDs returns the ids of the BPF programs a process holds open, sorted
// (from its file descriptors' fdinfo).
func progIDs(t *testing.T, pid int) []int {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fdinfo")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

const stringSetRules = `
set domains file "domains.txt"
rule asked { match dns.qry.name in $domains  log dns.qry.name, udp.srcport }
`

// TestRunStringSetReloadInPlace is TestRunSetFileReloadInPlace for a set of
// DNS names (a hash map keyed by the name, compared case-insensitively):
// a name added to the file under --watch is looked up from then on, with
// the same programs.
func TestRunStringSetReloadInPlace(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	writeFile(t, dir, "sets.rules", stringSetRules)
	setPath := writeFile(t, dir, "domains.txt", "# names to log\nnot-this.example\n")
	r := startRun(t, p, "--poll-interval", "5ms", "--watch", dir)
	send := func(sport uint16, name string) {
		t.Helper()
		msg := testpkt.DNSMessage(sport, 0x0100, 1, 0, testpkt.DNSName(name), 1, 1)
		fr := testpkt.New().Eth(p.MACA.String(), p.MACB.String()).IPv4(p.AddrA.String(), p.AddrB.String()).UDP(sport, 53).Payload(msg).Bytes()
		if err := p.InjectRaw("A", p.HostIf, fr); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		send(uint16(1000+i), "www.hdrlog.test")
	}
	before := progIDs(t, r.cmd.Process.Pid)
	writeAtomically(t, setPath, "# names to log\nnot-this.example\nWWW.HDRLOG.test\n")
	deadline := time.Now().Add(10 * time.Second)
	for len(reloadRecords(r.out.String())) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no reload within 10 s:\n%s", r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec := reloadRecords(r.out.String())[0]; !strings.Contains(rec, `"sets":[{"set":"domains","map":"set_domains_si","added":1,"removed":0}],"programs":"kept"`) {
		t.Errorf("reload record: %s", rec)
	}
	for i := range 3 {
		send(uint16(2000+i), "www.hdrlog.test")
		send(uint16(3000+i), "www.hdrlog.tes")
	}
	if after := progIDs(t, r.cmd.Process.Pid); !slices.Equal(before, after) {
		t.Errorf("program ids changed on a set update: %v, then %v", before, after)
	}
	time.Sleep(200 * time.Millisecond)
	var ports []int
	for _, ev := range find(r.lines(t), "asked") {
		if ev["dns.qry.name"] != "www.hdrlog.test" {
			t.Errorf("event for %v", ev["dns.qry.name"])
		}
		ports = append(ports, int(ev["udp.srcport"].(float64)))
	}
	if want := []int{2000, 2001, 2002}; !slices.Equal(ports, want) {
		t.Errorf("logged source ports %v, want %v (none before the set had the name)", ports, want)
	}
}
