/* S2: ip.src in {10.0.0.0/8, 172.20.0.0/14} && ip.dst == 192.168.1.0/24
 *     && tcp.dstport in {22, 80, 443, 8080} && tcp.srcport >= 1024
 *     log ip.src, ip.dst, ip.proto, tcp.srcport, tcp.dstport */
#define NRULES 1
#include "common.h"

struct ev_tuple {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u8 proto, _pad0;
	__u16 sport, dport;
	__u16 _pad1;
};

static __always_inline int match_tuple(const struct pkt *p)
{
	if (!p->ip4 || !p->tcp)
		return 0;
	__u32 src = p->ip4->saddr, dst = p->ip4->daddr;
	if (!IN_NET4(src, 10, 0, 0, 0, 8) && !IN_NET4(src, 172, 20, 0, 0, 14))
		return 0;
	if (!IN_NET4(dst, 192, 168, 1, 0, 24))
		return 0;
	switch (bpf_ntohs(p->tcp->dest)) {
	case 22: case 80: case 443: case 8080:
		break;
	default:
		return 0;
	}
	return bpf_ntohs(p->tcp->source) >= 1024;
}

SEC("tc")
int s2(struct __sk_buff *skb)
{
	struct pkt p;

	parse(skb, &p, WANT_IP4 | WANT_IP6 | WANT_TCP);
	if (match_tuple(&p)) {
		struct ev_tuple *e = reserve(0, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, p.presence, 0);
			e->ip_src = IP4_SRC(&p);
			e->ip_dst = IP4_DST(&p);
			e->proto = IP4_PROTO(&p);
			e->_pad0 = 0;
			e->sport = TCP_SPORT(&p);
			e->dport = TCP_DPORT(&p);
			e->_pad1 = 0;
			submit(e);
		}
	}
	return TC_PASS;
}
