package runtime

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/hdrlog/hdrlog/compiler"
)

// ErrNoTaskLayout is returned (wrapped) when proc.pname is used and the
// kernel does not describe struct task_struct (no BTF).
var ErrNoTaskLayout = errors.New("proc.pname reads the kernel's struct task_struct, whose layout hdrlog takes from the kernel's BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)")

var taskOffsets = sync.OnceValues(func() (compiler.TaskOffsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return compiler.TaskOffsets{}, fmt.Errorf("%w: %v", ErrNoTaskLayout, err)
	}
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		return compiler.TaskOffsets{}, fmt.Errorf("%w: %v", ErrNoTaskLayout, err)
	}
	var off compiler.TaskOffsets
	found := 0
	for _, m := range task.Members {
		switch m.Name {
		case "real_parent":
			off.RealParent = m.Offset.Bytes()
			found++
		case "comm":
			off.Comm = m.Offset.Bytes()
			found++
		}
	}
	if found != 2 {
		return compiler.TaskOffsets{}, fmt.Errorf("%w: its task_struct has no real_parent or no comm", ErrNoTaskLayout)
	}
	return off, nil
})

// fillTask writes the kernel's task_struct offsets into the programs'
// TaskMap, when they have one.
func fillTask(coll *ebpf.Collection) error {
	m := coll.Maps[compiler.TaskMap]
	if m == nil {
		return nil
	}
	off, err := taskOffsets()
	if err != nil {
		return err
	}
	return m.Put(uint32(0), off)
}
