# Which ICMP and ICMPv6 errors reach this host, and from where? Unreachable,
# time exceeded and parameter problems explain failing connections and
# traceroutes; "packet too big" (ICMPv6 type 2, ICMP type 3 code 4) is what
# path-MTU discovery depends on. Echo requests and replies are not errors
# and are left out.
#   sudo hdrlog run -i eth0 examples/hcl/icmp_errors.hcl

rule "icmp_error" {
  hook  = "tc ingress"
  match = "icmp.type in {3, 4, 5, 11, 12}"
  log   = ["ip.src", "ip.dst", "icmp.type", "icmp.code"]
}

rule "icmpv6_error" {
  hook  = "tc ingress"
  match = "icmpv6.type in {1..4}"
  log   = ["ipv6.src", "ipv6.dst", "icmpv6.type", "icmpv6.code"]
}
