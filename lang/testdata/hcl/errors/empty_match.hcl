rule "a" {
  match = ""
  log   = []
}
