rule "a" {
  match = "tcp.dstport == ${port}"
  log   = ["ip.src"]
}
