// The topology section: zones, power domains, hosts, powered links; address overlaps and assignment.
#include "plan/load/loader.hpp"

#include <map>

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
            for (auto& it : *items) load_host(it);
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

void Loader::load_host(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    std::vector<std::string> keys = {"name", "zone", "power_domain", "addresses", "cidrs"};
    keys.insert(keys.end(), binding_keys().begin(), binding_keys().end());
    m.allow(keys);
    Host h;
    h.mark = f.mark;
    int hi = static_cast<int>(plan_.topology.hosts.size());
    if (auto n = m.require("name"))
        if (auto s = name(*n)) {
            h.name = *s;
            if (*s == "control") error(*n, "'control' is reserved: it names the runner's own position");
            unique("host", host_names_, *s, *n);
        }
    const Zone* zone = nullptr;
    int zi = -1;
    if (auto zf = m.require("zone"))
        if (auto s = name(*zf)) {
            h.zone = *s;
            zone = plan_.topology.zone(*s);
            if (!zone)
                error(*zf, "unknown zone '" + *s + "' (zones: " + join(names_of_zones()) + ")");
            else
                zi = static_cast<int>(zone - plan_.topology.zones.data());
        }
    if (auto pf = m.get("power_domain")) {
        if (auto s = name(*pf)) {
            h.power_domain = *s;
            const PowerDomain* pd = plan_.topology.power_domain(*s);
            if (!pd)
                error(*pf, "unknown power domain '" + *s + "' (power domains: " + join(names_of_power_domains()) + ")");
            else if (zone && pd->zone != zone->name)
                error(*pf, "power domain '" + *s + "' belongs to zone '" + pd->zone + "', not to the host's zone '" +
                               zone->name + "'");
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
                    error(it, "unknown zone '" + *v + "' (zones: " + join(names_of_zones()) + ")");
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
                error(*p, "unknown power domain '" + *v + "' (power domains: " + join(names_of_power_domains()) + ")");
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
            error(f, "unknown power domain '" + v + "' (power domains: " + join(names_of_power_domains()) + ")");
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
            if (!placed)
                error(h.mark, "topology.hosts[" + std::to_string(hi) + "]",
                      "zone '" + z->name + "' has no free address left in " + (*sn)->str() + " for host '" + h.name +
                          "'; give the zone a larger subnet");
        }
        // addresses[0] is the primary IPv4 address everything else relies on.
        std::stable_partition(h.addresses.begin(), h.addresses.end(), [](const Cidr& a) { return !a.addr.v6; });
    }
    addresses_assigned_ = true;
}

}  // namespace inj::plan::load
