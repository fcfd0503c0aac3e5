rule "a" {
  match = "udp"
  match = "tcp"
  log   = ["ip.src"]
}
