rule "a" {
  hook  = "tc ingres"
  log   = ["ip.src"]
}
