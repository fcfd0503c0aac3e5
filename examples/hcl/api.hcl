# API monitoring: every HTTP response with its status code, its latency
# (http.time) and the method, host and path of the request it answers; DNS
# lookups that failed, were slow or went unanswered; the TLS version,
# cipher and ALPN protocol each server chose, and how long its handshake
# took. Responses are paired with their requests in the kernel, from the
# packets alone (docs/transactions.md): no agent in the applications.
#
# A request and its response cross the interface in opposite directions,
# so each check comes twice: at tc egress for what this host serves
# (requests arrive at xdp, responses leave at tc egress), at xdp for what
# it asks of others (requests leave at tc egress, responses arrive at
# xdp). A hook keeps the
# requests it sees only when one of its rules uses a transaction field
# (http.time, dns.time, tls.handshake.time, http.response_for.*): both
# sides need theirs, and the hooks share the flows. xdp sees what arrives,
# as tc ingress does; it keeps the tc ingress program of the whole
# examples/rules directory within the kernel verifier's budget.
# `hdrlog run` also reports each DNS query that got no answer within 10
# seconds, once, as an {"unanswered":"dns",…} record.
#   sudo hdrlog run -i eth0 examples/hcl/api.hcl

# Every response this host's APIs send (HTTP on ports 80, 8000, 8080 and
# 8081), at most 1,000 a second; the rest are counted in the summary.
rule "api_served" {
  hook  = "tc egress"
  ports = { http = [8081] }
  match = "http.response"
  log   = ["ip.dst", "tcp.srcport", "http.response_for.method", "http.response_for.host", "http.response_for.uri", "http.response.code", "http.time"]
  limit = "1000/s burst 1000"
}

# The status codes this host's APIs sent, per port, every minute.
rule "api_served_codes" {
  hook  = "tc egress"
  ports = { http = [8081] }
  match = "http.response"
  count = { by = ["tcp.srcport", "http.response.code"], every = "60s" }
}

# Calls this host makes that failed (5xx) or took more than a second.
rule "api_called_errors" {
  hook  = "xdp"
  match = "http.response && (http.response.code >= 500 || http.time > 1)"
  log   = ["ip.src", "tcp.srcport", "http.response_for.method", "http.response_for.host", "http.response_for.uri", "http.response.code", "http.response.phrase", "http.time"]
}

# DNS lookups of this host that failed (any rcode but NOERROR: 2 SERVFAIL,
# 3 NXDOMAIN, 5 REFUSED) or took more than half a second.
rule "dns_failed" {
  hook  = "xdp"
  match = "dns.flags.response == 1 && (dns.flags.rcode != 0 || dns.time > 0.5)"
  log   = ["ip.src", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.count.answers", "dns.time"]
}

# The same for the answers a resolver on this host sends.
rule "dns_failed_served" {
  hook  = "tc egress"
  match = "dns.flags.response == 1 && (dns.flags.rcode != 0 || dns.time > 0.5)"
  log   = ["ip.dst", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.time"]
}

# What the servers this host connects to chose: the version (TLS 1.3 in
# the supported_versions extension, older ones in the hello's version),
# the cipher suite, the ALPN protocol (TLS 1.2 only: TLS 1.3 sends it
# encrypted), and the ClientHello -> ServerHello time.
rule "tls_server_choice" {
  hook  = "xdp"
  ports = { tls = [8443] }
  match = "tls.handshake.type == 2"
  log   = ["ip.src", "tcp.srcport", "tls.handshake.version", "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite", "tls.handshake.extensions_alpn_str", "tls.handshake.time"]
}

# This host's servers agreeing to a version older than TLS 1.2.
rule "tls_served_old" {
  hook  = "tc egress"
  ports = { tls = [8443] }
  match = "tls.handshake.type == 2 && !tls.handshake.extensions.supported_version && tls.handshake.version < 0x0303"
  log   = ["ip.dst", "tcp.srcport", "tls.handshake.version", "tls.handshake.ciphersuite", "tls.handshake.time"]
}
