# HTTP requests by host and path. Which clients call the admin pages of
# shop.example.com, and with which tool? Which requests reach the internal
# API on its non-standard port 8081 (declared with ports; requests are also
# recognised on any port by their method)? Authorization and Cookie are
# redacted in the kernel: the events carry "[redacted]" and the length.
#   sudo hdrlog run -i eth0 examples/hcl/http.hcl

rule "shop_admin" {
  match  = <<-EOT
    http.host == "shop.example.com" && http.request.uri matches "^/admin"
  EOT
  log    = ["ip.src", "http.request.method", "http.host", "http.request.uri", "http.user_agent", "http.authorization"]
  maxlen = { "http.request.uri" = 256 }
}

rule "api_calls" {
  ports = { http = [8081] }
  match = <<-EOT
    http.request && tcp.dstport == 8081 && http.request.method in {"POST", "PUT", "DELETE", "PATCH"}
  EOT
  log   = ["ip.src", "http.request.method", "http.request.uri", "http.header[\"X-Request-Id\"]", "http.content_type", "http.content_length_header"]
}

rule "scanners" {
  match = <<-EOT
    lower(http.user_agent) contains "sqlmap" || lower(http.user_agent) contains "nikto" || http.request.uri contains "/../"
  EOT
  log   = ["ip.src", "tcp.dstport", "http.host", "http.request.uri", "http.user_agent"]
}
