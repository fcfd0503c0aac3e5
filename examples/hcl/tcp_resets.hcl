# Which TCP connections are reset, by whom? Resets coming in show peers or
# middleboxes killing connections; resets going out show this host refusing
# connections (closed ports) or aborting them. Both directions, IPv4 and
# IPv6: the addresses of the other family are null.
#   sudo hdrlog run -i eth0 examples/hcl/tcp_resets.hcl

rule "reset_in" {
  hook  = "tc ingress"
  match = "tcp.flags.reset == 1"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.flags"]
}

rule "reset_out" {
  hook  = "tc egress"
  match = "tcp.flags.reset == 1"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.flags"]
}
