// Plan -> netfault tables. Domain ids share one space: zones, then power domains, then hosts,
// then one id per prefix entry (so a CIDR selector can name an exact set of prefixes), and the
// control position when a power_loss needs it. Id 0 is never used: the BPF side reads it as "none".
#include "net/compile.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

namespace inj::net {
namespace {

using plan::Fault;
using plan::Selector;

constexpr uint32_t kAllFlows = 0xffffffffu;

struct Builder {
    const plan::Plan& plan;
    Tables t;
    uint32_t next_id = 1;
    std::map<std::string, uint32_t> zone_id, pd_id, host_id;
    std::map<Cidr, size_t> prefix_index;       // network cidr -> index in t.prefixes
    std::map<Cidr, std::string> prefix_owner;  // for "declared twice" errors

    uint32_t new_id(std::string name) {
        uint32_t id = next_id++;
        t.domain_names[id] = std::move(name);
        return id;
    }

    Result<void> add_prefix(const Cidr& c, nf_endpoint ep, const std::string& owner) {
        Cidr net = c.network();
        if (auto it = prefix_owner.find(net); it != prefix_owner.end())
            return plain_error("compile",
                               "prefix " + net.str() + " is declared by both " + it->second + " and " + owner);
        ep.entry = new_id("entry:" + net.str());
        prefix_index[net] = t.prefixes.size();
        prefix_owner[net] = owner;
        t.prefixes.push_back({net, ep});
        return {};
    }

    // Longest existing prefix that strictly contains c, or nullptr.
    const Tables::Prefix* enclosing(const Cidr& c) const {
        const Tables::Prefix* best = nullptr;
        for (auto& p : t.prefixes)
            if (!p.control && p.cidr.prefix < c.prefix && p.cidr.contains(c) &&
                (!best || p.cidr.prefix > best->cidr.prefix))
                best = &p;
        return best;
    }

    Result<void> topology() {
        const auto& topo = plan.topology;
        for (auto& z : topo.zones) zone_id[z.name] = new_id("zone:" + z.name);
        for (auto& p : topo.power_domains) pd_id[p.name] = new_id("pd:" + p.name);
        for (auto& h : topo.hosts) host_id[h.name] = new_id("host:" + h.name);
        for (auto& z : topo.zones) {
            nf_endpoint ep{zone_id[z.name], 0, 0, 0};
            std::string owner = "zone " + z.name;
            if (z.subnet) INJ_TRY(add_prefix(*z.subnet, ep, owner));
            if (z.subnet6) INJ_TRY(add_prefix(*z.subnet6, ep, owner));
            for (auto& c : z.cidrs) INJ_TRY(add_prefix(c, ep, owner));
        }
        for (auto& h : topo.hosts) {
            if (h.addresses.empty()) return plain_error("compile", "host " + h.name + " has no address");
            auto z = zone_id.find(h.zone);
            if (z == zone_id.end()) return plain_error("compile", "host " + h.name + ": unknown zone " + h.zone);
            uint32_t pd = 0;
            if (!h.power_domain.empty()) {
                auto p = pd_id.find(h.power_domain);
                if (p == pd_id.end())
                    return plain_error("compile", "host " + h.name + ": unknown power domain " + h.power_domain);
                pd = p->second;
            }
            nf_endpoint ep{z->second, pd, host_id[h.name], 0};
            std::string owner = "host " + h.name;
            for (auto& a : h.addresses) INJ_TRY(add_prefix(Cidr{a.addr, a.addr.bits()}, ep, owner));
            for (auto& c : h.cidrs) INJ_TRY(add_prefix(c, ep, owner));
        }
        return {};
    }

    // The control link as one domain of its own. Its prefixes are marked so that no CIDR
    // selector, no `rest` and no split can reach them: only power rules name control_domain.
    Result<void> control() {
        t.control_domain = new_id("control");
        std::vector<Cidr> prefixes = control_prefixes();
        // What exists has no control link: everything outside the plan's own addresses (the
        // runner, the clients, the rest of the network) stands where control stands, so a dark
        // host answers none of it either. Only power rules name control_domain; a sever never
        // reaches it.
        if (plan.topology.bound())
            for (const char* any : {"0.0.0.0/0", "::/0"}) prefixes.push_back(*Cidr::parse(any));
        for (auto& c : prefixes) {
            nf_endpoint ep{t.control_domain, 0, 0, 0};
            INJ_TRY(add_prefix(c, ep, "the control link"));
            t.prefixes.back().control = true;
        }
        return {};
    }

    // A CIDR selector more specific than the prefix containing it becomes an entry of its own
    // (with the enclosing prefix's zone, power domain and host), so exactly its addresses can be
    // named. A CIDR with nothing around it adds nothing: addresses outside the topology are
    // never cut.
    Result<void> split_for(const Fault& f, const Selector& s) {
        for (auto& c : s.cidrs) {
            Cidr net = c.network();
            if (prefix_index.count(net)) continue;
            if (auto* enc = enclosing(net)) {
                nf_endpoint ep = enc->ep;
                INJ_TRY(add_prefix(net, ep, "fault " + f.name));
            }
        }
        return {};
    }

    Result<std::set<uint32_t>> members(const Fault& f, const Selector& s, const char* side) {
        std::set<uint32_t> ids;
        auto unknown = [&](const char* what, const std::string& n) {
            return plain_error("compile", "fault " + f.name + " " + side + ": unknown " + what + " " + n);
        };
        for (auto& n : s.zones) {
            auto it = zone_id.find(n);
            if (it == zone_id.end()) return unknown("zone", n);
            ids.insert(it->second);
        }
        for (auto& n : s.power_domains) {
            auto it = pd_id.find(n);
            if (it == pd_id.end()) return unknown("power domain", n);
            ids.insert(it->second);
        }
        for (auto& n : s.hosts) {
            auto it = host_id.find(n);
            if (it == host_id.end()) return unknown("host", n);
            ids.insert(it->second);
        }
        for (auto& c : s.cidrs) {
            Cidr net = c.network();
            for (auto& p : t.prefixes)
                if (!p.control && net.contains(p.cidr)) ids.insert(p.ep.entry);
        }
        return ids;
    }

    static bool covered(const nf_endpoint& ep, const std::set<uint32_t>& ids) {
        for (uint32_t id : {ep.zone, ep.pd, ep.host, ep.entry})
            if (id && ids.count(id)) return true;
        return false;
    }

    // "Everything else": the zones the target leaves out when the target is whole zones (one
    // domain each, cheap), else every prefix entry whose endpoint the target does not cover.
    std::set<uint32_t> rest_of(const Selector& target, const std::set<uint32_t>& left) const {
        std::set<uint32_t> ids;
        bool zones_only =
            !target.zones.empty() && target.power_domains.empty() && target.hosts.empty() && target.cidrs.empty();
        if (zones_only) {
            for (auto& [name, id] : zone_id)
                if (!left.count(id)) ids.insert(id);
            return ids;
        }
        for (auto& p : t.prefixes)
            if (!p.control && !covered(p.ep, left)) ids.insert(p.ep.entry);
        return ids;
    }
};

}  // namespace

nf_degrade degrade_entry(const plan::LinkDegrade& d, int rule) {
    nf_degrade e{};
    if (d.loss > 0.0 && d.loss_burst > 1.0 && d.loss < 1.0) {
        // Gilbert model with a lossy state that drops everything: a mean stay of `burst` packets
        // there (exit 1/burst) and a stationary share of `loss` (enter = loss / (burst (1 - loss))).
        e.loss_exit = scale_share(1.0 / d.loss_burst);
        e.loss_enter = scale_share(std::min(1.0, d.loss / (d.loss_burst * (1.0 - d.loss))));
    } else {
        e.loss = scale_share(d.loss);
    }
    e.corrupt = scale_share(d.corrupt);
    e.duplicate = scale_share(d.duplicate);
    e.delay_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d.delay).count());
    e.jitter_ns = static_cast<uint32_t>(
        std::min<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d.jitter).count(), 0xffffffffll));
    e.rate_mark = d.rate_bps ? rate_mark(rule) : 0;
    return e;
}

uint32_t rate_mark(int rule) { return NF_MARK_MAGIC | NF_MARK_RATE | static_cast<uint32_t>(rule + 1); }

uint32_t scale_share(double share) {
    if (!(share < 1.0)) return kAllFlows;
    if (!(share > 0.0)) return 0;
    return static_cast<uint32_t>(std::floor(share * static_cast<double>(kAllFlows)));
}

Result<Tables> compile(const plan::Plan& plan) {
    Builder b{plan, {}};
    INJ_TRY(b.topology());

    using Effect = plan::NetEffect::Kind;
    std::vector<size_t> ruled;
    std::vector<plan::NetEffect> effects(plan.method.size());
    bool power = false;
    for (size_t i = 0; i < plan.method.size(); ++i)
        if (auto effect = plan.method[i].net()) {
            effects[i] = *effect;
            if (ruled.size() == NF_MAX_RULES)
                return plain_error("compile", "fault " + plan.method[i].name + " (" + plan.method[i].mark.str() +
                                                  "): more than " + std::to_string(NF_MAX_RULES) +
                                                  " faults with a network part in one plan");
            ruled.push_back(i);
            power = power || effect->kind == Effect::isolate;
        }
    if (power) INJ_TRY(b.control());

    // Split first, mark second: a prefix split off for one fault must also carry the marks of
    // every other fault whose CIDR contains it.
    for (size_t fi : ruled) {
        auto& f = plan.method[fi];
        if (f.target.rest) return plain_error("compile", "fault " + f.name + ": the target cannot be `rest`");
        if (effects[fi].kind == Effect::isolate) continue;
        INJ_TRY(b.split_for(f, f.target));
        INJ_TRY(b.split_for(f, f.peer));
    }

    b.t.rule_of_fault.assign(plan.method.size(), -1);
    b.t.fault_mask.assign(plan.method.size(), 0);
    // Powered links a power_loss darkens: one extra rule each (zone a <-> zone b), armed with the
    // fault's own rule. Zone switches need none: their zone joins the fault's target side.
    std::vector<std::pair<size_t, plan::Cascade>> link_rules;
    for (size_t bit = 0; bit < ruled.size(); ++bit) {
        auto& f = plan.method[ruled[bit]];
        const plan::NetEffect& effect = effects[ruled[bit]];
        auto left = b.members(f, f.target, "target");
        if (!left.ok()) return left.error();
        std::set<uint32_t> right;
        nf_rule r{};
        if (effect.kind == Effect::isolate) {
            // A dark host answers nobody: every zone (the target's own included: its dark
            // neighbours are no better) and the control position, both ways. Whole zones keep
            // this one domain per zone, whatever the number of hosts.
            for (auto& [name, id] : b.zone_id) right.insert(id);
            right.insert(b.t.control_domain);
            r.flags = NF_RULE_CUT_FWD | NF_RULE_CUT_REV | NF_RULE_ISOLATE;
            r.share = kAllFlows;
            // A dark switch cuts its whole zone off (from its own hosts too): the zone joins the
            // target side, whose peers are every zone and control.
            for (auto& c : plan::cascades(plan.topology, f.target)) {
                if (c.kind == plan::Cascade::Kind::zone_switch)
                    left.value().insert(b.zone_id.at(c.a));
                else
                    link_rules.emplace_back(ruled[bit], c);
            }
        } else {
            auto peer = b.members(f, f.peer, "peer");
            if (!peer.ok()) return peer.error();
            right = std::move(peer.value());
            if (f.peer.rest)
                for (uint32_t id : b.rest_of(f.target, left.value())) right.insert(id);
            r.flags = effect.direction == plan::Direction::from ? NF_RULE_CUT_FWD
                      : effect.direction == plan::Direction::to ? NF_RULE_CUT_REV
                                                                : (NF_RULE_CUT_FWD | NF_RULE_CUT_REV);
            r.share = scale_share(effect.share);
        }
        r.port_lo = 0;
        r.port_hi = 65535;
        nf_degrade dg{};
        if (effect.kind == Effect::degrade) {
            const plan::LinkDegrade& d = *effect.link;
            r.flags |= NF_RULE_DEGRADE;
            r.proto = static_cast<__u8>(d.protocol);
            r.port_lo = d.port_lo;
            r.port_hi = d.port_hi;
            dg = degrade_entry(d, static_cast<int>(b.t.rules.size()));
        }

        uint64_t mask = 1ull << bit;
        for (uint32_t id : left.value()) b.t.domains[id].left |= mask;
        for (uint32_t id : right) b.t.domains[id].right |= mask;
        b.t.rules.push_back(r);
        b.t.degrades.push_back(dg);
        b.t.rule_of_fault[ruled[bit]] = static_cast<int>(bit);
        b.t.fault_mask[ruled[bit]] |= mask;
        b.t.installed |= mask;
    }
    for (auto& [fi, c] : link_rules) {
        size_t bit = b.t.rules.size();
        if (bit == NF_MAX_RULES)
            return plain_error("compile", "fault " + plan.method[fi].name + ": its cascade " + c.str() +
                                              " needs rule " + std::to_string(bit + 1) + ", more than the " +
                                              std::to_string(NF_MAX_RULES) + " the classifier holds");
        uint64_t mask = 1ull << bit;
        b.t.domains[b.zone_id.at(c.a)].left |= mask;
        b.t.domains[b.zone_id.at(c.b)].right |= mask;
        nf_rule r{};
        r.flags = NF_RULE_CUT_FWD | NF_RULE_CUT_REV;
        r.share = kAllFlows;
        r.port_lo = 0;  // every protocol, every port
        r.port_hi = 65535;
        b.t.rules.push_back(r);
        b.t.degrades.push_back(nf_degrade{});  // a cut, not a degrade
        b.t.fault_mask[fi] |= mask;
        b.t.installed |= mask;
    }
    if (b.next_id > NF_MAX_DOMAINS)
        return plain_error("compile", std::to_string(b.next_id - 1) + " fault domains, more than the " +
                                          std::to_string(NF_MAX_DOMAINS) + " the classifier holds");
    size_t v4 = std::count_if(b.t.prefixes.begin(), b.t.prefixes.end(), [](auto& p) { return !p.cidr.addr.v6; });
    if (v4 > NF_MAX_PREFIXES || b.t.prefixes.size() - v4 > NF_MAX_PREFIXES)
        return plain_error("compile", "more than " + std::to_string(NF_MAX_PREFIXES) + " prefixes of one family");
    index_prefixes(b.t);
    return std::move(b.t);
}

size_t Tables::AddrHash::operator()(const IpAddr& a) const noexcept {
    uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    return std::hash<uint64_t>{}(hi * 0x9e3779b97f4a7c15ull ^ lo ^ (a.v6 ? 1 : 0));
}

void index_prefixes(Tables& t) {
    std::map<int, Tables::Level, std::greater<int>> v4, v6;
    for (size_t i = 0; i < t.prefixes.size(); ++i) {
        auto& p = t.prefixes[i];
        auto& levels = p.cidr.addr.v6 ? v6 : v4;
        auto& level = levels[p.cidr.prefix];
        level.length = p.cidr.prefix;
        level.nets.emplace(p.cidr.network().addr, i);
        // What the program reads: the masks of the prefix's domains, ORed.
        p.ep.left = p.ep.right = 0;
        for (uint32_t id : {p.ep.zone, p.ep.pd, p.ep.host, p.ep.entry})
            if (auto it = id ? t.domains.find(id) : t.domains.end(); it != t.domains.end()) {
                p.ep.left |= it->second.left;
                p.ep.right |= it->second.right;
            }
    }
    t.index_v4.clear();
    t.index_v6.clear();
    for (auto& [len, level] : v4) t.index_v4.push_back(std::move(level));
    for (auto& [len, level] : v6) t.index_v6.push_back(std::move(level));
    t.indexed = t.prefixes.size();
}

void exempt(Tables& t, const IpAddr& a) {
    const Cidr host{a, a.bits()};
    auto it =
        std::find_if(t.prefixes.begin(), t.prefixes.end(), [&](const Tables::Prefix& p) { return p.cidr == host; });
    if (it == t.prefixes.end()) {
        t.prefixes.push_back({host, nf_endpoint{}});
    } else {
        it->ep = nf_endpoint{};
        it->control = false;
    }
    index_prefixes(t);
}

const Tables::Prefix* lookup(const Tables& t, const IpAddr& a) {
    if (t.indexed == t.prefixes.size() && t.indexed > 0) {
        for (auto& level : a.v6 ? t.index_v6 : t.index_v4) {
            auto it = level.nets.find(Cidr{a, level.length}.network().addr);
            if (it != level.nets.end()) return &t.prefixes[it->second];
        }
        return nullptr;
    }
    const Tables::Prefix* best = nullptr;
    for (auto& p : t.prefixes)
        if (p.cidr.contains(a) && (!best || p.cidr.prefix > best->cidr.prefix)) best = &p;
    return best;
}

namespace {

// The rule loop of netfault_classify() for two resolved endpoints.
bool drops_between(const Tables& t, const nf_endpoint& s, const nf_endpoint& d, uint64_t armed,
                   std::optional<uint32_t> flow_hash, bool degraded = false) {
    uint64_t fwd = s.left & d.right & t.installed;
    uint64_t rev = s.right & d.left & t.installed;
    uint64_t m = fwd | rev;
    for (size_t i = 0; i < t.rules.size() && i < NF_MAX_RULES; ++i) {
        if (!((m >> i) & 1)) continue;
        const nf_rule& r = t.rules[i];
        bool in_force = (armed >> i) & 1;
        bool dir_ok =
            (((fwd >> i) & 1) && (r.flags & NF_RULE_CUT_FWD)) || (((rev >> i) & 1) && (r.flags & NF_RULE_CUT_REV));
        bool share_ok = r.share == kAllFlows || !flow_hash || *flow_hash <= r.share;
        // A degrade rule cuts nobody off: it counts only when asked which pairs it degrades.
        if ((r.flags & NF_RULE_DEGRADE) && !degraded) continue;
        if (in_force && dir_ok && share_ok) return true;
    }
    return false;
}

}  // namespace

bool drops(const Tables& t, const IpAddr& src, const IpAddr& dst, uint64_t armed_rules,
           std::optional<uint32_t> flow_hash) {
    if (t.installed == 0 || src.v6 != dst.v6) return false;
    auto* s = lookup(t, src);
    auto* d = lookup(t, dst);
    if (!s || !d) return false;
    return drops_between(t, s->ep, d->ep, armed_rules, flow_hash);
}

namespace {

std::vector<std::pair<std::string, std::string>> pairs(const plan::Plan& plan, const Tables& t, size_t fault_index,
                                                       bool degraded) {
    std::vector<std::pair<std::string, std::string>> out;
    if (fault_index >= t.fault_mask.size() || t.fault_mask[fault_index] == 0) return out;
    uint64_t armed = t.fault_mask[fault_index];
    // A packet never mixes families: pair each source's primary address with the destination's
    // first address of the same family.
    const auto& hosts = plan.topology.hosts;
    for (size_t a = 0; a < hosts.size(); ++a) {
        if (hosts[a].addresses.empty()) continue;
        const IpAddr& src = hosts[a].addresses[0].addr;
        for (size_t b = 0; b < hosts.size(); ++b) {
            if (a == b) continue;
            for (auto& dst : hosts[b].addresses) {
                if (dst.addr.v6 != src.v6) continue;
                auto* s = lookup(t, src);
                auto* d = lookup(t, dst.addr);
                if (s && d && drops_between(t, s->ep, d->ep, armed, std::nullopt, degraded))
                    out.emplace_back(hosts[a].name, hosts[b].name);
                break;
            }
        }
    }
    return out;
}

}  // namespace

namespace {

// What pairs() judges a host on: its primary address, and the first address of each family as
// a destination. nullptr: no such address, or one outside the tables.
struct Judged {
    const Tables::Prefix* src = nullptr;
    const Tables::Prefix* dst[2] = {nullptr, nullptr};  // [v6]
    bool src_v6 = false;
};

Judged judged(const Tables& t, const plan::Host& h) {
    Judged j;
    if (h.addresses.empty()) return j;
    j.src_v6 = h.addresses[0].addr.v6;
    j.src = lookup(t, h.addresses[0].addr);
    bool seen[2] = {false, false};
    for (auto& a : h.addresses)
        if (!seen[a.addr.v6]) {
            seen[a.addr.v6] = true;
            j.dst[a.addr.v6] = lookup(t, a.addr);
        }
    return j;
}

}  // namespace

std::vector<HostGroup> host_groups(const plan::Plan& plan, const Tables& t) {
    // Key: zone, power domain, and for the source and both destinations: present, family, masks.
    using Side = std::tuple<int, uint64_t, uint64_t>;  // 0 none, 1 outside the tables, 2 known
    auto side = [](const Tables::Prefix* p, bool present) {
        return !present ? Side{0, 0, 0} : !p ? Side{1, 0, 0} : Side{2, p->ep.left, p->ep.right};
    };
    std::map<std::tuple<std::string, std::string, bool, Side, Side, Side>, size_t> index;
    std::vector<HostGroup> out;
    const auto& hosts = plan.topology.hosts;
    for (size_t i = 0; i < hosts.size(); ++i) {
        Judged j = judged(t, hosts[i]);
        bool has[2] = {false, false};
        for (auto& a : hosts[i].addresses) has[a.addr.v6] = true;
        auto key =
            std::make_tuple(hosts[i].zone, hosts[i].power_domain, j.src_v6, side(j.src, !hosts[i].addresses.empty()),
                            side(j.dst[0], has[0]), side(j.dst[1], has[1]));
        auto [it, fresh] = index.emplace(key, out.size());
        if (fresh) out.push_back({hosts[i].zone, hosts[i].power_domain, {}});
        out[it->second].hosts.push_back(i);
    }
    return out;
}

std::vector<GroupCut> group_cuts(const plan::Plan& plan, const Tables& t, const std::vector<HostGroup>& groups,
                                 size_t fault_index, bool degraded) {
    std::vector<GroupCut> out;
    if (fault_index >= t.fault_mask.size() || t.fault_mask[fault_index] == 0) return out;
    uint64_t armed = t.fault_mask[fault_index];
    const auto& hosts = plan.topology.hosts;
    std::vector<Judged> rep;
    for (auto& g : groups) rep.push_back(judged(t, hosts[g.hosts.front()]));
    for (size_t a = 0; a < groups.size(); ++a) {
        if (hosts[groups[a].hosts.front()].addresses.empty()) continue;
        for (size_t b = 0; b < groups.size(); ++b) {
            const Tables::Prefix* s = rep[a].src;
            const Tables::Prefix* d = rep[b].dst[rep[a].src_v6];
            if (!s || !d || !drops_between(t, s->ep, d->ep, armed, std::nullopt, degraded)) continue;
            uint64_t na = groups[a].hosts.size(), nb = groups[b].hosts.size();
            uint64_t n = a == b ? na * (na - 1) : na * nb;
            if (n) out.push_back({a, b, n});
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> cut_set(const plan::Plan& plan, const Tables& t, size_t fault_index) {
    return pairs(plan, t, fault_index, false);
}

std::optional<std::pair<std::string, std::string>> first_cut(const plan::Plan& plan, const Tables& t,
                                                             size_t fault_index, bool degraded) {
    // cut_set's order: the first source host that drops towards anyone, then its first
    // destination; every host of a group is judged alike, so each group is seen through its first
    // (as a source) and its first other than the source (as a destination).
    auto groups = host_groups(plan, t);
    std::optional<std::pair<size_t, size_t>> best;
    for (auto& c : group_cuts(plan, t, groups, fault_index, degraded)) {
        const auto& from = groups[c.from].hosts;
        const auto& to = groups[c.to].hosts;
        size_t a = from.front();
        size_t b = to.front() != a ? to.front() : to.size() > 1 ? to[1] : a;
        if (b == a) continue;
        if (!best || std::pair{a, b} < *best) best = {a, b};
    }
    if (!best) return std::nullopt;
    return std::pair{plan.topology.hosts[best->first].name, plan.topology.hosts[best->second].name};
}

std::vector<std::pair<std::string, std::string>> degraded_set(const plan::Plan& plan, const Tables& t,
                                                              size_t fault_index) {
    return pairs(plan, t, fault_index, true);
}

}  // namespace inj::net
