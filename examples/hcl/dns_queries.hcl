# DNS queries to resolvers other than the approved ones (10.0.0.53,
# 10.0.1.53), with the names asked: clients that bypass the resolvers'
# logging and filtering, often malware or a misconfigured host. And every
# query for a name under a watched domain, whoever resolves it (over UDP or
# TCP, on port 53, or over mDNS and LLMNR, decoded by default). mDNS and
# LLMNR queries are multicast to the link, not sent to a resolver: the
# first rule asks for the protocol dns, which they are not.
#   sudo hdrlog run -i eth0 examples/hcl/dns_queries.hcl

rule "dns_unapproved_resolver" {
  hook  = "tc egress"
  match = "dns && dns.flags.response == 0 && ip && !(ip.dst in {10.0.0.53, 10.0.1.53})"
  log   = ["ip.src", "ip.dst", "dns.id", "dns.qry.name", "dns.qry.type"]
}

rule "dns_watched_domain" {
  match = <<-EOT
    dns.flags.response == 0 && (dns.qry.name matches "\\.example-c2\\.net$" || dns.qry.name == "example-c2.net")
  EOT
  log   = ["ip.src", "ipv6.src", "dns.qry.name", "dns.qry.type", "dns.qry.class"]
}

rule "dns_nxdomain" {
  match = "dns.flags.rcode == 3"
  log   = ["ip.dst", "dns.qry.name", "dns.count.answers"]
}
