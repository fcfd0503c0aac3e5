/* S1: tcp.dstport == 22 && tcp.flags.syn == 1
 *     log ip.src, ip.dst, tcp.srcport, tcp.dstport */
#define NRULES 1
#include "common.h"

/* The event-cost benchmark builds a twin with SSH_PORT=23: same tests, no match. */
#ifndef SSH_PORT
#define SSH_PORT 22
#endif

struct ev_ssh_syn {
	struct event_hdr h;
	__u32 ip_src, ip_dst; /* network order */
	__u16 sport, dport;
	__u32 _pad;
};

SEC("tc")
int s1(struct __sk_buff *skb)
{
	struct pkt p;

	parse(skb, &p, WANT_IP4 | WANT_IP6 | WANT_TCP);
	if (p.tcp && p.tcp->dest == bpf_htons(SSH_PORT) && p.tcp->syn) {
		struct ev_ssh_syn *e = reserve(0, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, p.presence, 0);
			e->ip_src = IP4_SRC(&p);
			e->ip_dst = IP4_DST(&p);
			e->sport = TCP_SPORT(&p);
			e->dport = TCP_DPORT(&p);
			e->_pad = 0;
			submit(e);
		}
	}
	return TC_PASS;
}
