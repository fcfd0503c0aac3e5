# Every mistake of this file is reported in one run.
rule "a" {
  match = "tcp.dstport == 22"
  lg    = ["ip.src"]
  log   = ["ip.src"]
}

firewall "b" {
}

rule "c" {
  log = "ip.src"
}

rule "d" {
  match = "udp"
}

rule "e" {
  log = ["ip.src"]
}

rule "e" {
  log = ["ip.dst"]
}

rule "f" {
  match = "tcp.dstport == == 22"
  log   = [ip.src, 22]
}
