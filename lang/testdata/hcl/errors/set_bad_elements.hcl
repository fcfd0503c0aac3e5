set "ports" {
  elements = [22, "80", "70000", true, "443..80", "1024..2047"]
}
set "none" {
}
rule "p" {
  match = "tcp.dstport in $ports && ip.src in $nnoe"
  log   = ["tcp.dstport"]
}
