# Which hosts send DNS queries to resolvers other than the approved ones
# (here 10.0.0.53 and 10.0.1.53, fd00::53)? Queries that bypass the
# approved resolvers escape their logging and filtering, and are a common
# sign of malware or of a misconfigured client. Attach on the host that
# sends the queries (egress), or on a router's inside interface (ingress).
#   sudo hdrlog run -i eth0 examples/hcl/dns_resolvers.hcl

rule "dns_unapproved" {
  hook  = "tc egress"
  match = "ip && udp.dstport == 53 && !(ip.dst in {10.0.0.53, 10.0.1.53})"
  log   = ["ip.src", "ip.dst", "udp.srcport"]
}

rule "dns_unapproved6" {
  hook  = "tc egress"
  match = "ipv6 && udp.dstport == 53 && ipv6.dst != fd00::53"
  log   = ["ipv6.src", "ipv6.dst", "udp.srcport"]
}
