package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// TestVerifierEACCESIsNotPrivilege: the verifier refuses an out-of-bounds
// packet read with EACCES; with every capability held, that is reported as
// the verifier's refusal with its log, not as missing privileges.
func TestVerifierEACCESIsNotPrivilege(t *testing.T) {
	kerneltest.Require(t)
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 76, asm.Word), // skb->data, no bounds check
			asm.LoadMem(asm.R0, asm.R2, 0, asm.Byte),
			asm.Return(),
		},
	})
	if !errors.Is(err, unix.EACCES) {
		t.Fatalf("the kernel loaded or refused otherwise: %v", err)
	}
	got := explainLoadError(&compiler.Output{}, err)
	if errors.Is(got, ErrPrivilege) {
		t.Fatalf("a verifier refusal reported as missing privileges: %v", got)
	}
	if !strings.Contains(got.Error(), "invalid access to packet") {
		t.Errorf("the verifier's log is not in the error: %v", got)
	}
}
