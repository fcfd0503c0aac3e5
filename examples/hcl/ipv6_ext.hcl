# Which IPv6 packets carry extension headers? Hop-by-hop options (0),
# routing headers (43), fragments (44), destination options (60) and AH (51)
# are rare in normal traffic, slow down routers and are a classic way to
# slip past filters that only look at the fixed header.
#   sudo hdrlog run -i eth0 examples/hcl/ipv6_ext.hcl

rule "ipv6_ext" {
  hook  = "xdp"
  match = "ipv6.nxt in {0, 43, 44, 60, 51}"
  log   = ["ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "frame.len"]
}
