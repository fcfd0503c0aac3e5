/* S3: udp.port == 53
 *     log ip.src, ip.dst, udp.srcport, udp.dstport, udp.length */
#define NRULES 1
#include "common.h"

struct ev_dns {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u16 sport, dport, len, _pad;
};

SEC("tc")
int s3(struct __sk_buff *skb)
{
	struct pkt p;

	parse(skb, &p, WANT_IP4 | WANT_IP6 | WANT_UDP);
	if (p.udp && (p.udp->source == bpf_htons(53) || p.udp->dest == bpf_htons(53))) {
		struct ev_dns *e = reserve(0, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, p.presence, 0);
			e->ip_src = IP4_SRC(&p);
			e->ip_dst = IP4_DST(&p);
			e->sport = UDP_SPORT(&p);
			e->dport = UDP_DPORT(&p);
			e->len = UDP_LEN(&p);
			e->_pad = 0;
			submit(e);
		}
	}
	return TC_PASS;
}
