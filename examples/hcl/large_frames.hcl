# Which frames are larger than a 1500-byte MTU allows? frame.len counts the
# 14-byte Ethernet header, so a full-size frame is 1514 bytes (1518 with a
# VLAN tag). Larger frames are jumbo frames, or a sign of a misconfigured
# MTU. The rule runs at XDP, which sees frames as they arrive: at tc, the
# kernel has already merged segments (GRO) into packets far larger than any
# frame on the wire.
#   sudo hdrlog run -i eth0 examples/hcl/large_frames.hcl

rule "large_frame" {
  hook  = "xdp"
  match = "frame.len > 1514 && !vlan || frame.len > 1518"
  log   = ["frame.len", "eth.src", "eth.dst", "eth.type", "vlan.id"]
}
