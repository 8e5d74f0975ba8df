// The topology section: zones, power domains, hosts, powered links; address overlaps and assignment.
#include "plan/load/loader.hpp"

#include <map>

#include "plan/limits.hpp"
#include "plan/prefix_set.hpp"

#include <algorithm>

namespace inj::plan::load {

namespace {
// Where zones get their subnet when the plan gives none: one /22 each, inside this /16.
constexpr int kAutoPrefix = 22;
constexpr uint64_t kAutoSlots = 1u << (kAutoPrefix - 16);  // /22s in a /16
// Sequential assignment inside a huge IPv6 subnet stops here; no lab has this many hosts.
constexpr uint64_t kMaxAssign = 1u << 20;

uint64_t host_slots(const Cidr& subnet) {
    int host_bits = subnet.addr.bits() - subnet.prefix;
    return host_bits >= 21 ? kMaxAssign : (uint64_t{1} << host_bits);
}

}  // namespace

void Loader::load_topology(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"zones", "hosts", "links"});
    if (auto zs = m.require("zones"))
        if (auto items = list(*zs)) {
            if (items->empty()) error(*zs, "a topology needs at least one zone");
            for (auto& it : *items) load_zone(it);
        }
    if (auto hs = m.require("hosts"))
        if (auto items = list(*hs)) {
            if (items->empty()) error(*hs, "a topology needs at least one host");
            for (size_t i = 0; i < items->size(); ++i) load_host((*items)[i], i);
        }
    if (auto ls = m.get("links"))
        if (auto items = list(*ls))
            for (auto& it : *items) load_link(it);
    check_power_feeds();
    check_overlaps();
}

void Loader::load_zone(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "power_domains", "subnet", "subnet6", "cidrs", "switch_power_domain"});
    Zone z;
    z.mark = f.mark;
    int zi = static_cast<int>(plan_.topology.zones.size());
    if (auto n = m.require("name"))
        if (auto s = name(*n)) {
            z.name = *s;
            unique("zone", zone_names_, *s, *n);
        }

    auto add_domain = [&](const std::string& pd, const Field& where) {
        if (auto* prev = plan_.topology.power_domain(pd)) {
            error(where, "power domain '" + pd + "' already belongs to zone '" + prev->zone + "' (line " +
                             std::to_string(prev->mark.line) + "); a power domain belongs to exactly one zone");
            return;
        }
        z.power_domains.push_back(pd);
        plan_.topology.power_domains.push_back(PowerDomain{pd, z.name, where.mark});
    };
    if (auto p = m.get("power_domains")) {
        if (auto items = one_or_list(*p)) {
            if (items->empty())
                error(*p,
                      "a zone needs at least one power domain (leave the key out for one "
                      "named after the zone)");
            for (auto& it : *items)
                if (auto s = name(it)) add_domain(*s, it);
        }
    } else if (!z.name.empty()) {
        // One power domain named after the zone: the whole zone loses power together.
        add_domain(z.name, f);
    }

    if (auto sp = m.get("switch_power_domain"))
        if (auto v = name(*sp)) {
            z.switch_power_domain = *v;
            switch_power_fields_.push_back(*sp);
        }
    if (auto s = m.get("subnet"))
        if (auto c = cidr(*s)) {
            if (c->addr.v6)
                error(*s, "subnet is the IPv4 segment; put " + c->str() + " in subnet6");
            else if (c->prefix > 30)
                error(*s, "subnet " + c->str() + " is too small: a zone needs at least a /30");
            else if (c->network() != *c)
                error(*s, c->str() + " has host bits set; did you mean " + c->network().str() + "?");
            else {
                z.subnet = c;
                owned_.push_back({*c, zi, -1, "zone " + z.name + " subnet " + c->str(), s->mark, s->path});
            }
        }
    if (auto s = m.get("subnet6"))
        if (auto c = cidr(*s)) {
            if (!c->addr.v6)
                error(*s, "subnet6 is the IPv6 segment; put " + c->str() + " in subnet");
            else if (c->prefix > 126)
                error(*s, "subnet6 " + c->str() + " is too small: a zone needs at least a /126");
            else if (c->network() != *c)
                error(*s, c->str() + " has host bits set; did you mean " + c->network().str() + "?");
            else {
                z.subnet6 = c;
                owned_.push_back({*c, zi, -1, "zone " + z.name + " subnet6 " + c->str(), s->mark, s->path});
            }
        }
    if (auto cs = m.get("cidrs"))
        if (auto items = list(*cs))
            for (auto& it : *items)
                if (auto c = cidr(it)) {
                    z.cidrs.push_back(c->network());
                    owned_.push_back(
                        {c->network(), zi, -1, "zone " + z.name + " cidr " + c->network().str(), it.mark, it.path});
                }
    plan_.topology.zones.push_back(std::move(z));
}

void Loader::load_host(const Field& f, size_t entry) {
    MapView m(*this, f);
    if (!m.ok()) return;
    std::vector<std::string> keys = {"name", "zone", "power_domain", "count", "addresses", "cidrs"};
    keys.insert(keys.end(), binding_keys().begin(), binding_keys().end());
    m.allow(keys);
    if (auto cf = m.get("count")) return load_host_group(m, *cf, entry);
    if (!room_for_hosts(f, 1)) return;
    Host h;
    h.mark = f.mark;
    int hi = static_cast<int>(plan_.topology.hosts.size());
    if (auto n = m.require("name"))
        if (auto s = name(*n)) {
            h.name = *s;
            if (*s == "control") error(*n, "'control' is reserved: it names the runner's own position");
            unique("host", host_names_, *s, *n);
        }
    const Zone* zone = host_zone(m, h.zone);
    int zi = zone ? static_cast<int>(zone - plan_.topology.zones.data()) : -1;
    if (auto pf = m.get("power_domain")) {
        if (pf->node.IsSequence())
            error(*pf, "a host has one power domain; a list spreads a host group (count:) over several");
        else if (auto s = name(*pf)) {
            h.power_domain = *s;
            host_power_domain(*pf, *s, zone);
        }
    } else if (zone) {
        if (zone->power_domains.size() == 1)
            h.power_domain = zone->power_domains[0];
        else if (!zone->power_domains.empty())
            error(f.key_mark, child_path(f.path, "power_domain"),
                  "missing required key 'power_domain': zone '" + zone->name + "' has several (" +
                      join(zone->power_domains) + ")");
    }

    load_binding(m, h);
    if (auto af = m.get("addresses"))
        if (auto items = list(*af))
            for (auto& it : *items) {
                auto c = cidr(it, !h.binding.bound());  // what exists has the addresses it has
                if (!c || !zone) continue;              // a bad zone is already reported
                const IpAddr& a = c->addr;
                const char* key = a.v6 ? "subnet6" : "subnet";
                const std::optional<Cidr>* subnet = a.v6 ? &zone->subnet6 : &zone->subnet;
                if (!*subnet && h.binding.bound()) {
                    // What exists has the addresses it has: the zone need not declare a segment.
                    h.addresses.push_back(Cidr{a, a.bits()});
                    owned_.push_back(
                        {Cidr{a, a.bits()}, zi, hi, "host " + h.name + " address " + a.str(), it.mark, it.path});
                    continue;
                }
                if (!*subnet) {
                    error(it, "host address " + a.str() + " needs its zone '" + zone->name + "' to declare a " + key +
                                  " that contains it");
                    continue;
                }
                const Cidr& sn = **subnet;
                if (c->prefix != a.bits() && c->prefix != sn.prefix) {
                    error(it, c->str() + ": the prefix length differs from zone '" + zone->name + "' " + key + " " +
                                  sn.str() + "; write the bare address");
                    continue;
                }
                if (!sn.contains(a)) {
                    error(it, "host address " + a.str() + " lies outside its zone '" + zone->name + "' " + key + " " +
                                  sn.str());
                    continue;
                }
                uint64_t slots = host_slots(sn);
                if (a == sn.nth(0) || a == sn.nth(1) || (!a.v6 && a == sn.nth(slots - 1))) {
                    error(it, a.str() + " is reserved in " + sn.str() +
                                  " (network, gateway .1 or broadcast address); hosts use " + sn.nth(2).str() + " on");
                    continue;
                }
                h.addresses.push_back(Cidr{a, sn.prefix});
                owned_.push_back(
                    {Cidr{a, a.bits()}, zi, hi, "host " + h.name + " address " + a.str(), it.mark, it.path});
            }
    if (auto cf = m.get("cidrs"))
        if (auto items = list(*cf))
            for (auto& it : *items)
                if (auto c = cidr(it, !h.binding.bound())) {
                    h.cidrs.push_back(c->network());
                    owned_.push_back(
                        {c->network(), zi, hi, "host " + h.name + " cidr " + c->network().str(), it.mark, it.path});
                }
    plan_.topology.hosts.push_back(std::move(h));
    host_entry_.push_back(entry);
}

// Reads a host entry's zone (required): nullptr when it is missing or unknown (reported).
const Zone* Loader::host_zone(MapView& m, std::string& zone) {
    auto zf = m.require("zone");
    if (!zf) return nullptr;
    auto s = name(*zf);
    if (!s) return nullptr;
    zone = *s;
    const Zone* z = plan_.topology.zone(*s);
    if (!z) error(*zf, "unknown zone '" + *s + "' (zones: " + join_known(names_of_zones()) + ")");
    return z;
}

// A host's power domain exists and belongs to the host's zone (when that is known).
bool Loader::host_power_domain(const Field& f, const std::string& pd, const Zone* zone) {
    const PowerDomain* d = plan_.topology.power_domain(pd);
    if (!d) {
        error(f, "unknown power domain '" + pd + "' (power domains: " + join_known(names_of_power_domains()) + ")");
        return false;
    }
    if (zone && d->zone != zone->name) {
        error(f, "power domain '" + pd + "' belongs to zone '" + d->zone + "', not to the host's zone '" + zone->name +
                     "'");
        return false;
    }
    return true;
}

// Counts an entry's `n` hosts against limits::kMaxHosts before any is made: the list's own
// length bounds the entries, this bounds the hosts a group (count:) stands for. The entry that
// crosses the limit is refused naming the total; those after it are refused in silence.
bool Loader::room_for_hosts(const Field& f, size_t n) {
    size_t before = hosts_declared_;
    hosts_declared_ += n;
    if (hosts_declared_ <= limits::kMaxHosts) return true;
    if (before <= limits::kMaxHosts)
        error(f, "too many hosts: " + std::to_string(hosts_declared_) + " with this entry, at most " +
                     std::to_string(limits::kMaxHosts) + " (see plan/limits.hpp)");
    return false;
}

// A host group, `count: N`: hosts <name>-1 .. <name>-N of one zone, spread in contiguous blocks
// over the power domains given (all the zone's by default; host i goes to domain i*D/N), so a
// data center is a few lines and each domain's hosts are one range of names. The lab builds
// them and the loader assigns their addresses, so nothing that binds or addresses a host applies.
void Loader::load_host_group(MapView& m, const Field& cf, size_t entry) {
    std::vector<std::string> refused = {"addresses", "cidrs"};
    refused.insert(refused.end(), binding_keys().begin(), binding_keys().end());
    for (auto& key : refused)
        if (auto kf = m.get(key))
            error(kf->key_mark, kf->path,
                  "count: a host group gets its addresses assigned and the lab builds its hosts, not with " + key +
                      " (list such hosts one by one)");
    size_t n = 0;  // stays 0 when the count is refused
    if (auto c = integer(cf)) {
        if (*c < 1)
            error(cf, "a host group has at least 1 host, not " + std::to_string(*c));
        else if (static_cast<unsigned long long>(*c) > limits::kMaxHosts)
            error(cf, "count " + std::to_string(*c) + " is more than the " + std::to_string(limits::kMaxHosts) +
                          " hosts a plan may have (see plan/limits.hpp)");
        else
            n = static_cast<size_t>(*c);
    }
    auto nf = m.require("name");
    std::optional<std::string> prefix = nf ? name(*nf) : std::nullopt;
    if (prefix && prefix->ends_with('-')) {
        error(*nf, "'" + *prefix + "' ends in '-': the group's hosts are named " + *prefix + "-1, " + *prefix +
                       "-2...; leave the '-' out");
        prefix.reset();
    }
    if (prefix && n > 0) {
        std::string last = *prefix + "-" + std::to_string(n);
        if (!valid_name(last)) {
            error(*nf, "'" + last + "' is too long a host name (at most 63 characters): the group's hosts are " +
                           *prefix + "-1 to " + last + "; shorten the name");
            prefix.reset();
        }
    }
    std::string zone_name;
    const Zone* zone = host_zone(m, zone_name);
    std::vector<std::string> domains;
    if (auto pf = m.get("power_domain")) {
        if (auto items = one_or_list(*pf)) {
            if (items->empty()) error(*pf, "an empty list; leave power_domain out for all of the zone's");
            for (auto& it : *items)
                if (auto s = name(it)) {
                    if (std::find(domains.begin(), domains.end(), *s) != domains.end())
                        error(it, "power domain '" + *s + "' is listed twice");
                    else if (host_power_domain(it, *s, zone))
                        domains.push_back(*s);
                }
        }
    } else if (zone) {
        domains = zone->power_domains;
    }
    if (!prefix || n == 0 || !room_for_hosts(cf, n)) return;

    bool clash = false;  // one duplicate is said, not a thousand
    for (size_t i = 0; i < n; ++i) {
        Host h;
        h.name = *prefix + "-" + std::to_string(i + 1);
        h.zone = zone_name;
        if (!domains.empty()) h.power_domain = domains[i * domains.size() / n];
        h.mark = m.self().mark;
        if (!unique("host", host_names_, h.name, *nf, !clash)) clash = true;
        plan_.topology.hosts.push_back(std::move(h));
        host_entry_.push_back(entry);
    }
}

void Loader::load_link(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"between", "power_domain"});
    PoweredLink l;
    l.mark = f.mark;
    bool ok = true;
    if (auto b = m.require("between")) {
        auto items = list(*b);
        if (!items || items->size() != 2) {
            if (items) error(*b, "a link is between exactly two zones, e.g. [pangyo, ansan]");
            ok = false;
        } else {
            std::vector<std::string> zs;
            for (auto& it : *items) {
                auto v = name(it);
                if (!v) {
                    ok = false;
                    continue;
                }
                if (!plan_.topology.zone(*v)) {
                    error(it, "unknown zone '" + *v + "' (zones: " + join_known(names_of_zones()) + ")");
                    ok = false;
                }
                zs.push_back(*v);
            }
            if (ok && zs[0] == zs[1]) {
                error(*b, "a link joins two different zones (a zone's own switch is its switch_power_domain)");
                ok = false;
            }
            if (ok) {
                l.a = zs[0];
                l.b = zs[1];
                for (auto& prev : plan_.topology.links)
                    if ((prev.a == l.a && prev.b == l.b) || (prev.a == l.b && prev.b == l.a)) {
                        error(*b, "link " + l.a + "<->" + l.b + " is already declared (line " +
                                      std::to_string(prev.mark.line) + ")");
                        ok = false;
                    }
            }
        }
    } else {
        ok = false;
    }
    if (auto p = m.require("power_domain", "a link in topology.links exists to say what feeds it")) {
        if (auto v = name(*p)) {
            if (!plan_.topology.power_domain(*v)) {
                error(*p, "unknown power domain '" + *v + "' (power domains: " + join_known(names_of_power_domains()) +
                              ")");
                ok = false;
            }
            l.power_domain = *v;
        } else {
            ok = false;
        }
    } else {
        ok = false;
    }
    if (ok) plan_.topology.links.push_back(std::move(l));
}

void Loader::check_power_feeds() {
    for (auto& f : switch_power_fields_) {
        const std::string& v = f.node.Scalar();
        if (!plan_.topology.power_domain(v))
            error(f, "unknown power domain '" + v + "' (power domains: " + join_known(names_of_power_domains()) + ")");
    }
}

// Prefixes of different zones never overlap (a packet's zone must be unambiguous), nor do
// prefixes of different hosts; a host's prefixes inside its own zone's are expected.
void Loader::check_overlaps() {
    // Indexed, not pairwise: for each prefix, the earliest earlier one it conflicts with.
    PrefixSet seen;
    for (size_t j = 0; j < owned_.size(); ++j) {
        const Owned& b = owned_[j];
        if (b.zone < 0) continue;
        size_t first = j;
        for (size_t i : seen.overlapping(b.prefix)) {
            const Owned& a = owned_[i];
            bool conflict = a.zone != b.zone || (a.host >= 0 && b.host >= 0 && a.host != b.host);
            if (conflict && i < first) first = i;
        }
        seen.insert(b.prefix, j);
        if (first == j) continue;
        const Owned& a = owned_[first];
        std::string verb = a.prefix.prefix == a.prefix.addr.bits() && b.prefix.prefix == b.prefix.addr.bits()
                               ? " is already "
                               : " overlaps ";
        error(b.mark, b.path, b.prefix.str() + verb + a.what + " (line " + std::to_string(a.mark.line) + ")");
    }
}

bool Loader::taken(const Cidr& c, int zone) const {
    for (auto& o : owned_)
        if (o.zone != zone && o.prefix.overlaps(c)) return true;
    return false;
}

void Loader::assign_addresses() {
    auto& topo = plan_.topology;
    const Cidr base = *Cidr::parse("198.18.0.0/16");
    if (topo.bound()) {  // no lab: every host says its own addresses (check_bindings)
        addresses_assigned_ = true;
        return;
    }
    for (size_t i = 0; i < topo.zones.size(); ++i) {
        Zone& z = topo.zones[i];
        if (z.subnet) continue;
        for (uint64_t k = 0; k < kAutoSlots && !z.subnet; ++k) {
            Cidr c{base.nth(((i + k) % kAutoSlots) << (32 - kAutoPrefix)), kAutoPrefix};
            if (taken(c, static_cast<int>(i))) continue;
            z.subnet = c;
            owned_.push_back({c, static_cast<int>(i), -1, "zone " + z.name + " subnet " + c.str(), z.mark, ""});
        }
        if (!z.subnet)
            error(z.mark, "topology.zones[" + std::to_string(i) + "]",
                  "no free /22 left in " + base.str() + " for zone '" + z.name + "'; give it a subnet");
    }

    // Host prefixes taken so far, and per zone subnet the first slot not yet tried: slots only
    // ever fill up, so each zone's search resumes where the previous host's ended.
    PrefixSet used;
    for (size_t i = 0; i < owned_.size(); ++i)
        if (owned_[i].host >= 0) used.insert(owned_[i].prefix, i);
    std::map<const Cidr*, uint64_t> cursor;
    // A full subnet is said once, at its first host left without an address, with how many more
    // are (a group of 16,000 hosts in a /22 is one error, not 15,000).
    std::map<const Cidr*, std::pair<size_t, size_t>> full;  // error index, hosts after the first
    for (size_t hi = 0; hi < topo.hosts.size(); ++hi) {
        Host& h = topo.hosts[hi];
        const Zone* z = topo.zone(h.zone);
        int zi = static_cast<int>(z - topo.zones.data());
        for (const std::optional<Cidr>* sn : {&z->subnet, &z->subnet6}) {
            if (!*sn) continue;
            bool v6 = (*sn)->addr.v6;
            bool has =
                std::any_of(h.addresses.begin(), h.addresses.end(), [&](const Cidr& a) { return a.addr.v6 == v6; });
            if (has) continue;
            uint64_t slots = host_slots(**sn);
            uint64_t last = v6 ? slots - 1 : slots - 2;  // IPv4 keeps its broadcast address
            bool placed = false;
            uint64_t& from = cursor.try_emplace(&**sn, 2).first->second;
            for (uint64_t n = from; n <= last && !placed; ++n) {
                IpAddr a = (*sn)->nth(n);
                from = n + 1;
                if (used.contains(a)) continue;
                used.insert(Cidr{a, a.bits()}, owned_.size());
                h.addresses.push_back(Cidr{a, (*sn)->prefix});
                owned_.push_back({Cidr{a, a.bits()}, zi, static_cast<int>(hi), "host " + h.name + " address " + a.str(),
                                  h.mark, ""});
                placed = true;
            }
            if (placed) continue;
            if (auto it = full.find(&**sn); it != full.end()) {
                ++it->second.second;
                continue;
            }
            full.emplace(&**sn, std::pair{errors_.size(), size_t{0}});
            error(h.mark, host_path(hi),
                  "zone '" + z->name + "' has no free address left in " + (*sn)->str() + " for host '" + h.name + "'");
        }
        // addresses[0] is the primary IPv4 address everything else relies on.
        std::stable_partition(h.addresses.begin(), h.addresses.end(), [](const Cidr& a) { return !a.addr.v6; });
    }
    for (auto& [sn, at] : full)
        errors_[at.first].message +=
            (at.second ? " nor for the " + std::to_string(at.second) + " hosts after it" : "") +
            std::string("; give the zone a larger subnet");
    addresses_assigned_ = true;
}

}  // namespace inj::plan::load
