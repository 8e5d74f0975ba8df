// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netfault: the tc classifier that decides every sever and degrade_link fault. Attached at tcx ingress of each
 * lab host's bridge port, it sees every packet once, at its source host. It maps source and
 * destination addresses to the rule bit masks of their fault domains (one LPM lookup each) and
 * drops the packet when an armed, unexpired rule cuts that direction. Injecting or healing a
 * fault is one write to the rules array; nothing is attached or detached at fault time. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netfault_abi.h"
#include "netfault_compat.h"

/* IPv4 address -> fault domains of the longest matching prefix (hosts as /32, zone subnets,
 * extra CIDRs). Grown on demand (no preallocation) because plans range from 3 to 100k prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NF_MAX_PREFIXES);
	__type(key, struct nf_lpm_v4);
	__type(value, struct nf_endpoint);
} endpoints_v4 SEC(".maps");

/* IPv6 counterpart of endpoints_v4 (hosts as /128). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NF_MAX_PREFIXES);
	__type(key, struct nf_lpm_v6);
	__type(value, struct nf_endpoint);
} endpoints_v6 SEC(".maps");

/* Rule bit -> direction, share, armed flag and deadline. Arming and healing write here only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_rule);
} rules SEC(".maps");

/* Rule bit -> what the rule did, per CPU so the hot path never contends on a cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_rule_stats);
} rule_stats SEC(".maps");

/* Rule bit -> what a degrade_link rule does (loss, corruption, duplication, delay, rate cap).
 * Written at install time; arming is still the one write to rules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_degrade);
} degrades SEC(".maps");

/* Rule bit -> what the degrade rule did, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct nf_degrade_stats);
} degrade_stats SEC(".maps");

/* Rule bit -> 1 while a bursty-loss rule is in its lossy state. Shared by all CPUs: a racy
 * update only shifts one transition by a packet, which the loss model does not notice. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_MAX_RULES);
	__type(key, __u32);
	__type(value, __u32);
} loss_state SEC(".maps");

/* Source MAC (6 bytes in a u64) -> ifindex of the port the frame came in on (| NF_PORT_EGRESS
 * when it was going out), learned when a packet goes to the delay line, so netfault_reinject can
 * put it back where it came from. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} ports SEC(".maps");

/* enum nf_stat_index -> packet count, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The run-wide switches (one entry). installed & armed == 0 keeps the program on its no-lookup
 * fast path: between attach and install, while no fault is in force, and after the run. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nf_control);
} control SEC(".maps");

/* De Bruijn sequence and its index table: the position of the lowest set bit of a 64-bit word
 * in one multiply and one load, since BPF has no count-trailing-zeros instruction. */
#define NF_DEBRUIJN64 0x03f79d71b4cb0a89ULL
static const __u8 nf_debruijn_index[64] = {
	0,  1,	48, 2,	57, 49, 28, 3,	61, 58, 50, 42, 38, 29, 17, 4,	62, 55, 59, 36, 53, 51,
	43, 22, 45, 39, 33, 30, 24, 18, 12, 5,	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21,
	44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,	13, 8,	7,  6,
};

/* Whether the program judges this packet at ingress of skb->ifindex (a lab's fabric port) or at
 * egress (a host's own interface, where there is no fabric): a received packet carries the
 * interface it came in on, one a host sends does not (or carries another). A duplicate or a
 * delayed packet goes back the way it was going. */
static __always_inline int nf_at_ingress(const struct __sk_buff *skb)
{
	return skb->ingress_ifindex == skb->ifindex;
}

/* 1 when x is 0, else 0; and 1 when a <= b (both below 2^63), else 0: without a jump. The
 * empty asm hides the intermediate from clang, which would otherwise see the comparison again
 * and emit a branch (each one in the rule loop doubles the paths the verifier walks). */
static __always_inline __u64 nf_is_zero(__u64 x)
{
	__u64 y = x | -x;

	asm volatile("" : "+r"(y));
	return (y >> 63) ^ 1;
}

static __always_inline __u64 nf_le(__u64 a, __u64 b)
{
	__u64 d = b - a;

	asm volatile("" : "+r"(d));
	return (d >> 63) ^ 1;
}

static __always_inline void count(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &index);

	if (v)
		(*v)++;
}

__noinline int degrade_packet(struct __sk_buff *skb, __u64 hits, __u32 reentry, __u64 mac, __u64 now);

/* The verdict on one packet. `isolations_only` (a constant in each program below) judges the rules
 * of dark hosts (NF_RULE_ISOLATE) and nothing else: a fleet agent's host's own interface at
 * ingress, so a dark host hears nothing, even from hosts no agent judges for it, while cuts and
 * degrades stay where their senders judge them (once: a degrade applied twice would double). */
static __always_inline int classify(struct __sk_buff *skb, const int isolations_only)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct nf_endpoint *src_ep, *dst_ep;
	__u64 fwd, rev, m, now;
	struct ethhdr *eth = data;
	struct nf_control *ctl;
	__u32 zero = 0, hash = 0, mark, reentry = 0;
	__u64 l4 = 0, sport = 0, dport = 0;
	__u64 drop = 0, hits = 0, mac = 0;
	int n;

	count(NF_STAT_PACKETS);
	/* A duplicate or a delayed packet coming round again: remember which, and clear our mark
	 * (it would otherwise select a rate class it no longer deserves). */
	mark = skb->mark;
	if ((mark & NF_MARK_MASK) == NF_MARK_MAGIC) {
		reentry = mark & (NF_MARK_DUP | NF_MARK_DELAYED);
		skb->mark = 0;
	}
	if ((void *)(eth + 1) > data_end) {
		count(NF_STAT_NON_IP);
		return NF_TCX_NEXT;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6)) {
		/* ARP and friends must always pass, or a cut could never heal (stale neighbours). */
		count(NF_STAT_NON_IP);
		return NF_TCX_NEXT;
	}

	/* The armed-rule summary: with no rule armed (the usual state of a machine that merely has
	 * the tool installed) this one read decides. */
	ctl = bpf_map_lookup_elem(&control, &zero);
	if (!ctl || !(ctl->installed & ctl->armed))
		return NF_TCX_NEXT;
	__builtin_memcpy(&mac, eth->h_source, 6);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct nf_lpm_v4 key = {.prefixlen = 32};

		if ((void *)(ip + 1) > data_end) {
			count(NF_STAT_UNKNOWN);
			return NF_TCX_NEXT;
		}
		key.addr = ip->saddr;
		src_ep = bpf_map_lookup_elem(&endpoints_v4, &key);
		key.addr = ip->daddr;
		dst_ep = bpf_map_lookup_elem(&endpoints_v4, &key);
		l4 = ip->protocol;
		if (ctl->filtered && (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP)) {
			struct udphdr *uh = (void *)ip + ip->ihl * 4;

			/* The ports of TCP and UDP sit at the same offsets. */
			if ((void *)(uh + 1) <= data_end) {
				sport = bpf_ntohs(uh->source);
				dport = bpf_ntohs(uh->dest);
			}
		}
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct nf_lpm_v6 key = {.prefixlen = 128};

		if ((void *)(ip6 + 1) > data_end) {
			count(NF_STAT_UNKNOWN);
			return NF_TCX_NEXT;
		}
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		src_ep = bpf_map_lookup_elem(&endpoints_v6, &key);
		__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
		dst_ep = bpf_map_lookup_elem(&endpoints_v6, &key);
		/* The first next header only: extension headers are not walked. */
		l4 = ip6->nexthdr;
		if (ctl->filtered && (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP)) {
			struct udphdr *uh = (void *)(ip6 + 1);

			if ((void *)(uh + 1) <= data_end) {
				sport = bpf_ntohs(uh->source);
				dport = bpf_ntohs(uh->dest);
			}
		}
	}
	if (!src_ep || !dst_ep) {
		/* Outside the topology (the control position, say): never cut. */
		count(NF_STAT_UNKNOWN);
		return NF_TCX_NEXT;
	}

	/* The domain masks come with the LPM value: no further lookup. */
	fwd = src_ep->left & dst_ep->right & ctl->installed;
	rev = src_ep->right & dst_ep->left & ctl->installed;
	if (isolations_only) {
		fwd &= ~ctl->degrade;
		rev &= ~ctl->degrade;
	}
	m = fwd | rev;
	if (!m)
		return NF_TCX_NEXT;

	now = bpf_ktime_get_ns();
	/* Only gray failures need the flow hash (a flow dissection); for the others hash 0 passes
	 * the share test below, as share is 0xffffffff. */
	if (m & ctl->partial)
		hash = bpf_get_hash_recalc(skb);

	/* The body is kept free of branches beyond the two NULL checks: each branch inside this
	 * 64-iteration loop multiplies the states the verifier walks (a branchy version of the
	 * same logic costs 312k verified instructions and 300 ms to load; this one ~20k and 10 ms). */
	for (n = 0; n < NF_MAX_RULES && m; n++) {
		__u64 low, dir_ok, share_ok, armed, timely, hit, proto_ok, port_ok, degrade, proto, span,
			judged;
		struct nf_rule_stats *rs;
		struct nf_rule *rule;
		__u32 i;

		low = m & -m;
		m &= m - 1;
		i = nf_debruijn_index[(low * NF_DEBRUIJN64) >> 58];

		rule = bpf_map_lookup_elem(&rules, &i);
		rs = bpf_map_lookup_elem(&rule_stats, &i);
		if (!rule || !rs)
			continue;
		/* NF_RULE_CUT_FWD is bit 1 and NF_RULE_CUT_REV bit 2. */
		dir_ok = (((fwd >> i) & (rule->flags >> 1)) | ((rev >> i) & (rule->flags >> 2))) & 1;
		/* A gray failure cuts whole flows, not random packets, so a flow either works or
		 * hangs, as behind a broken ECMP path. */
		share_ok = hash <= rule->share;
		armed = rule->flags & NF_RULE_ARMED;
		timely = (now < rule->deadline_ns) & (now < ctl->run_deadline_ns);
		/* Comparisons as arithmetic (is_zero, le), not branches: see above. A port below
		 * port_lo wraps to a large number, so one unsigned test checks both ends. */
		proto = rule->proto;
		span = (__u64)rule->port_hi - rule->port_lo;
		proto_ok = nf_is_zero(proto) | nf_is_zero(proto ^ l4);
		port_ok = nf_le((sport - rule->port_lo) & 0xffffffffULL, span) |
			  nf_le((dport - rule->port_lo) & 0xffffffffULL, span);
		degrade = (rule->flags >> 3) & 1; /* NF_RULE_DEGRADE */
		hit = dir_ok & share_ok & armed & proto_ok & port_ok;
		/* Only a dark host's rule counts at an isolations-only point (NF_RULE_ISOLATE), and
		 * only there: the others were judged, and counted, at the sender. */
		judged = isolations_only ? (rule->flags >> 4) & 1 : 1;
		hit &= judged;
		rs->dropped += hit & timely & (degrade ^ 1);
		rs->passed += (((hit & timely) ^ 1) | degrade) & judged;
		rs->expired += hit & !timely;
		drop |= hit & timely & (degrade ^ 1);
		hits |= (hit & timely & degrade) << i;
	}
	if (drop) {
		count(NF_STAT_DROPPED);
		return NF_TCX_DROP;
	}
	if (!hits)
		return NF_TCX_NEXT;
	return degrade_packet(skb, hits, reentry, mac, now);
}

/* Every judge point of a lab (fabric port ingress) and of a host's own interface at egress. */
SEC("tc")
int netfault_classify(struct __sk_buff *skb)
{
	return classify(skb, 0);
}

/* A fleet agent's host's own interface at ingress: dark hosts' rules only (see classify). */
SEC("tc")
int netfault_isolate(struct __sk_buff *skb)
{
	return classify(skb, 1);
}

/* P(event) out of 2^32-1 against a fresh random number. */
static __always_inline int chance(__u32 p)
{
	return p && bpf_get_prandom_u32() < p;
}

/* Applies the first (lowest-bit) degrade rule a packet hits; several degrade rules on the same
 * packet do not add up (see the README). Order: loss, duplication (the copy is made before the
 * corruption), corruption, then delay and the rate mark, which a duplicate also gets. A global
 * function: the verifier checks it once, not once per state leaving the rule loop. */
__noinline int degrade_packet(struct __sk_buff *skb, __u64 hits, __u32 reentry, __u64 mac, __u64 now)
{
	__u64 low = hits & -hits;
	__u32 i = nf_debruijn_index[(low * NF_DEBRUIJN64) >> 58];
	struct nf_degrade_stats *ds;
	struct nf_degrade *dg;

	dg = bpf_map_lookup_elem(&degrades, &i);
	ds = bpf_map_lookup_elem(&degrade_stats, &i);
	if (!dg || !ds)
		return NF_TCX_NEXT;

	if (!reentry) {
		if (dg->loss_enter) {
			__u32 *lossy = bpf_map_lookup_elem(&loss_state, &i);

			if (lossy) {
				if (*lossy ? chance(dg->loss_exit) : chance(dg->loss_enter))
					*lossy = !*lossy;
				if (*lossy) {
					ds->lost++;
					count(NF_STAT_DROPPED);
					return NF_TCX_DROP;
				}
			}
		} else if (chance(dg->loss)) {
			ds->lost++;
			count(NF_STAT_DROPPED);
			return NF_TCX_DROP;
		}
		if (chance(dg->duplicate)) {
			/* The copy comes in again on the same port, marked so it is not lost, corrupted
			 * or copied once more; it still gets the delay and the rate cap. */
			skb->mark = NF_MARK_MAGIC | NF_MARK_DUP;
			if (bpf_clone_redirect(skb, skb->ifindex, nf_at_ingress(skb) ? BPF_F_INGRESS : 0) ==
			    0)
				ds->duplicated++;
			skb->mark = 0;
		}
		if (chance(dg->corrupt) && skb->len > ETH_HLEN + 20) {
			/* The last byte is always past the IP header (in the L4 header or payload), so the
			 * packet still routes and the receiver's checksum check catches it. */
			__u32 off = skb->len - 1;
			__u8 b;

			if (bpf_skb_load_bytes(skb, off, &b, 1) == 0) {
				b ^= 0x5a;
				if (bpf_skb_store_bytes(skb, off, &b, 1, 0) == 0)
					ds->corrupted++;
			}
		}
	}
	if (!(reentry & NF_MARK_DELAYED)) {
		if (dg->delay_ifindex) {
			__u32 in = skb->ifindex | (nf_at_ingress(skb) ? 0 : NF_PORT_EGRESS);
			__u32 *known = bpf_map_lookup_elem(&ports, &mac);

			if (!known || *known != in)
				bpf_map_update_elem(&ports, &mac, &in, BPF_ANY);
			ds->delayed++;
			return bpf_redirect(dg->delay_ifindex, 0);
		}
		if (dg->delay_ns) {
			__u64 at = now + dg->delay_ns;

			if (dg->jitter_ns)
				at = at - dg->jitter_ns +
				     bpf_get_prandom_u32() % (2 * (__u64)dg->jitter_ns + 1);
			bpf_skb_set_tstamp(skb, at, BPF_SKB_TSTAMP_DELIVERY_MONO);
			ds->delayed++;
		}
	}
	if (dg->rate_mark) {
		skb->mark = dg->rate_mark;
		ds->capped++;
	}
	return NF_TCX_NEXT;
}

/* The delay line's way back: attached at tcx ingress of each delay-line tap. A frame the delay
 * line writes back re-enters the port it first came in on, marked so the classifier does not
 * delay it again. A frame from an unknown source never entered through the classifier: dropped. */
SEC("tc")
int netfault_reinject(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u64 mac = 0;
	__u32 *port;

	if ((void *)(eth + 1) > data_end)
		return NF_TCX_DROP;
	__builtin_memcpy(&mac, eth->h_source, 6);
	port = bpf_map_lookup_elem(&ports, &mac);
	if (!port)
		return NF_TCX_DROP;
	skb->mark = NF_MARK_MAGIC | NF_MARK_DELAYED;
	return bpf_redirect(*port & ~NF_PORT_EGRESS, (*port & NF_PORT_EGRESS) ? 0 : BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
