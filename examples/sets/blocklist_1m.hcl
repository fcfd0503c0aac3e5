# A blocklist of a million entries, IPv4 and IPv6 addresses and prefixes
# mixed, read from a gzip-compressed file of one element per line (as
# threat-intelligence feeds are published): traffic from or to any of them
# is logged. The set is a map in the kernel (an LPM trie per address
# family; see docs/volume.md): a packet costs one lookup per address
# whatever the list's length, and the million entries
# are read, checked, compiled, verified and loaded in under 2 s.
# Replace the file (or edit it) under --watch, or send SIGHUP, and the maps
# are updated in place: no new programs, no event lost.
#
# blocklist_1m.txt.gz was written by
#   go run ./examples/sets/genblocklist -n 1000000 | gzip -n -9 > examples/sets/blocklist_1m.txt.gz
#   sudo hdrlog run -i eth0 --watch examples/sets examples/sets/blocklist_1m.hcl
# (examples/hcl/blocklist.hcl is the same rule over a list of 1,000.)

set "blocklist_1m" {
  file = "blocklist_1m.txt.gz"
}

rule "blocklisted_1m" {
  match = "ip.addr in $blocklist_1m || ipv6.addr in $blocklist_1m"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.dstport", "udp.dstport"]
}
