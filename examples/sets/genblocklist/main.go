// Command genblocklist writes a deterministic blocklist for hdrlog's named
// sets: one element per line, IPv4 and IPv6 addresses and prefixes mixed,
// as threat-intelligence feeds are. examples/sets/blocklist.txt is its
// first lines; the benchmark and the scale tests generate a million.
//
//	go run ./examples/sets/genblocklist -n 1000000 > blocklist-1m.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/hdrlog/hdrlog/internal/blocklist"
)

func main() {
	n := flag.Int("n", 1000, "elements to write")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "# %d addresses and prefixes, IPv4 and IPv6 (go run ./examples/sets/genblocklist -n %d)\n", *n, *n)
	if err := blocklist.Write(w, *n); err != nil {
		fmt.Fprintln(os.Stderr, "genblocklist:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genblocklist:", err)
		os.Exit(1)
	}
}
