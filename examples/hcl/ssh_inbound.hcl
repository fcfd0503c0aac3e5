# Who opens new SSH connections to this host from outside the private
# ranges? A SYN without ACK to port 22 is the first packet of a connection;
# sources in RFC 1918 (IPv4) and unique-local or link-local (IPv6) ranges
# are left out.
#   sudo hdrlog run -i eth0 examples/hcl/ssh_inbound.hcl

rule "ssh_inbound" {
  hook  = "tc ingress"
  match = <<-EOT
    ip && tcp.dstport == 22 && tcp.flags.syn == 1 && tcp.flags.ack == 0
      && !(ip.src in {10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16})
  EOT
  log   = ["ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "ip.ttl"]
}

rule "ssh_inbound6" {
  hook  = "tc ingress"
  match = <<-EOT
    ipv6 && tcp.dstport == 22 && tcp.flags.syn == 1 && tcp.flags.ack == 0
      && !(ipv6.src in {fc00::/7, fe80::/10})
  EOT
  log   = ["ipv6.src", "tcp.srcport", "ipv6.dst", "tcp.dstport", "ipv6.hlim"]
}
