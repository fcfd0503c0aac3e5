rule "plain_heredoc" {
  hook  = "tc egress"
  match = <<EOT
ip.dst == 192.0.2.1 &&
    (tcp.dstport == 443 || udp.dstport == 443)
EOT
  log = ["ip.dst", "tcp.dstport", "udp.dstport"]
}

rule "flush_heredoc" {
  match = <<-EOT
      ipv6 &&
        icmpv6.type in {1..4}

      && !(ipv6.src in {fe80::/10})
  EOT
  log = ["ipv6.src"]
}
