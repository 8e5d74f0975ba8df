/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one ABI shared by the netfault BPF program and the C++ net engine: map keys and values.
 * Fixed-width fields only, explicit padding, a size check on every struct so a layout change
 * breaks the build on both sides. */
#ifndef INJECTOR_NETFAULT_ABI_H
#define INJECTOR_NETFAULT_ABI_H

#include <linux/types.h>

#define NF_MAX_RULES 64          /* one bit per fault in the domain masks */
#define NF_MAX_DOMAINS 131072    /* zones + power domains + hosts + prefix entries */
#define NF_MAX_PREFIXES 262144   /* entries per LPM trie (v4 and v6 each) */

/* nf_rule.flags */
#define NF_RULE_ARMED   (1u << 0) /* the fault is in force (until deadline_ns) */
#define NF_RULE_CUT_FWD (1u << 1) /* drop left -> right (target -> peer) */
#define NF_RULE_CUT_REV (1u << 2) /* drop right -> left (peer -> target) */

/* Key of the IPv4 LPM trie (endpoints_v4). */
struct nf_lpm_v4 {
	__u32 prefixlen; /* prefix length in bits, 0..32 */
	__u32 addr;      /* IPv4 address, network byte order */
};

/* Key of the IPv6 LPM trie (endpoints_v6). */
struct nf_lpm_v6 {
	__u32 prefixlen; /* prefix length in bits, 0..128 */
	__u8 addr[16];   /* IPv6 address, network byte order */
};

/* Value of both LPM tries: the fault domains an address belongs to. Each id indexes the
 * domains array; 0 means "none" (domain 0 is never used). */
struct nf_endpoint {
	__u32 zone;   /* zone domain id */
	__u32 pd;     /* power-domain id */
	__u32 host;   /* host domain id, 0 for a zone-level prefix */
	__u32 entry;  /* id of this prefix entry itself (for CIDR selectors), 0 if unused */
};

/* Value of the domains array: which rules list this domain on their left (target) side and
 * which on their right (peer) side. Bit i stands for rule i. */
struct nf_domain {
	__u64 left;   /* rules whose target set contains this domain */
	__u64 right;  /* rules whose peer set contains this domain */
};

/* Value of the rules array: one per fault of the plan. Activating or healing a fault is one
 * write of this struct. */
struct nf_rule {
	__u64 deadline_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns); past it the rule is inert */
	__u32 flags;       /* NF_RULE_* */
	__u32 share;       /* flows affected, out of 2^32-1 (0xffffffff = all): gray failure */
};

/* Value of the per-CPU rule_stats array: what each rule did, summed by userspace. */
struct nf_rule_stats {
	__u64 dropped;  /* packets matching the rule while in force, dropped */
	__u64 passed;   /* packets matching the rule's sets but let through (disarmed, expired, share) */
	__u64 expired;  /* of passed: let through only because deadline_ns had passed */
	__u64 pad;      /* keeps the struct a power of two */
};

/* Index of the per-CPU global stats array. */
enum nf_stat_index {
	NF_STAT_PACKETS = 0,   /* every packet seen */
	NF_STAT_NON_IP = 1,    /* frames that are neither IPv4 nor IPv6 (ARP, ...), always passed */
	NF_STAT_UNKNOWN = 2,   /* IP packets with a source or destination outside the topology */
	NF_STAT_DROPPED = 3,   /* packets dropped by any rule */
	NF_STAT_MAX = 4,
};

/* Value of the control array (one entry): run-wide switches. */
struct nf_control {
	__u64 installed;  /* bit i set: rule i has its domain masks installed */
	__u64 run_deadline_ns; /* no rule is in force past this instant (the run's max_duration) */
	__u64 partial;    /* bit i set: rule i cuts a share of flows only, so the flow hash is needed */
};

#ifdef __cplusplus
static_assert(sizeof(struct nf_lpm_v4) == 8, "nf_lpm_v4 layout");
static_assert(sizeof(struct nf_lpm_v6) == 20, "nf_lpm_v6 layout");
static_assert(sizeof(struct nf_endpoint) == 16, "nf_endpoint layout");
static_assert(sizeof(struct nf_domain) == 16, "nf_domain layout");
static_assert(sizeof(struct nf_rule) == 16, "nf_rule layout");
static_assert(sizeof(struct nf_rule_stats) == 32, "nf_rule_stats layout");
static_assert(sizeof(struct nf_control) == 24, "nf_control layout");
#else
_Static_assert(sizeof(struct nf_lpm_v4) == 8, "nf_lpm_v4 layout");
_Static_assert(sizeof(struct nf_lpm_v6) == 20, "nf_lpm_v6 layout");
_Static_assert(sizeof(struct nf_endpoint) == 16, "nf_endpoint layout");
_Static_assert(sizeof(struct nf_domain) == 16, "nf_domain layout");
_Static_assert(sizeof(struct nf_rule) == 16, "nf_rule layout");
_Static_assert(sizeof(struct nf_rule_stats) == 32, "nf_rule_stats layout");
_Static_assert(sizeof(struct nf_control) == 24, "nf_control layout");
#endif

#endif /* INJECTOR_NETFAULT_ABI_H */
