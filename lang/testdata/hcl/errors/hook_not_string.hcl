rule "a" {
  hook  = 7
  match = 22
  log   = ["ip.src"]
}
