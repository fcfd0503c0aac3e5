# The issue's example, and the defaults: no hook is tc ingress, no match
# is every packet.
rule "ssh_syn" {
  hook  = "tc ingress"
  match = "tcp.dstport == 22 && tcp.flags.syn == 1 && !(ip.src in {10.0.0.0/8})"
  log   = ["ip.src", "ip.dst", "tcp.srcport", "tcp.dstport"]
}

rule "every_frame" {
  log = ["frame.len"]
}

rule bare_label {
  hook = "xdp"
  log  = [
    "eth.src",
    "vlan.id#2",
  ]
}
