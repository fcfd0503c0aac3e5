# What travels on VLAN 42, and with which priority? hdrlog reads the tag
# wherever it is: in the frame, or (at tc ingress) in the metadata the
# kernel moved it to. vlan.id matches the outer or the inner tag of a QinQ
# frame; write vlan.id#1 for the outer one only.
#   sudo hdrlog run -i eth0 examples/hcl/vlan.hcl

rule "vlan_42" {
  hook  = "tc ingress"
  match = "vlan.id == 42"
  log   = ["eth.src", "eth.dst", "vlan.id", "vlan.priority", "vlan.etype", "frame.len"]
}
