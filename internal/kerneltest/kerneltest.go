// Package kerneltest decides whether a test that needs the kernel (loading
// programs, test runs, network namespaces) can run, and says why not.
//
// Outside CI a test without the privileges is skipped with the reason. Under
// CI=true it fails: CI must never report success for kernel tests it did not
// run.
package kerneltest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

var (
	once   sync.Once
	reason error
)

func probe() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		return fmt.Errorf("cannot load a BPF program (needs root or CAP_BPF+CAP_NET_ADMIN+CAP_PERFMON): %w", err)
	}
	prog.Close()
	return nil
}

// Require stops the test unless the kernel can load BPF programs: a skip
// outside CI, a failure under CI=true.
func Require(t testing.TB) {
	t.Helper()
	once.Do(func() { reason = probe() })
	if reason == nil {
		return
	}
	if InCI() {
		t.Fatalf("kernel test cannot run under CI=true: %v", reason)
	}
	t.Skipf("kernel test skipped: %v", reason)
}

// RequireRoot stops the test unless it runs as root (network namespaces,
// raw sockets): a skip outside CI, a failure under CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("test needs root and cannot run under CI=true")
	}
	t.Skip("test needs root")
}

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }
