package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/rules"
)

// Every system-call hook's program, with every field it has logged and
// tested, keeps the generator's contract and passes the verifier: with a
// few rules (the record on the stack) and with many (the per-CPU copy).
func TestKernelSyscallPrograms(t *testing.T) {
	kerneltest.Require(t)
	peer := map[string]bool{"fd.cport": true, "fd.cip": true, "fd.cip6": true}
	for _, n := range []int{2, compiler.SmallProgram + 4} {
		var src strings.Builder
		for _, h := range rules.SyscallHooks {
			d := h.Syscall()
			var names []string
			for _, f := range rules.SyscallFields() {
				if d.Has(f) && (f.Header != rules.HdrFd || d.AddrArg >= 0 && peer[f.Name] == d.Peer) {
					names = append(names, f.Name)
				}
			}
			for i := 0; i < n; i++ {
				addr := ""
				switch {
				case d.AddrArg < 0:
				case d.Peer:
					addr = fmt.Sprintf(" && (fd.cip == 127.0.0.%d || fd.cip6 == ::1) && fd.cport in {80 443}", i)
				default:
					addr = fmt.Sprintf(" && (fd.sip == 127.0.0.%d || fd.sip6 == ::1) && fd.sport in {80 443}", i)
				}
				fmt.Fprintf(&src, `rule %s_%d {
    hook %s
    match proc.name == "curl" && evt.type == %q && evt.failed == 1 && proc.pid > %d && user.uid == 0%s
    log %s
}
`, strings.ReplaceAll(h.String(), " ", "_"), i, h, d.Name, i, addr, strings.Join(names, ", "))
			}
		}
		out := ktCompile(t, "syscalls.rules", src.String())
		if len(out.Programs) != len(rules.SyscallHooks) {
			t.Fatalf("%d programs, want one per system-call hook", len(out.Programs))
		}
		coll, err := ebpf.NewCollectionWithOptions(out.Spec(1<<16), ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogSizeStart: 1 << 20}})
		if err != nil {
			t.Fatalf("%d rules per hook: load: %v", n, err)
		}
		if coll.Programs[compiler.SyscallEnterProg] == nil {
			t.Errorf("no sys_enter program")
		}
		coll.Close()
	}
}
