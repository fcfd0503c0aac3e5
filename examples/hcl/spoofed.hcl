# Packets no honest host sends: the same address or port on both sides (the
# LAND attack and UDP/TCP reflection loops), a multicast source MAC
# address, and sources inside a range of MAC addresses set aside for a lab.
# Two fields compare when they have the same type; MAC and IPv6 addresses
# order byte by byte, and slices take their bytes, as in Wireshark.
#   sudo hdrlog run -i eth0 examples/hcl/spoofed.hcl

rule "land" {
  match = "ip.src == ip.dst || ipv6.src == ipv6.dst"
  log   = ["ip.src", "ipv6.src", "tcp.dstport", "udp.dstport"]
}

rule "port_loop" {
  match = "tcp.srcport == tcp.dstport || udp.srcport == udp.dstport"
  log   = ["ip.src", "ip.dst", "tcp.srcport", "udp.srcport"]
}

# The group bit of a source MAC address is never set on a real frame.
rule "group_source" {
  match = "eth.src[0] & 0x01"
  log   = ["eth.src", "eth.dst", "eth.type"]
}

rule "lab_macs" {
  match = "eth.src in {02:00:5e:00:00:00..02:00:5e:ff:ff:ff} && ipv6.dst >= ff00::"
  log   = ["eth.src", "ipv6.dst"]
}
