rule "a" {
  match = "tcp.dstport == \"22\" && \\ udp"
  log   = ["ip.src"]
}
