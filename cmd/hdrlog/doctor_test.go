package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// doctorStatus reads doctor's table into check -> status.
func doctorStatus(t *testing.T, out string) map[string]string {
	t.Helper()
	row := regexp.MustCompile(`^(.+?)\s{2,}(ok|info|MISSING)\s{2,}`)
	st := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			st[m[1]] = m[2]
		}
	}
	return st
}

var doctorChecks = []string{"kernel", "capabilities", "memlock", "kernel BTF", "program type sched_cls (tc)",
	"program type xdp", "ring buffer maps", "tcx links", "xdp links", "test runs", "bpf_stats"}

// TestDoctor: as root every probe passes on this kernel; as nobody the
// capabilities and every privileged probe are missing, each with what to
// do; with exactly CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON nothing is.
func TestDoctor(t *testing.T) {
	kerneltest.RequireRoot(t)
	code, stdout, stderr := hdrlog(t, ".", "doctor")
	st := doctorStatus(t, stdout)
	for _, c := range doctorChecks {
		if st[c] == "" || st[c] == "MISSING" {
			t.Errorf("as root: %s is %q\n%s", c, st[c], stdout)
		}
	}
	if code != 0 || !strings.Contains(stdout, "ok: this host and process can run hdrlog") {
		t.Errorf("as root: exit %d\n%s%s", code, stdout, stderr)
	}

	_, bin := nobodyCopy(t)
	code, stdout, stderr = runAsNobody(t, bin, nil, "doctor")
	st = doctorStatus(t, stdout)
	for _, c := range []string{"capabilities", "program type sched_cls (tc)", "ring buffer maps", "tcx links", "test runs"} {
		if st[c] != "MISSING" {
			t.Errorf("as nobody: %s is %q, want MISSING\n%s", c, st[c], stdout)
		}
	}
	for _, want := range []string{
		"lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON",
		"capabilities: run as root, or give the binary exactly these: setcap cap_bpf,cap_net_admin,cap_perfmon+ep",
		"tcx links, test runs: run as root, or with CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("as nobody: missing %q in\n%s", want, stdout)
		}
	}
	missing := strings.Count(stdout, " MISSING ")
	if code != 1 || missing < 5 || !strings.HasPrefix(stderr, fmt.Sprintf("hdrlog doctor: %d things hdrlog needs are missing", missing)) {
		t.Errorf("as nobody: exit %d, stderr %q", code, stderr)
	}

	// Least privilege: the three capabilities are all hdrlog needs.
	code, stdout, _ = runAsNobody(t, bin, []uintptr{39 /* CAP_BPF */, 12 /* CAP_NET_ADMIN */, 38 /* CAP_PERFMON */}, "doctor")
	if code != 0 || strings.Contains(stdout, "MISSING") {
		t.Errorf("as nobody with CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON: exit %d\n%s", code, stdout)
	}
}
