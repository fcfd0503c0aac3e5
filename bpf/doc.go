// Package bpf holds hdrlog's kernel-facing building blocks, independent of
// rules: an instruction builder with symbolic labels, the per-hook program
// flavours (context layout, return codes, attach types), the ring-buffer and
// counter sequences, and test-run helpers.
package bpf
