/* S1's rule (tcp.dstport == 22 && tcp.flags.syn == 1, logging ip.src,
 * ip.dst, tcp.srcport, tcp.dstport) written as one would write it by hand
 * without knowing hdrlog: its own event layout (a time stamp and the four
 * fields, nothing else), direct packet access, and wake-ups batched with a
 * counter: one wake-up every WAKE_EVERY events, the others submitted without
 * one. IPv4 (with options) and IPv6 (without extension headers), no VLAN.
 * The per-event cost benchmark (benchreport -only twin) prices an event of
 * this program against an event of hdrlog's on the same packets. Built only
 * by make bench.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef DPORT
#define DPORT 22 /* the miss twin: 23 */
#endif
#ifndef WAKE_EVERY
#define WAKE_EVERY 1024 /* a power of two */
#endif

struct syn_event {
	__u64 ts;
	__u8 saddr[16], daddr[16]; /* IPv4: the first 4 bytes */
	__u16 sport, dport;        /* host order */
	__u8 family;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* the harness sets the size at load */
} events SEC(".maps");

__u64 submitted;
__u64 dropped;

SEC("tc")
int twin_ssh_syn(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *tcp;
	__u8 family;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x1fff)))
			return -1;
		tcp = (void *)ip + ip->ihl * 4;
		family = 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return -1;
		tcp = (void *)(ip6 + 1);
		family = 6;
	} else {
		return -1;
	}
	if ((void *)(tcp + 1) > end || tcp->dest != bpf_htons(DPORT) || !tcp->syn)
		return -1;

	struct syn_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return -1;
	}
	e->ts = bpf_ktime_get_boot_ns();
	if (family == 4) {
		struct iphdr *ip = (void *)(eth + 1);
		__builtin_memset(e->saddr, 0, sizeof(e->saddr) + sizeof(e->daddr));
		__builtin_memcpy(e->saddr, &ip->saddr, 4);
		__builtin_memcpy(e->daddr, &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__builtin_memcpy(e->saddr, &ip6->saddr, 16);
		__builtin_memcpy(e->daddr, &ip6->daddr, 16);
	}
	e->sport = bpf_ntohs(tcp->source);
	e->dport = bpf_ntohs(tcp->dest);
	e->family = family;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	__u64 n = __sync_fetch_and_add(&submitted, 1);
	bpf_ringbuf_submit(e, (n & (WAKE_EVERY - 1)) == WAKE_EVERY - 1 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
