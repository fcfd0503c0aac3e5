rule "a" {
  match = "ip.src == 10.0.0.0/8 &&\n tcp.dstport == 70000"
  log   = ["ip.src", "tcp.dport"]
}
