# Which process phoned home, and from which container? Every connect(2) to
# an address outside loopback and the private ranges, with the process that
# made it, its container (12 hex digits, "host" outside containers) and the
# call's result (non-blocking sockets show EINPROGRESS).
#   sudo hdrlog run examples/hcl/phone_home.hcl

rule "phone_home" {
  hook  = "syscall connect"
  match = "fd.sip && !(fd.sip in {127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16})"
  log   = ["proc.pid", "proc.name", "user.uid", "cgroup.id", "container.id", "fd.sip", "fd.sport", "evt.res"]
}

rule "phone_home6" {
  hook  = "syscall connect"
  match = "fd.sip6 && !(fd.sip6 in {::1, fc00::/7, fe80::/10})"
  log   = ["proc.pid", "proc.name", "user.uid", "cgroup.id", "container.id", "fd.sip6", "fd.sport", "evt.res"]
}

# UDP datagrams sent to an address given with the call (DNS resolvers,
# beacons), outside the same ranges.
rule "phone_home_udp" {
  hook  = "syscall sendto"
  match = "fd.sip && !(fd.sip in {127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16})"
  log   = ["proc.pid", "proc.name", "user.uid", "cgroup.id", "container.id", "fd.sip", "fd.sport", "evt.res"]
}
