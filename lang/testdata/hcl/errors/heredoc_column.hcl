rule "a" {
  match = <<-EOT
      ip.src == 10.0.0.1 &&
        tcp.dstport == == 22
  EOT
  log   = ["ip.src"]
}
