# Every ping that reaches this host (ICMP and ICMPv6 echo requests), but
# never more than 100 events a second per rule, with bursts of up to 20 on
# top: a ping flood costs the ring buffer and the reader 100 events a
# second, not a million. The limit is a token bucket in the kernel; the
# packets over it are counted, never silently dropped: the summary and the
# metrics give, per rule, matched = logged + lost + over limit (see
# docs/volume.md).
#   sudo hdrlog run -i eth0 examples/hcl/ping_limited.hcl

rule "ping" {
  hook  = "tc ingress"
  match = "icmp.type == 8"
  log   = ["ip.src", "ip.dst", "icmp.type", "frame.len"]
  limit = "100/s burst 20"
}

rule "ping6" {
  hook  = "tc ingress"
  match = "icmpv6.type == 128"
  log   = ["ipv6.src", "ipv6.dst", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number", "frame.len"]
  limit = "100/s burst 20"
}
