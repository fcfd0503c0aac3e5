/* S5: ten mixed rules (the rules of S1-S4 and six more); see
 * bench/internal/suite for their text. Rule indices are the events' rule
 * numbers.
 *
 * Unlike s1-s4, the rules do not test header pointers: with ten rules
 * reading through the parser's pointers (each parser path a different
 * pointer state) and each rule's reserve-or-count-lost paths, the verifier
 * gives up after 1,000,000 processed instructions, even with the events
 * written by global functions. The usual way out in C is the one hdrlog
 * takes: a parser, here a global (separately verified) function, copies
 * the fields the rules use into a record on the stack, and the rules test
 * the record. It costs a BPF-to-BPF call per packet.
 */
#define NRULES 10
#include "common.h"

/* Events of rules 0 (ssh_syn) and 5 (tcp_reset). */
struct ev_4tuple {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u16 sport, dport;
	__u32 _pad;
};

struct ev_tuple {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u8 proto, _pad0;
	__u16 sport, dport;
	__u16 _pad1;
};

struct ev_dns {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u16 sport, dport, len, _pad;
};

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

/* Events of rules 6 (low_ttl: ip.ttl) and 7 (ping: icmp.code). */
struct ev_ip_u8 {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u8 v, _pad0;
	__u16 _pad1;
	__u32 _pad2;
};

struct ev_v6_icmp {
	struct event_hdr h;
	struct in6_addr src;
	__u8 type, _pad0;
	__u16 _pad1;
	__u32 _pad2;
};

struct ev_rdp {
	struct event_hdr h;
	__u32 ip_src, ip_dst;
	__u16 tcp_dport, udp_dport;
	__u32 _pad;
};

/* The packet record: every field a rule tests or logs; zero when absent
 * (the presence bitmap says which are present). Addresses and ports in
 * network order. */
struct rec {
	__u64 presence;
	struct in6_addr src6, dst6;
	__u32 ip_src, ip_dst;
	__u16 vlan_tci; /* host order */
	__u16 tcp_sport, tcp_dport, tcp_flags;
	__u16 udp_sport, udp_dport, udp_len;
	__u8 proto, ttl, icmp_type, icmp_code, icmp6_type, _pad[3];
};

__noinline int parse_rec(struct __sk_buff *skb, struct rec *r)
{
	struct pkt p;

	if (!r)
		return 0;
	parse(skb, &p, WANT_IP4 | WANT_IP6 | WANT_TCP | WANT_UDP | WANT_ICMP | WANT_ICMP6);
	__builtin_memset(r, 0, sizeof(*r));
	r->presence = p.presence;
	r->vlan_tci = p.vlan_tci[0];
	if (p.ip4) {
		r->ip_src = p.ip4->saddr;
		r->ip_dst = p.ip4->daddr;
		r->proto = p.ip4->protocol;
		r->ttl = p.ip4->ttl;
	}
	if (p.ip6) {
		r->src6 = p.ip6->saddr;
		r->dst6 = p.ip6->daddr;
	}
	if (p.tcp) {
		r->tcp_sport = p.tcp->source;
		r->tcp_dport = p.tcp->dest;
		r->tcp_flags = ((__u16 *)p.tcp)[6];
	}
	if (p.udp) {
		r->udp_sport = p.udp->source;
		r->udp_dport = p.udp->dest;
		r->udp_len = p.udp->len;
	}
	if (p.icmp) {
		r->icmp_type = p.icmp->type;
		r->icmp_code = p.icmp->code;
	}
	if (p.icmp6)
		r->icmp6_type = p.icmp6->icmp6_type;
	return 0;
}

#define HAS(r, f) ((r)->presence & BIT(f))
#define TCP_FLAG(r, bit) (bpf_ntohs((r)->tcp_flags) & (bit))

static __always_inline int match_tuple(const struct rec *r)
{
	if (!HAS(r, FACT_IPV4) || !HAS(r, FACT_TCP))
		return 0;
	if (!IN_NET4(r->ip_src, 10, 0, 0, 0, 8) && !IN_NET4(r->ip_src, 172, 20, 0, 0, 14))
		return 0;
	if (!IN_NET4(r->ip_dst, 192, 168, 1, 0, 24))
		return 0;
	switch (bpf_ntohs(r->tcp_dport)) {
	case 22: case 80: case 443: case 8080:
		break;
	default:
		return 0;
	}
	return bpf_ntohs(r->tcp_sport) >= 1024;
}

static __always_inline void log_4tuple(struct __sk_buff *skb, const struct rec *r, __u32 rule)
{
	struct ev_4tuple *e = reserve(rule, sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, skb, r->presence, rule);
	e->ip_src = r->ip_src;
	e->ip_dst = r->ip_dst;
	e->sport = bpf_ntohs(r->tcp_sport);
	e->dport = bpf_ntohs(r->tcp_dport);
	e->_pad = 0;
	submit(e);
}

static __always_inline void log_ip_u8(struct __sk_buff *skb, const struct rec *r, __u32 rule, __u8 v)
{
	struct ev_ip_u8 *e = reserve(rule, sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, skb, r->presence, rule);
	e->ip_src = r->ip_src;
	e->ip_dst = r->ip_dst;
	e->v = v;
	e->_pad0 = 0;
	e->_pad1 = 0;
	e->_pad2 = 0;
	submit(e);
}

SEC("tc")
int s5(struct __sk_buff *skb)
{
	struct rec rr, *r = &rr;

	parse_rec(skb, r);

	/* 0 ssh_syn */
	if (HAS(r, FACT_TCP) && r->tcp_dport == bpf_htons(22) && TCP_FLAG(r, 0x002))
		log_4tuple(skb, r, 0);

	/* 1 tuple */
	if (match_tuple(r)) {
		struct ev_tuple *e = reserve(1, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 1);
			e->ip_src = r->ip_src;
			e->ip_dst = r->ip_dst;
			e->proto = r->proto;
			e->_pad0 = 0;
			e->sport = bpf_ntohs(r->tcp_sport);
			e->dport = bpf_ntohs(r->tcp_dport);
			e->_pad1 = 0;
			submit(e);
		}
	}

	/* 2 dns */
	if (HAS(r, FACT_UDP) && (r->udp_sport == bpf_htons(53) || r->udp_dport == bpf_htons(53))) {
		struct ev_dns *e = reserve(2, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 2);
			e->ip_src = r->ip_src;
			e->ip_dst = r->ip_dst;
			e->sport = bpf_ntohs(r->udp_sport);
			e->dport = bpf_ntohs(r->udp_dport);
			e->len = bpf_ntohs(r->udp_len);
			e->_pad = 0;
			submit(e);
		}
	}

	/* 3 vlan42_https */
	if (HAS(r, FACT_VLAN1) && (r->vlan_tci & 0x0fff) == 42 && HAS(r, FACT_TCP) && r->tcp_dport == bpf_htons(443)) {
		struct ev_vlan42_https *e = reserve(3, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 3);
			e->vlan_id = r->vlan_tci & 0x0fff;
			e->_pad0 = 0;
			e->ip_src = r->ip_src;
			e->ip_dst = r->ip_dst;
			e->sport = bpf_ntohs(r->tcp_sport);
			e->_pad1 = 0;
			submit(e);
		}
	}

	/* 4 v6_https */
	if (HAS(r, FACT_IPV6) && r->dst6.in6_u.u6_addr32[0] == bpf_htonl(0x20010db8) && HAS(r, FACT_TCP) && r->tcp_dport == bpf_htons(443)) {
		struct ev_v6_https *e = reserve(4, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 4);
			e->src = r->src6;
			e->dst = r->dst6;
			e->sport = bpf_ntohs(r->tcp_sport);
			e->_pad0 = 0;
			e->_pad1 = 0;
			submit(e);
		}
	}

	/* 5 tcp_reset */
	if (HAS(r, FACT_TCP) && TCP_FLAG(r, 0x004))
		log_4tuple(skb, r, 5);

	/* 6 low_ttl */
	if (HAS(r, FACT_IPV4) && r->ttl < 2)
		log_ip_u8(skb, r, 6, r->ttl);

	/* 7 ping */
	if (HAS(r, FACT_ICMP) && r->icmp_type == 8)
		log_ip_u8(skb, r, 7, r->icmp_code);

	/* 8 v6_link_local_icmp */
	if (HAS(r, FACT_IPV6) && r->src6.in6_u.u6_addr8[0] == 0xfe && (r->src6.in6_u.u6_addr8[1] & 0xc0) == 0x80 && HAS(r, FACT_ICMPV6)) {
		struct ev_v6_icmp *e = reserve(8, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 8);
			e->src = r->src6;
			e->type = r->icmp6_type;
			e->_pad0 = 0;
			e->_pad1 = 0;
			e->_pad2 = 0;
			submit(e);
		}
	}

	/* 9 remote_desktop */
	if ((HAS(r, FACT_TCP) && (r->tcp_dport == bpf_htons(3389) || r->tcp_dport == bpf_htons(5900))) ||
	    (HAS(r, FACT_UDP) && r->udp_dport == bpf_htons(123))) {
		struct ev_rdp *e = reserve(9, sizeof(*e));
		if (e) {
			fill_header(&e->h, skb, r->presence, 9);
			e->ip_src = r->ip_src;
			e->ip_dst = r->ip_dst;
			e->tcp_dport = bpf_ntohs(r->tcp_dport);
			e->udp_dport = bpf_ntohs(r->udp_dport);
			e->_pad = 0;
			submit(e);
		}
	}
	return TC_PASS;
}
