# Traffic from or to an address on a blocklist (a threat-intelligence feed,
# the addresses of a botnet's controllers): one named set of IPv4 and IPv6
# addresses and prefixes, read from a file of one element per line, used on
# either side of IPv4 and IPv6 packets. The set is a map in the kernel (an
# LPM trie per address family; see docs/volume.md), so a packet costs one
# lookup per address whatever the list's length, and a million entries
# load in a second or two. Edit the file under `hdrlog run --watch` (or
# send SIGHUP) and the map is updated in place: no new programs.
#
# examples/sets/blocklist.txt holds 1,000 generated entries; write a
# million with
#   go run ./examples/sets/genblocklist -n 1000000 > examples/sets/blocklist.txt
#   sudo hdrlog run -i eth0 --watch examples/sets examples/hcl/blocklist.hcl

set "blocklist" {
  file = "../sets/blocklist.txt"
}

rule "blocklisted" {
  match = "ip.addr in $blocklist || ipv6.addr in $blocklist"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.dstport", "udp.dstport"]
}

# Connections to the blocklist that start here: a TCP SYN or the first
# datagram out, at egress.
rule "blocklisted_out" {
  hook  = "tc egress"
  match = "(ip.dst in $blocklist || ipv6.dst in $blocklist) && (tcp.flags.syn == 1 && tcp.flags.ack == 0 || udp)"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.dstport", "udp.dstport"]
}
