package rules

// Cgroup hooks: `hook cgroup ingress` and `hook cgroup egress` run a rule
// on the packets that the sockets of one cgroup's processes (and its
// descendants') receive and send, whatever interface they use
// (cgroup_skb programs). The cgroup is given on the command line
// (--cgroup PATH). The kernel hands these programs the packet from its
// network header on: there is no link layer, so Ethernet and VLAN fields
// are refused there, and frame.len is the IP packet's length.

// IsCgroup reports whether h is a cgroup hook.
func (h Hook) IsCgroup() bool { return h == HookCgroupIngress || h == HookCgroupEgress }

// IsInterface reports whether h attaches to network interfaces (tc, XDP).
func (h Hook) IsInterface() bool { return !h.IsCgroup() && !h.IsSyscall() }

// linkLayer are the headers of the link layer, which cgroup hooks do not
// see.
var linkLayer = map[Header]bool{HdrEth: true, HdrVLAN: true, HdrIEEE8021AD: true, HdrARP: true}
