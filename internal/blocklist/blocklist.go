// Package blocklist generates deterministic lists of IPv4 and IPv6
// addresses and prefixes, mixed as threat-intelligence feeds are, for
// hdrlog's examples, scale tests and benchmarks.
package blocklist

import (
	"fmt"
	"io"
)

// Element returns element i of the list. Even elements are IPv4, odd ones
// IPv6; one in eight of each is a prefix (a /24, a /48). No element holds
// an address of 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7 or
// fe80::/10, where test traffic comes from; every element is distinct.
func Element(i int) string {
	k := i / 2
	if i%2 == 0 {
		a, b, c := 20+k>>16, k>>8&0xff, k&0xff
		if k%8 == 0 {
			return fmt.Sprintf("%d.%d.%d.0/24", a+100, b, c)
		}
		return fmt.Sprintf("%d.%d.%d.%d", a, b, c, 1+k%250)
	}
	if k%8 == 0 {
		return fmt.Sprintf("2001:db8:%x:%x::/64", k>>16, k&0xffff)
	}
	return fmt.Sprintf("2001:db8:ffff:%x::%x", k>>15, 1+k&0x7fff)
}

// Write writes elements 0..n-1, one a line.
func Write(w io.Writer, n int) error {
	for i := range n {
		if _, err := io.WriteString(w, Element(i)+"\n"); err != nil {
			return err
		}
	}
	return nil
}
