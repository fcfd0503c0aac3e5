# TLS connections by server name (SNI), from the ClientHello: every
# connection to a watched service, and ClientHellos that offer no server name
# at all (raw IP connections, some malware). A ClientHello that spans two
# segments, with its server name in the second, is reported once, on that
# segment. Port 8443 is declared as TLS too.
#   sudo hdrlog run -i eth0 examples/hcl/tls_sni.hcl

rule "tls_watched" {
  ports = { tls = [8443] }
  match = <<-EOT
    tls.handshake.type == 1 && (tls.handshake.extensions_server_name matches "\\.example\\.com$" || tls.handshake.extensions_server_name == "example.com")
  EOT
  log   = ["ip.src", "tcp.dstport", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str", "tls.handshake.version"]
}

rule "tls_no_sni" {
  match = "tls.handshake.type == 1 && !tls.handshake.extensions_server_name"
  log   = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.dstport", "tls.record.version"]
}
