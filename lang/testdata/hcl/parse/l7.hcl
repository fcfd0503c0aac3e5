rule "web" {
  ports    = { http = [8081, 9000], tls = [8443] }
  match    = "http.header[\"X-Request-Id\"] == \"r42\" && lower(http.host) matches \"\\\\.example\\\\.com$\""
  log      = ["http.host", "http.header.Set-Cookie", "http.cookie", "http.request.uri"]
  maxlen   = { "http.request.uri" = 512, "http.header.Set-Cookie" = 16 }
  unredact = ["http.cookie", "http.header.Set-Cookie"]
}
