set "blocklist" {
  elements = ["192.0.2.1"]
  file     = "blocklist.txt"
}
rule "blocked" {
  match = "ip.src in $blocklist"
  log   = ["ip.src"]
}
