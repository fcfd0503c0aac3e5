/* S4: rule vlan42_https: vlan.id == 42 && tcp.dstport == 443
 *       log vlan.id, ip.src, ip.dst, tcp.srcport
 *     rule v6_https: ipv6.dst == 2001:db8::/32 && tcp.dstport == 443
 *       log ipv6.src, ipv6.dst, tcp.srcport */
#define NRULES 2
#include "common.h"

struct ev_vlan42_https {
	struct event_hdr h;
	__u16 vlan_id, _pad0;
	__u32 ip_src, ip_dst;
	__u16 sport, _pad1;
};

struct ev_v6_https {
	struct event_hdr h;
	struct in6_addr src, dst;
	__u16 sport, _pad0;
	__u32 _pad1;
};

SEC("tc")
int s4(struct __sk_buff *skb)
{
	struct pkt p;

	parse(skb, &p, WANT_IP4 | WANT_IP6 | WANT_TCP);
	if ((p.presence & BIT(FACT_VLAN1)) && VLAN_ID(&p) == 42 && p.tcp && p.tcp->dest == bpf_htons(443)) {
		struct ev_vlan42_https *e = reserve(0, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, p.presence, 0);
			e->vlan_id = VLAN_ID(&p);
			e->_pad0 = 0;
			e->ip_src = IP4_SRC(&p);
			e->ip_dst = IP4_DST(&p);
			e->sport = TCP_SPORT(&p);
			e->_pad1 = 0;
			submit(e);
		}
	}
	if (p.ip6 && p.ip6->daddr.in6_u.u6_addr32[0] == bpf_htonl(0x20010db8) && p.tcp && p.tcp->dest == bpf_htons(443)) {
		struct ev_v6_https *e = reserve(1, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, p.presence, 1);
			copy_in6(&e->src, p.ip6, 0);
			copy_in6(&e->dst, p.ip6, 1);
			e->sport = TCP_SPORT(&p);
			e->_pad0 = 0;
			e->_pad1 = 0;
			submit(e);
		}
	}
	return TC_PASS;
}
