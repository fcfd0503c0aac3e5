redact "headers" {
  names = ["X-A"]
}

rule "a" {
  match = "http"
  log   = ["http.host"]
}
