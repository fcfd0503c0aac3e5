# A rule set's redaction: more headers redacted, more query parameters masked.
redact "header" {
  names = ["X-Session-Key", "X-Tenant-Secret"]
}
redact "query" {
  names = ["otp", "Session-Key"]
}

rule "redact" {
  match    = "http.request"
  log      = ["http.request.uri", "http.header[\"X-Session-Key\"]"]
  unredact = ["http.request.uri"]
}
