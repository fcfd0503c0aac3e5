rule {
  log = ["ip.src"]
}
