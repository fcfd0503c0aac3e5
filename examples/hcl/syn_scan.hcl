# Is someone scanning this host's TCP ports? A SYN scan sends SYNs without
# ACK to many ports and never completes the handshake; the host answers the
# closed ones with a reset. Count distinct tcp.dstport per ip.src over the
# events (e.g. with jq) to tell a scan from normal connections. Stealthier
# scans send flag combinations no TCP stack sends: none at all (null scan),
# FIN alone, or FIN+PSH+URG (Xmas).
#   sudo hdrlog run -i eth0 examples/hcl/syn_scan.hcl | jq -c '[."ip.src", ."tcp.dstport"]'

rule "scan_syn" {
  hook  = "tc ingress"
  match = "tcp.flags.syn == 1 && tcp.flags.ack == 0"
  log   = ["ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.window_size_value"]
}

# The resets this host sends back: a port that was probed and is closed.
rule "scan_refused" {
  hook  = "tc egress"
  match = "tcp.flags.reset == 1 && tcp.flags.ack == 1 && tcp.len == 0"
  log   = ["ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport"]
}

rule "scan_stealth" {
  hook  = "tc ingress"
  match = "tcp.flags == 0 || tcp.flags == 0x001 || tcp.flags & 0x029 == 0x029"
  log   = ["ip.src", "ipv6.src", "tcp.dstport", "tcp.flags"]
}
