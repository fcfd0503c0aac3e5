// Package compiler turns a typed rule set into eBPF programs, one per hook,
// and the schema of the events they emit.
//
// Each program parses the packet's headers once into a packet record on the
// stack (the fields the hook's rules use, plus a bitmap of the headers
// present), then evaluates every rule of the hook against the record and, for
// each rule that matches, reserves an event in the ring buffer and fills it in
// place. The event layout is the compiler's output (Schema); the runtime
// decodes events by it alone.
package compiler
