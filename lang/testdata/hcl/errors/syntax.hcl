rule "a" {
  log = ["ip.src"
}
