/* Shared parts of the hand-written C baselines of hdrlog's benchmark suite.
 *
 * Each bench/c/sN.c is the rule set SN of bench/internal/suite written the
 * way one would write it by hand: parse the headers once (Ethernet, up to two
 * VLAN tags, the outer one possibly in skb metadata at tc, IPv4 with options,
 * IPv6 with its extension-header chain, TCP, UDP, ICMP, ICMPv6) with a bounds
 * check per header, test each rule's conditions, and log a match with
 * bpf_ringbuf_reserve, fill in place, bpf_ringbuf_submit. The event layout,
 * the presence bitmap, the wake-up policy and the per-rule lost-event counter
 * are hdrlog's (compiler/schema.go, compiler/emit.go), so the two programs do
 * the same work and their events are compared byte for byte by the harness.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef NRULES
#error define NRULES before including common.h
#endif

/* ICMP and ICMPv6: the first bytes are all the rules use (linux/icmp.h pulls
 * in libc headers that a BPF target lacks). */
struct icmphdr {
	__u8 type, code;
	__u16 checksum;
	__u32 rest;
};
struct vlan_tag {
	__u16 tci, proto; /* network order */
};
struct icmp6hdr {
	__u8 icmp6_type, icmp6_code;
	__u16 icmp6_cksum;
};

/* hdrlog's facts: bits of the presence bitmap (compiler/schema.go). */
enum {
	FACT_FRAME = 0, FACT_ETH = 1, FACT_ETHTYPE = 2, FACT_VLAN1 = 3, FACT_VLAN2 = 4,
	FACT_IPV4 = 5, FACT_IPV6 = 6, FACT_TCP = 7, FACT_UDP = 8, FACT_ICMP = 9,
	FACT_ICMPV6 = 10, FACT_TCPLEN = 11,
};
#define BIT(f) (1ULL << (f))

/* What a program's rules need parsed (hdrlog parses only that, and sets
 * presence bits accordingly). */
enum {
	WANT_IP4 = 1, WANT_IP6 = 2, WANT_TCP = 4, WANT_UDP = 8, WANT_ICMP = 16, WANT_ICMP6 = 32,
};

#ifndef WAKEUP_BYTES
#define WAKEUP_BYTES (64 << 10) /* compiler.DefaultWakeupBytes */
#endif
#define MAX_EXT 8               /* compiler.MaxExtHeaders */
#define TC_PASS (-1)            /* TC_ACT_UNSPEC: logging never changes traffic */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* the harness sets the size at load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NRULES);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Event header: integers in host order (compiler/schema.go). */
struct event_hdr {
	__u64 time;
	__u64 presence;
	__u32 rule;
	__u32 ifindex;
	__u32 frame_len;
	__u32 flags;
};

/* The parsed packet: header pointers, NULL when absent. */
struct pkt {
	__u64 presence;
	__u16 vlan_tci[2]; /* host order */
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
	struct udphdr *udp;
	struct icmphdr *icmp;
	struct icmp6hdr *icmp6;
};

static __always_inline int is_vlan(__u16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* parse fills p with the headers the rules need (want); it stops at the
 * first header cut short, leaving the deeper ones absent. */
static __always_inline void parse(struct __sk_buff *skb, struct pkt *p, const unsigned want)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	void *cur;
	__u16 proto;
	__u8 l4 = 0;

	__builtin_memset(p, 0, sizeof(*p));
	p->presence = BIT(FACT_FRAME);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return;
	p->presence |= BIT(FACT_ETH);
	proto = eth->h_proto;
	cur = eth + 1;

	/* At tc ingress the kernel has moved the outer tag to skb metadata;
	 * then at most one more tag is inline. */
	if (skb->vlan_present) {
		p->presence |= BIT(FACT_VLAN1);
		p->vlan_tci[0] = skb->vlan_tci;
	} else if (is_vlan(proto)) {
		struct vlan_tag *tag = cur;
		if ((void *)(tag + 1) > end)
			return;
		p->presence |= BIT(FACT_VLAN1);
		p->vlan_tci[0] = bpf_ntohs(tag->tci);
		proto = tag->proto;
		cur = tag + 1;
	}
	if (is_vlan(proto)) {
		struct vlan_tag *tag = cur;
		if ((void *)(tag + 1) > end)
			return;
		p->presence |= BIT(FACT_VLAN2);
		p->vlan_tci[1] = bpf_ntohs(tag->tci);
		proto = tag->proto;
		cur = tag + 1;
	}

	if ((want & WANT_IP4) && proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return;
		p->presence |= BIT(FACT_IPV4);
		p->ip4 = ip;
		if (!(want & (WANT_TCP | WANT_UDP | WANT_ICMP)))
			return;
		__u32 hlen = ip->ihl * 4;
		__u16 tot = bpf_ntohs(ip->tot_len);
		if ((tot != 0 && tot < hlen) || (ip->frag_off & bpf_htons(0x1fff)))
			return; /* inconsistent length or non-first fragment: no L4 */
		l4 = ip->protocol;
		cur = (void *)ip + hlen;
	} else if ((want & WANT_IP6) && proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return;
		p->presence |= BIT(FACT_IPV6);
		p->ip6 = ip6;
		if (!(want & (WANT_TCP | WANT_UDP | WANT_ICMP6)))
			return;
		l4 = ip6->nexthdr;
		cur = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_EXT; i++) {
			__u8 *ext = cur;
			__u32 len;
			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS &&
			    l4 != IPPROTO_FRAGMENT && l4 != IPPROTO_AH)
				goto l4;
			if ((void *)(ext + 8) > end)
				return;
			if (l4 == IPPROTO_FRAGMENT) {
				if (*(__u16 *)(ext + 2) & bpf_htons(0xfff8))
					return; /* non-first fragment */
				len = 8;
			} else if (l4 == IPPROTO_AH) {
				len = (ext[1] + 2) * 4;
			} else {
				len = (ext[1] + 1) * 8;
			}
			l4 = ext[0];
			cur = ext + len;
		}
		return; /* chain longer than MAX_EXT */
	} else {
		return;
	}
l4:
	if ((want & WANT_TCP) && l4 == IPPROTO_TCP) {
		struct tcphdr *tcp = cur;
		if ((void *)(tcp + 1) > end)
			return;
		p->presence |= BIT(FACT_TCP);
		p->tcp = tcp;
	} else if ((want & WANT_UDP) && l4 == IPPROTO_UDP) {
		struct udphdr *udp = cur;
		if ((void *)(udp + 1) > end)
			return;
		p->presence |= BIT(FACT_UDP);
		p->udp = udp;
	} else if ((want & WANT_ICMP) && l4 == IPPROTO_ICMP && p->ip4) {
		struct icmphdr *icmp = cur;
		if ((void *)(icmp + 1) > end)
			return;
		p->presence |= BIT(FACT_ICMP);
		p->icmp = icmp;
	} else if ((want & WANT_ICMP6) && l4 == IPPROTO_ICMPV6 && p->ip6) {
		struct icmp6hdr *icmp6 = cur;
		if ((void *)icmp6 + 4 > end)
			return;
		p->presence |= BIT(FACT_ICMPV6);
		p->icmp6 = icmp6;
	}
}

/* reserve returns an event of size bytes for rule, or NULL after counting
 * the loss. */
static __always_inline void *reserve(__u32 rule, __u32 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e) {
		__u64 *n = bpf_map_lookup_elem(&lost, &rule);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	return e;
}

static __always_inline void fill_header(struct event_hdr *h, struct __sk_buff *skb, __u64 presence, __u32 rule)
{
	h->time = bpf_ktime_get_boot_ns();
	h->presence = presence;
	h->rule = rule;
	h->ifindex = skb->ifindex;
	h->frame_len = skb->len + (skb->vlan_present ? 4 : 0);
	h->flags = 0;
}

/* submit wakes the reader when the event takes the ring's backlog across a
 * multiple of WAKEUP_BYTES, a power of two (hdrlog's policy). */
static __always_inline void submit_sized(void *e, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 rec = (size + 8 + 7) & ~7ULL; /* record header, 8-byte rounding */
	__u64 flags = avail / WAKEUP_BYTES != (avail - rec) / WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}
#define submit(e) submit_sized((e), sizeof(*(e)))

/* Logged values: absent fields are zero (the presence bitmap says absent). */
#define IP4_SRC(p) ((p)->ip4 ? (p)->ip4->saddr : 0)
#define IP4_DST(p) ((p)->ip4 ? (p)->ip4->daddr : 0)
#define IP4_PROTO(p) ((p)->ip4 ? (p)->ip4->protocol : 0)
#define IP4_TTL(p) ((p)->ip4 ? (p)->ip4->ttl : 0)
#define TCP_SPORT(p) ((p)->tcp ? bpf_ntohs((p)->tcp->source) : 0)
#define TCP_DPORT(p) ((p)->tcp ? bpf_ntohs((p)->tcp->dest) : 0)
#define UDP_SPORT(p) ((p)->udp ? bpf_ntohs((p)->udp->source) : 0)
#define UDP_DPORT(p) ((p)->udp ? bpf_ntohs((p)->udp->dest) : 0)
#define UDP_LEN(p) ((p)->udp ? bpf_ntohs((p)->udp->len) : 0)
#define VLAN_ID(p) ((p)->vlan_tci[0] & 0x0fff)

static __always_inline void copy_in6(struct in6_addr *dst, const struct ipv6hdr *ip6, int which_dst)
{
	if (!ip6) {
		__builtin_memset(dst, 0, sizeof(*dst));
		return;
	}
	*dst = which_dst ? ip6->daddr : ip6->saddr;
}

/* barrier_var stops clang from proving a pointer non-null through another
 * register the verifier does not link to it (libbpf's bpf_helpers.h idiom). */
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/* Prefix tests on network-order IPv4 addresses. */
#define IN_NET4(addr, a, b, c, d, bits) \
	(((addr) & bpf_htonl(~0U << (32 - (bits)))) == bpf_htonl(((a) << 24) | ((b) << 16) | ((c) << 8) | (d)))

char LICENSE[] SEC("license") = "GPL";
