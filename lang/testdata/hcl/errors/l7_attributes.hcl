rule "web" {
  ports    = { http = "8081", smtp = [25] }
  maxlen   = { http.request.uri = 512, "http.host" = "32" }
  unredact = "http.cookie"
  log      = ["http.host"]
}
