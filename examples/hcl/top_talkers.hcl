# Who sends the most traffic to this host, and to which ports? Counting in
# the kernel instead of logging each packet: one line per key and interval,
# whatever the packet rate, e.g.
#   {"time":"…","start":"…","rule":"top_talkers","ip.src":"10.0.0.7","ipv6.src":null,"tcp.dstport":443,"udp.dstport":null,"count":1200,"bytes":1650000}
# The 20 busiest keys of every 10 seconds are written (all packets are
# counted: the summary and the metrics say how many). And the sources of
# new TCP connections, per minute: a scan shows as one source with many.
#   sudo hdrlog run -i eth0 examples/hcl/top_talkers.hcl

rule "top_talkers" {
  hook  = "tc ingress"
  match = "ip || ipv6"
  count = { by = ["ip.src", "ipv6.src", "tcp.dstport", "udp.dstport"], every = "10s", sum = "frame.len", top = 20 }
}

rule "syn_per_source" {
  hook  = "tc ingress"
  match = "tcp.flags.syn == 1 && tcp.flags.ack == 0"
  count = { by = ["ip.src", "ipv6.src"], every = "1m" }
}
