rule "a" {
  match = "ip.src == 10.0.0.1 &&\t\u0020tcp.dstport == == 22"
  log   = ["ip.src"]
}
