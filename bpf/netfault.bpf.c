// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netfault: the tc classifier that decides every sever fault. Attached at tcx ingress of each
 * lab host's bridge port, it sees every packet once, at its source host. It maps source and
 * destination addresses to fault domains (LPM tries), turns the domains into rule bit masks and
 * drops the packet when an armed, unexpired rule cuts that direction. Injecting or healing a
 * fault is one write to the rules array; nothing is attached or detached at fault time. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
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

/* Domain id -> which rules list the domain as target (left) or peer (right). Written once at
 * prepare time; all-zero entries mean "in no rule". */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NF_MAX_DOMAINS);
	__type(key, __u32);
	__type(value, struct nf_domain);
} domains SEC(".maps");

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

/* enum nf_stat_index -> packet count, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The run-wide switches (one entry). installed == 0 keeps the program on its no-lookup fast
 * path, which is the state between attach and install, and after the run. */
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
	0,  1,  48, 2,  57, 49, 28, 3,  61, 58, 50, 42, 38, 29, 17, 4,
	62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
	46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,  13, 8,  7,  6,
};

static __always_inline void count(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &index);

	if (v)
		(*v)++;
}

/* ORs the left and right rule masks of every domain an endpoint belongs to. */
static __always_inline void endpoint_masks(const struct nf_endpoint *ep, __u64 *left,
					   __u64 *right)
{
	__u32 ids[4] = { ep->zone, ep->pd, ep->host, ep->entry };
	__u64 l = 0, r = 0;
	int k;

#pragma unroll
	for (k = 0; k < 4; k++) {
		__u32 id = ids[k];
		struct nf_domain *d;

		if (!id)
			continue;
		d = bpf_map_lookup_elem(&domains, &id);
		if (d) {
			l |= d->left;
			r |= d->right;
		}
	}
	*left = l;
	*right = r;
}

SEC("tc")
int netfault_classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct nf_endpoint *src_ep, *dst_ep;
	__u64 sl, sr, dl, dr, fwd, rev, m, now;
	struct ethhdr *eth = data;
	struct nf_control *ctl;
	__u32 zero = 0, hash = 0;
	__u64 drop = 0;
	int n;

	count(NF_STAT_PACKETS);
	if ((void *)(eth + 1) > data_end) {
		count(NF_STAT_NON_IP);
		return NF_TCX_NEXT;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6)) {
		/* ARP and friends must always pass, or a cut could never heal (stale neighbours). */
		count(NF_STAT_NON_IP);
		return NF_TCX_NEXT;
	}

	ctl = bpf_map_lookup_elem(&control, &zero);
	if (!ctl || !ctl->installed)
		return NF_TCX_NEXT;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct nf_lpm_v4 key = { .prefixlen = 32 };

		if ((void *)(ip + 1) > data_end) {
			count(NF_STAT_UNKNOWN);
			return NF_TCX_NEXT;
		}
		key.addr = ip->saddr;
		src_ep = bpf_map_lookup_elem(&endpoints_v4, &key);
		key.addr = ip->daddr;
		dst_ep = bpf_map_lookup_elem(&endpoints_v4, &key);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct nf_lpm_v6 key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end) {
			count(NF_STAT_UNKNOWN);
			return NF_TCX_NEXT;
		}
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		src_ep = bpf_map_lookup_elem(&endpoints_v6, &key);
		__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
		dst_ep = bpf_map_lookup_elem(&endpoints_v6, &key);
	}
	if (!src_ep || !dst_ep) {
		/* Outside the topology (the control position, say): never cut. */
		count(NF_STAT_UNKNOWN);
		return NF_TCX_NEXT;
	}

	endpoint_masks(src_ep, &sl, &sr);
	endpoint_masks(dst_ep, &dl, &dr);
	fwd = sl & dr & ctl->installed;
	rev = sr & dl & ctl->installed;
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
		__u64 low, dir_ok, share_ok, armed, timely, hit;
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
		hit = dir_ok & share_ok & armed;
		rs->dropped += hit & timely;
		rs->passed += !(hit & timely);
		rs->expired += hit & !timely;
		drop |= hit & timely;
	}
	if (!drop)
		return NF_TCX_NEXT;
	count(NF_STAT_DROPPED);
	return NF_TCX_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
