rule "web" {
  match = "foo(http.host) == \"a.example\""
  log   = ["http.host"]
}
