rule "a" {
  match = <<EOT
ip.src == 10.0.0.1 &&
  tcp.dstport in {22, 80
EOT
  log   = ["ip.src"]
}
