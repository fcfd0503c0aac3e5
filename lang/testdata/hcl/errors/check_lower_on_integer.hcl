rule "web" {
  match = "lower(tcp.dstport) == 80"
  log   = ["tcp.dstport"]
}
