// Package compiler turns a typed rule set into eBPF programs, one per hook,
// and the schema of the events they emit.
//
// Each program parses the packet's headers once into a packet record on the
// stack (the fields the hook's rules use, plus a bitmap of the headers
// present), then evaluates every rule of the hook against the record and, for
// each rule that matches, reserves an event in the ring buffer and fills it in
// place. The event layout is the compiler's output (Schema); the runtime
// decodes events by it alone.
//
// Where the parser stops on a packet on which no rule of the hook can hold
// (every rule needs a TCP or UDP header and the packet has none, say), it
// jumps straight to the program's end (reach.go). The common path takes no
// jump where it can: IPv4 and, after IPv6, TCP fall through, and the rarer
// cases (a VLAN tag in skb metadata, a zero IP length) are out of line.
//
// The headers the parser knows, their lengths, dispatch values and presence
// bits come from the header table (rules/headers.go, docs/headers.md). The
// registers and stack slots each part of a program may write are the
// contract of contract.go.
package compiler
