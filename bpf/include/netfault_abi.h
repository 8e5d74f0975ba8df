/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one ABI shared by the netfault BPF program and the C++ net engine: map keys and values.
 * Fixed-width fields only, explicit padding, a size check on every struct so a layout change
 * breaks the build on both sides. */
#ifndef INJECTOR_NETFAULT_ABI_H
#define INJECTOR_NETFAULT_ABI_H

#include <linux/types.h>

/* The version of this ABI: raised whenever a map's key or value layout, a map's size or a flag's
 * meaning changes, so `injector --version` says which program a binary carries. */
#define NF_ABI_VERSION 3

#define NF_MAX_RULES	64     /* one bit per fault in the domain masks */
#define NF_MAX_DOMAINS	131072 /* zones + power domains + hosts + prefix entries */
#define NF_MAX_PREFIXES 262144 /* entries per LPM trie (v4 and v6 each) */

/* nf_rule.flags */
#define NF_RULE_ARMED	(1u << 0) /* the fault is in force (until deadline_ns) */
#define NF_RULE_CUT_FWD (1u << 1) /* drop left -> right (target -> peer) */
#define NF_RULE_CUT_REV (1u << 2) /* drop right -> left (peer -> target) */
#define NF_RULE_DEGRADE (1u << 3) /* degrade_link: apply the rule's nf_degrade instead of dropping */
#define NF_RULE_ISOLATE                                                                                      \
	(1u << 4) /* a dark host's (power_loss): also judged where packets arrive (netfault_isolate) */

/* skb->mark values the program gives packets it sends around again. The upper half says "ours";
 * the mark never leaves the fabric namespace (crossing into a host's namespace scrubs it). */
#define NF_MARK_MAGIC	0x1a7e0000u /* upper half of every netfault mark */
#define NF_MARK_MASK	0xffff0000u
#define NF_MARK_DUP	0x00000100u /* a duplicate re-entering: no loss, corruption, duplication */
#define NF_MARK_DELAYED 0x00000200u /* back from the delay line: only cuts and the rate cap apply */
#define NF_MARK_RATE	0x00000400u /* | rule + 1: selects the rule's HTB class on the egress port */

/* In a value of the ports map (source MAC -> ifindex): the packet was judged at egress of the
 * interface (a host's own, where there is no fabric) rather than at ingress of a fabric port, so
 * the delay line sends it back out the same way. */
#define NF_PORT_EGRESS 0x80000000u

/* Key of the IPv4 LPM trie (endpoints_v4). */
struct nf_lpm_v4 {
	__u32 prefixlen; /* prefix length in bits, 0..32 */
	__u32 addr;	 /* IPv4 address, network byte order */
};

/* Key of the IPv6 LPM trie (endpoints_v6). */
struct nf_lpm_v6 {
	__u32 prefixlen; /* prefix length in bits, 0..128 */
	__u8 addr[16];	 /* IPv6 address, network byte order */
};

/* Value of both LPM tries: the fault domains an address belongs to, and the rule masks those
 * domains carry, ORed together, so the program needs no lookup beyond the LPM one. The ids are
 * kept for userspace (names, checks); 0 means "none" (domain 0 is never used). */
struct nf_endpoint {
	__u32 zone;  /* zone domain id */
	__u32 pd;    /* power-domain id */
	__u32 host;  /* host domain id, 0 for a zone-level prefix */
	__u32 entry; /* id of this prefix entry itself (for CIDR selectors), 0 if unused */
	__u64 left;  /* rules whose target set holds one of these domains (nf_domain.left, ORed) */
	__u64 right; /* rules whose peer set holds one of these domains (nf_domain.right, ORed) */
};

/* Per fault domain: which rules list it on their left (target) side and which on their right
 * (peer) side. Bit i stands for rule i. Userspace only: compile() folds these into the masks of
 * every nf_endpoint, which is what the program reads. */
struct nf_domain {
	__u64 left;  /* rules whose target set contains this domain */
	__u64 right; /* rules whose peer set contains this domain */
};

/* Value of the rules array: one per fault of the plan. Activating or healing a fault is one
 * write of this struct. */
struct nf_rule {
	__u64 deadline_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns); past it the rule is inert */
	__u32 flags;	   /* NF_RULE_* */
	__u32 share;	   /* flows affected, out of 2^32-1 (0xffffffff = all): gray failure */
	__u8 proto;	   /* IPPROTO_* the rule applies to; 0: every protocol */
	__u8 pad[3];	   /* zero */
	__u16 port_lo;	   /* either end's port must lie in [port_lo, port_hi] (0-65535: any) */
	__u16 port_hi;	   /* host byte order */
};

/* Value of the degrades array (by rule bit): what an NF_RULE_DEGRADE rule does to a packet.
 * Probabilities are out of 2^32-1, compared with bpf_get_prandom_u32(). */
struct nf_degrade {
	__u32 loss;	     /* P(drop) per packet, when loss_enter is 0 (independent losses) */
	__u32 loss_enter;    /* bursty loss (Gilbert): P(good -> lossy state) per packet; 0: off */
	__u32 loss_exit;     /* bursty loss: P(lossy -> good) per packet; the lossy state drops all */
	__u32 corrupt;	     /* P(one byte of the L4 part flipped): the receiver sees a bad checksum */
	__u32 duplicate;     /* P(the packet is sent twice) */
	__u32 delay_ifindex; /* delay line: tap (in this namespace) the packet is redirected to; 0: none */
	__u64 delay_ns;	     /* EDT: added delay, set as the delivery time for sch_fq; 0: none */
	__u32 jitter_ns;     /* EDT: delay varies uniformly within delay_ns +- jitter_ns */
	__u32 rate_mark; /* skb->mark for the rule's rate cap (NF_MARK_MAGIC|NF_MARK_RATE|rule+1); 0: none */
};

/* Value of the per-CPU degrade_stats array (by rule bit): what each degrade rule did. */
struct nf_degrade_stats {
	__u64 lost;	  /* dropped by loss */
	__u64 corrupted;  /* a byte flipped */
	__u64 duplicated; /* a copy sent */
	__u64 delayed;	  /* redirected to the delay line, or given a delivery time */
	__u64 capped;	  /* marked for the rate cap */
	__u64 pad[3];	  /* keeps the struct a power of two */
};

/* Value of the per-CPU rule_stats array: what each rule did, summed by userspace. */
struct nf_rule_stats {
	__u64 dropped; /* packets matching the rule while in force, dropped */
	__u64 passed;  /* packets matching the rule's sets but let through (disarmed, expired, share),
			 * counted only while some rule is armed: with none, packets skip the lookups */
	__u64 expired; /* of passed: let through only because deadline_ns had passed */
	__u64 pad;     /* keeps the struct a power of two */
};

/* Index of the per-CPU global stats array. */
enum nf_stat_index {
	NF_STAT_PACKETS = 0, /* every packet seen */
	NF_STAT_NON_IP = 1,  /* frames that are neither IPv4 nor IPv6 (ARP, ...), always passed */
	NF_STAT_UNKNOWN = 2, /* IP packets with a source or destination outside the topology */
	NF_STAT_DROPPED = 3, /* packets dropped by any rule */
	NF_STAT_MAX = 4,
};

/* Value of the control array (one entry): run-wide switches. */
struct nf_control {
	__u64 installed;       /* bit i set: rule i has its domain masks installed */
	__u64 run_deadline_ns; /* no rule is in force past this instant (the run's max_duration) */
	__u64 partial;	       /* bit i set: rule i cuts a share of flows only, so the flow hash is needed */
	__u64 filtered;	       /* bit i set: rule i has a protocol or port filter, so L4 must be parsed */
	__u64 degrade;	       /* bit i set: rule i is a degrade_link (NF_RULE_DEGRADE) */
	__u64 armed;	       /* bit i set: rule i is armed (NF_RULE_ARMED); the summary the idle path reads:
			   * 0 passes every packet after this one read. Set after a rule is armed,
			   * cleared before it is disarmed. */
};

#ifdef __cplusplus
static_assert(sizeof(struct nf_lpm_v4) == 8, "nf_lpm_v4 layout");
static_assert(sizeof(struct nf_lpm_v6) == 20, "nf_lpm_v6 layout");
static_assert(sizeof(struct nf_endpoint) == 32, "nf_endpoint layout");
static_assert(sizeof(struct nf_domain) == 16, "nf_domain layout");
static_assert(sizeof(struct nf_rule) == 24, "nf_rule layout");
static_assert(sizeof(struct nf_rule_stats) == 32, "nf_rule_stats layout");
static_assert(sizeof(struct nf_control) == 48, "nf_control layout");
static_assert(sizeof(struct nf_degrade) == 40, "nf_degrade layout");
static_assert(sizeof(struct nf_degrade_stats) == 64, "nf_degrade_stats layout");
#else
_Static_assert(sizeof(struct nf_lpm_v4) == 8, "nf_lpm_v4 layout");
_Static_assert(sizeof(struct nf_lpm_v6) == 20, "nf_lpm_v6 layout");
_Static_assert(sizeof(struct nf_endpoint) == 32, "nf_endpoint layout");
_Static_assert(sizeof(struct nf_domain) == 16, "nf_domain layout");
_Static_assert(sizeof(struct nf_rule) == 24, "nf_rule layout");
_Static_assert(sizeof(struct nf_rule_stats) == 32, "nf_rule_stats layout");
_Static_assert(sizeof(struct nf_control) == 48, "nf_control layout");
_Static_assert(sizeof(struct nf_degrade) == 40, "nf_degrade layout");
_Static_assert(sizeof(struct nf_degrade_stats) == 64, "nf_degrade_stats layout");
#endif

#endif /* INJECTOR_NETFAULT_ABI_H */
