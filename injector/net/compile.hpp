// Turns a plan's sever, degrade_link and power_loss faults into the netfault maps (prefix -> fault domains, domain ->
// rule bits, rule bit -> direction and share), and evaluates those tables in userspace exactly as bpf/netfault.bpf.c
// does, for dry runs and for checking the BPF program against.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/netaddr.hpp"
#include "common/ranges.hpp"  // control_prefixes(): the only addresses outside the topology the tables learn
#include "common/result.hpp"
#include "plan/model.hpp"

#include "netfault_abi.h"

namespace inj::net {

// Everything the classifier needs, ready to be written into its maps.
struct Tables {
    struct Prefix {
        Cidr cidr;  // network address (host bits clear) and prefix length
        // domains of addresses whose longest match is this prefix, with their rule masks
        // (ep.left/ep.right: the ORed `domains` entries of its ids)
        nf_endpoint ep;
        bool control = false;  // the lab's control link: only power_loss rules may name it
    };
    std::vector<Prefix> prefixes;           // IPv4 and IPv6 mixed; each cidr at most once
    std::map<uint32_t, nf_domain> domains;  // only domains that some rule lists (folded into ep masks)
    std::vector<nf_rule> rules;             // index = rule bit; all disarmed
    // index = rule bit; zero for sever/power rules. delay_ns/jitter_ns hold the plan's latency
    // (the EDT form); the engine moves it to a delay line where the kernel lacks sch_fq.
    std::vector<nf_degrade> degrades;
    std::vector<int> rule_of_fault;  // plan.method index -> its own rule bit, or -1
    // plan.method index -> every rule bit the fault arms: its own, plus one per powered link a
    // power_loss darkens (topology.links); 0 for faults without a rule.
    std::vector<uint64_t> fault_mask;
    uint64_t installed = 0;                        // bit i set for every rule in `rules`
    std::map<uint32_t, std::string> domain_names;  // "zone:a", "host:kv-1", "entry:198.18.0.0/24"
    // Domain of the control position (the lab's control link), 0 unless the plan has a
    // power_loss fault: a dark host answers nobody, the runner and its probes included, so power
    // rules list it on their peer side. No sever rule ever lists it (control is always protected).
    uint32_t control_domain = 0;

    // What lookup() reads instead of scanning every prefix: per family, the prefix lengths in
    // use, longest first, each with its network addresses -> index in `prefixes`. Built by
    // compile() (index_prefixes()); a Tables without it is scanned.
    struct AddrHash {
        size_t operator()(const IpAddr& a) const noexcept;
    };
    struct Level {
        int length = 0;
        std::unordered_map<IpAddr, size_t, AddrHash> nets;
    };
    std::vector<Level> index_v4, index_v6;
    size_t indexed = 0;  // prefixes.size() when the index was built
};

// (Re)builds t's lookup index and folds t.domains into every prefix's ep.left/ep.right.
void index_prefixes(Tables& t);

// Takes address `a` out of every rule: a host-length prefix of no domain, which the LPM lookup
// prefers to anything that contains it, so no rule ever matches a packet to or from it. A fleet
// agent exempts its own control path (its etcd endpoints, default gateway and SSH peers) from the
// isolation of a power_loss; the rules that name such an address on purpose are refused earlier.
void exempt(Tables& t, const IpAddr& a);

// Builds the tables for every sever and power_loss fault of plan.method (one rule bit each; a
// power_loss cuts its target hosts from every zone and from control, both ways). Needs a plan
// whose hosts all have their addresses (the loader assigns them for a lab). Fails on more than
// NF_MAX_RULES such faults, on a prefix declared twice, and on selector names the topology lacks.
Result<Tables> compile(const plan::Plan& plan);

// The nf_degrade of a degrade_link fault that got rule bit `rule`.
nf_degrade degrade_entry(const plan::LinkDegrade& d, int rule);
// skb->mark that selects rule `rule`'s rate-cap class on an egress port (matched by a u32 filter).
uint32_t rate_mark(int rule);

// Share of flows as the rule stores it: 1.0 -> 0xffffffff (all), 0 -> 0.
uint32_t scale_share(double share);

// The longest prefix of `t` containing `a` (as the LPM trie answers), or nullptr.
const Tables::Prefix* lookup(const Tables& t, const IpAddr& a);

// The BPF decision for one packet, with the rules in `armed_rules` in force (deadlines not yet
// passed). A degrade_link rule never counts: it degrades its pairs but cuts nobody off (the
// protected check reads selectors, so it still covers degrade_link targets and peers). `flow_hash` stands for
// bpf_get_hash_recalc(); without it a partial rule (share below all) counts as dropping, i.e. the answer is "are some
// flows of this pair cut".
bool drops(const Tables& t, const IpAddr& src, const IpAddr& dst, uint64_t armed_rules,
           std::optional<uint32_t> flow_hash = std::nullopt);

// Hosts grouped by what the rules can tell apart: zone, power domain and the rule masks of the
// addresses cut_set() judges them on. Every member of a group gets the same verdict against
// anyone, so cut sets are computed between groups (a few hundred) rather than host pairs.
struct HostGroup {
    std::string zone, power_domain;
    std::vector<size_t> hosts;  // plan order
};
// One ordered pair of groups whose traffic a fault drops (or degrades): every host of `from`
// (as source) with every host of `to` (as destination); from == to for pairs inside a group.
struct GroupCut {
    size_t from = 0, to = 0;
    uint64_t host_pairs = 0;
};
std::vector<HostGroup> host_groups(const plan::Plan& plan, const Tables& t);
// The cut set of fault `fault_index` (degraded: its degrade set) over `groups`; its host_pairs
// add up to cut_set(...).size() (degraded_set(...).size()).
std::vector<GroupCut> group_cuts(const plan::Plan& plan, const Tables& t, const std::vector<HostGroup>& groups,
                                 size_t fault_index, bool degraded = false);

// Ordered host pairs (src, dst), by plan host order, whose traffic fault `fault_index` of
// plan.method alone drops, judged on each host's primary address. Empty for faults without a rule.
std::vector<std::pair<std::string, std::string>> cut_set(const plan::Plan& plan, const Tables& t, size_t fault_index);

// The first pair of cut_set(plan, t, fault_index) in its order (degraded: of degraded_set), found
// over host groups (cut_set itself is quadratic in hosts: 32,000 hosts are a billion pairs).
// nullopt: the set is empty.
std::optional<std::pair<std::string, std::string>> first_cut(const plan::Plan& plan, const Tables& t,
                                                             size_t fault_index, bool degraded = false);

// Like cut_set, for a degrade_link fault: the ordered host pairs whose traffic it degrades
// (protocol and port filters aside).
std::vector<std::pair<std::string, std::string>> degraded_set(const plan::Plan& plan, const Tables& t,
                                                              size_t fault_index);

}  // namespace inj::net
