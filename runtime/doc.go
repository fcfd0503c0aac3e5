// Package runtime loads compiled rule sets into the kernel, attaches them,
// reads their events from the ring buffer, decodes them by the compiler's
// schema and writes them out as JSON lines; it counts every lost event.
package runtime
