rule "a" {
  match = "tcp.port == $${port}"
  log   = ["ip.src"]
}
