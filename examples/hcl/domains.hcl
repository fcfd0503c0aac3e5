# Who asks for, or connects to, a name on a watch list (telemetry endpoints,
# ad and tracking domains, the names of a phishing kit): one named set of
# names, read from a file of one per line, tested against the DNS question,
# the TLS server name (SNI) and the HTTP Host header. The set is a hash map
# in the kernel keyed by the name (docs/volume.md), so a packet costs one
# lookup whatever the list's length; names compare case-insensitively, as
# host names do. A Host header with a port (example.net:8080) is not the
# name alone. Edit the file under `hdrlog run --watch` (or send SIGHUP) and
# the map is updated in place: no new programs.
#
#   sudo hdrlog run -i eth0 --watch examples/sets examples/hcl/domains.hcl

set "watched" {
  file = "../sets/domains.txt"
}

rule "watched_dns" {
  match = "dns.qry.name in $watched && dns.flags.response == 0"
  log   = ["ip.src", "ipv6.src", "dns.qry.name", "dns.qry.type"]
}

rule "watched_tls" {
  match = "tls.handshake.extensions_server_name in $watched"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tls.handshake.extensions_server_name"]
}

rule "watched_http" {
  match = "http.host in $watched"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "http.host", "http.request.method", "http.request.uri"]
}
