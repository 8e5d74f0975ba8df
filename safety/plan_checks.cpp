// Plan checks of preflight (see plan_checks.hpp): blast radius per moment, the protected set and
// the abort path. Every reachability answer comes from net::drops(), the userspace mirror of the
// classifier, so what is checked here is what the kernel will do.
#include "safety/plan_checks.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "common/ranges.hpp"

namespace inj::safety {

using plan::Plan;
using plan::Selector;

std::string Refusal::str() const {
    std::string s = mark.line > 0 ? mark.str() : mark.file;
    return (s.empty() ? "" : s + ": ") + check + ": " + message;
}

std::string Moment::str() const { return "T+" + format_duration(from) + "..T+" + format_duration(to); }

namespace {

// The lab's control link (common/ranges.hpp: the lab puts the root end at .1 and the fabric end
// at .2; IPv6 uses a /126 inside the reserved /64).
const Cidr& kControlNet = control_net_v4();
const Cidr& kControlNet6 = control_net_v6();

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

// A list of host or domain names for a message: whole up to 20, else the first ten, the last
// and the count, so a refusal of a 32,000-host plan stays one readable line.
std::string some(const std::vector<std::string>& v) {
    if (v.size() <= 20) return join(v);
    std::vector<std::string> head(v.begin(), v.begin() + 10);
    return join(head) + ", ..., " + v.back() + " (" + std::to_string(v.size()) + " in all)";
}

std::string percent(double share) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
    std::string s = buf;
    if (s.size() > 3 && s.compare(s.size() - 3, 3, ".0%") == 0) s.erase(s.size() - 3, 2);
    return s;
}

const IpAddr* first_address(const plan::Host& h, bool v6) {
    for (auto& a : h.addresses)
        if (a.addr.v6 == v6) return &a.addr;
    return nullptr;
}

// The hosts a selector stands for, ascending: named zones, power domains and hosts, and every
// host with an address or prefix inside one of its CIDRs. `rest` (an omitted peer) is resolved
// by the caller. Names are looked up in hash sets: a target may list thousands of hosts.
std::vector<size_t> hosts_of(const plan::Topology& topo, const Selector& s) {
    using Names = std::unordered_set<std::string_view>;
    const Names zones(s.zones.begin(), s.zones.end()), pds(s.power_domains.begin(), s.power_domains.end()),
        names(s.hosts.begin(), s.hosts.end());
    std::vector<size_t> out;
    for (size_t i = 0; i < topo.hosts.size(); ++i) {
        const plan::Host& h = topo.hosts[i];
        bool in = zones.count(h.zone) || pds.count(h.power_domain) || names.count(h.name);
        for (auto& c : s.cidrs) {
            for (auto& a : h.addresses) in = in || c.contains(a.addr);
            for (auto& x : h.cidrs) in = in || c.overlaps(x);
        }
        if (in) out.push_back(i);
    }
    return out;
}

// The vertices of the contact graph: fault domains, i.e. classes of hosts whose primary
// addresses carry the same armed left/right rule bits. net::drops() reads only those bits, so
// every member of a class gets the same verdict against anyone, and a class is checked once:
// a moment of a 32,000-host lab is a few dozen drops() calls, whatever the host count.
struct HostClass {
    std::vector<size_t> hosts;  // plan order
    // Members cannot reach each other (a host on both sides of a rule): a clique holds at most
    // one of them, any one, so the class stands in the graph as one vertex of weight 1.
    bool apart = false;
    size_t weight() const { return apart ? 1 : hosts.size(); }
};

uint64_t side_mask(const nf_endpoint& ep, bool left) { return left ? ep.left : ep.right; }

bool in_contact(const net::Tables& t, const IpAddr& a, const IpAddr& b, uint64_t armed) {
    return !net::drops(t, a, b, armed) && !net::drops(t, b, a, armed);
}

// What every moment of a plan shares, computed once: the rule masks of each host's primary
// address (one LPM lookup) and the hosts of each fault's target. A plan of 60 faults has ~120
// moments; each used to look every host up again.
struct Shared {
    struct Facts {
        bool addressed = false, v6 = false, known = false;
        uint64_t left = 0, right = 0;
    };
    std::vector<Facts> facts;                  // per host
    std::vector<std::vector<size_t>> targets;  // per fault: hosts_of(its target)

    Shared(const Plan& plan, const net::Tables& t) {
        for (auto& h : plan.topology.hosts) {
            Facts f;
            if (!h.addresses.empty()) {
                f.addressed = true;
                f.v6 = h.addresses[0].addr.v6;
                if (const net::Tables::Prefix* p = net::lookup(t, h.addresses[0].addr))
                    f = {true, f.v6, true, side_mask(p->ep, true), side_mask(p->ep, false)};
            }
            facts.push_back(f);
        }
        for (auto& f : plan.method) targets.push_back(hosts_of(plan.topology, f.target));
    }
};

// `skip`: hosts that are never part of the majority (dark ones), left out of every class.
std::vector<HostClass> classes(const Plan& plan, const net::Tables& t, uint64_t armed, const std::vector<bool>& skip,
                               const Shared& sh) {
    const auto& hosts = plan.topology.hosts;
    std::map<std::tuple<bool, uint64_t, uint64_t, bool>, size_t> index;
    std::vector<HostClass> out;
    for (size_t i = 0; i < hosts.size(); ++i) {
        const Shared::Facts& f = sh.facts[i];
        if (!f.addressed || skip[i]) continue;
        auto key = std::make_tuple(f.v6, f.left & armed, f.right & armed, f.known);
        auto [it, fresh] = index.emplace(key, out.size());
        if (fresh) out.push_back({});
        out[it->second].hosts.push_back(i);
    }
    for (auto& c : out)
        c.apart = c.hosts.size() > 1 &&
                  !in_contact(t, hosts[c.hosts[0]].addresses[0].addr, hosts[c.hosts[1]].addresses[0].addr, armed);
    return out;
}

// Hosts a fault in force isolates (a power loss's target). A host without power answers nobody and is
// never part of the connected majority, however the live hosts split.
std::vector<bool> dark_hosts(const Plan& plan, const Moment& m, const Shared& sh) {
    std::vector<bool> dark(plan.topology.hosts.size(), false);
    for (size_t fi : m.faults)
        if (auto e = plan.method[fi].net(); e && e->kind == plan::NetEffect::Kind::isolate)
            for (size_t h : sh.targets[fi]) dark[h] = true;
    return dark;
}

// Bron-Kerbosch with pivoting over the class graph: finds the largest total weight of a clique
// and the classes that belong to every clique of that weight.
struct CliqueSearch {
    const std::vector<std::vector<bool>>& adj;
    const std::vector<size_t>& weight;
    size_t best = 0;
    std::vector<bool> in_all;  // classes in every best clique so far

    void visit(std::vector<size_t>& r, std::vector<size_t> p, std::vector<size_t> x) {
        if (p.empty() && x.empty()) {
            size_t w = 0;
            for (size_t v : r) w += weight[v];
            std::vector<bool> mine(adj.size(), false);
            for (size_t v : r) mine[v] = true;
            if (w > best) {
                best = w;
                in_all = mine;
            } else if (w == best) {
                for (size_t i = 0; i < in_all.size(); ++i) in_all[i] = in_all[i] && mine[i];
            }
            return;
        }
        size_t pivot = !p.empty() ? p.front() : x.front();
        size_t pivot_deg = 0;
        for (auto* set : {&p, &x})
            for (size_t u : *set) {
                size_t d = 0;
                for (size_t v : p) d += adj[u][v];
                if (d >= pivot_deg) pivot = u, pivot_deg = d;
            }
        std::vector<size_t> candidates;
        for (size_t v : p)
            if (!adj[pivot][v]) candidates.push_back(v);
        for (size_t v : candidates) {
            std::vector<size_t> np, nx;
            for (size_t u : p)
                if (adj[v][u]) np.push_back(u);
            for (size_t u : x)
                if (adj[v][u]) nx.push_back(u);
            r.push_back(v);
            visit(r, std::move(np), std::move(nx));
            r.pop_back();
            p.erase(std::find(p.begin(), p.end(), v));
            x.push_back(v);
        }
    }
};

}  // namespace

std::vector<Moment> moments(const Plan& plan, const net::Tables& t) {
    std::set<Duration> edges;
    for (auto& f : plan.method) {
        edges.insert(f.at);
        edges.insert(f.at + f.duration);
    }
    std::vector<Moment> out;
    for (auto it = edges.begin(); it != edges.end() && std::next(it) != edges.end(); ++it) {
        Moment m;
        m.from = *it;
        m.to = *std::next(it);
        for (size_t i = 0; i < plan.method.size(); ++i) {
            const auto& f = plan.method[i];
            if (f.at <= m.from && m.from < f.at + f.duration) {
                m.faults.push_back(i);
                if (i < t.fault_mask.size()) m.armed |= t.fault_mask[i];
            }
        }
        if (m.faults.empty()) continue;
        if (!out.empty() && out.back().to == m.from && out.back().faults == m.faults)
            out.back().to = m.to;
        else
            out.push_back(std::move(m));
    }
    return out;
}

namespace {

Impact impact_at(const Plan& plan, const net::Tables& t, const Moment& m, const Shared& sh) {
    const auto& topo = plan.topology;
    Impact out;
    out.moment = m;
    out.hosts_total = topo.hosts.size();

    std::vector<bool> touched(topo.hosts.size(), false);
    for (size_t fi : m.faults)
        for (size_t h : sh.targets[fi]) touched[h] = true;
    for (size_t h = 0; h < topo.hosts.size(); ++h)
        if (touched[h]) out.touched.push_back(topo.hosts[h].name);

    std::vector<bool> dark = dark_hosts(plan, m, sh);
    auto cls = classes(plan, t, m.armed, dark, sh);
    std::vector<std::vector<bool>> adj(cls.size(), std::vector<bool>(cls.size(), false));
    std::vector<size_t> weight(cls.size());
    for (size_t i = 0; i < cls.size(); ++i) {
        weight[i] = cls[i].weight();
        for (size_t j = i + 1; j < cls.size(); ++j) {
            bool c = in_contact(t, topo.hosts[cls[i].hosts[0]].addresses[0].addr,
                                topo.hosts[cls[j].hosts[0]].addresses[0].addr, m.armed);
            adj[i][j] = adj[j][i] = c;
        }
    }
    CliqueSearch search{adj, weight, 0, std::vector<bool>(cls.size(), false)};
    std::vector<size_t> r, p, x;
    for (size_t i = 0; i < cls.size(); ++i) p.push_back(i);
    if (!p.empty()) search.visit(r, p, x);

    // A class in every best clique is connected, unless it is `apart` with several members:
    // then each best clique holds only one of them, and any one would do, so none is in all.
    std::vector<bool> cut = dark;
    for (size_t i = 0; i < cls.size(); ++i)
        if (!search.in_all[i] || (cls[i].apart && cls[i].hosts.size() > 1))
            for (size_t h : cls[i].hosts) cut[h] = true;
    std::unordered_set<std::string_view> zones, pds;
    for (size_t h = 0; h < topo.hosts.size(); ++h)
        if (cut[h]) {
            out.cut_off.push_back(topo.hosts[h].name);
            zones.insert(topo.hosts[h].zone);
            pds.insert(topo.hosts[h].power_domain);
        }
    for (auto& z : topo.zones)
        if (zones.count(z.name)) out.zones.push_back(z.name);
    for (auto& pd : topo.power_domains)
        if (pds.count(pd.name)) out.power_domains.push_back(pd.name);
    return out;
}

}  // namespace

Impact impact(const Plan& plan, const net::Tables& t, const Moment& m) {
    return impact_at(plan, t, m, Shared(plan, t));
}

std::vector<Impact> impacts(const Plan& plan, const net::Tables& t, const std::vector<Moment>& ms) {
    Shared sh(plan, t);
    std::vector<Impact> out;
    for (auto& m : ms) out.push_back(impact_at(plan, t, m, sh));
    return out;
}

std::vector<BoundCheck> bounds_at(const plan::BlastRadius& b, const Impact& i) {
    std::vector<BoundCheck> out;
    auto count = [&](const char* name, std::optional<int> limit, size_t measured) {
        if (!limit) return;
        out.push_back({name, std::to_string(*limit), std::to_string(measured), measured > static_cast<size_t>(*limit)});
    };
    count("max_hosts", b.max_hosts, i.cut_off.size());
    if (b.max_hosts_share) {
        // Compared on counts so that 1 host of 3 against "33.3%" is not decided by rounding.
        double allowed = *b.max_hosts_share * static_cast<double>(i.hosts_total);
        bool over = static_cast<double>(i.cut_off.size()) > allowed + 1e-9;
        out.push_back({"max_hosts (share)", percent(*b.max_hosts_share), percent(i.share()), over});
    }
    count("max_zones", b.max_zones, i.zones.size());
    count("max_power_domains", b.max_power_domains, i.power_domains.size());
    return out;
}

const std::vector<AlwaysProtected>& always_protected() {
    static const std::vector<AlwaysProtected> v{
        {kControlNet, "the control position (the lab's control link; the runner and its probes live there)"},
        {kControlNet6, "the control position (the lab's IPv6 control link; the runner and its probes live there)"},
        {*Cidr::parse("127.0.0.0/8"), "loopback"},
        {*Cidr::parse("::1/128"), "loopback"},
    };
    return v;
}

IpAddr control_address(bool v6) { return v6 ? kControlNet6.nth(1) : kControlNet.nth(1); }

// --- 1. blast radius ----------------------------------------------------------------------------

std::vector<Refusal> check_blast_radius(const Plan& plan, const net::Tables& t) {
    const plan::BlastRadius& b = plan.safety.blast_radius;
    std::vector<Refusal> out;
    if (!b.max_hosts && !b.max_hosts_share && !b.max_zones && !b.max_power_domains) return out;
    std::vector<Impact> all = impacts(plan, t, moments(plan, t));

    // For each bound, its worst moment (the first of equals): one refusal per bound exceeded.
    std::map<std::string, std::pair<const Impact*, BoundCheck>> worst;
    std::map<std::string, double> worst_value;
    for (auto& i : all)
        for (auto& bc : bounds_at(b, i)) {
            double v = bc.bound == "max_hosts (share)" ? i.share() : std::stod(bc.measured);
            if (!worst.count(bc.bound) || v > worst_value[bc.bound]) {
                worst[bc.bound] = {&i, bc};
                worst_value[bc.bound] = v;
            }
        }
    for (const char* bound : {"max_hosts", "max_hosts (share)", "max_zones", "max_power_domains"}) {
        auto it = worst.find(bound);
        if (it == worst.end() || !it->second.second.exceeded) continue;
        const Impact& i = *it->second.first;
        const BoundCheck& bc = it->second.second;
        std::vector<std::string> faults;
        for (size_t fi : i.moment.faults) faults.push_back(plan.method[fi].name);
        std::string what = bc.bound == "max_zones"           ? "zones cut off: " + some(i.zones)
                           : bc.bound == "max_power_domains" ? "power domains cut off: " + some(i.power_domains)
                                                             : "hosts cut off: " + some(i.cut_off);
        std::string bound_name = bc.bound == "max_hosts (share)" ? "max_hosts" : bc.bound;
        Refusal r;
        r.check = "blast_radius";
        r.fault = join(faults);
        r.mark = b.mark;
        r.message = "safety.blast_radius." + bound_name + " is " + bc.limit + ", but " + i.moment.str() +
                    " (faults in force: " + join(faults) + ") reaches " + bc.measured + " (" + what + ")";
        out.push_back(std::move(r));
    }
    return out;
}

// --- 2. protected set -------------------------------------------------------------------------

namespace {

// One side of a fault, resolved: its hosts and the prefixes it names.
struct Side {
    const char* name;                               // "target" / "peer"
    std::vector<size_t> hosts;                      // ascending
    std::vector<Cidr> cidrs;                        // the selector's own CIDRs
    std::vector<std::string> zones, power_domains;  // named, or (for rest) not fully in the target
    bool rest = false;
};

Side resolve(const plan::Topology& topo, const Selector& s, const char* name, const std::vector<size_t>* target) {
    Side side{name, {}, s.cidrs, s.zones, s.power_domains, s.rest && s.empty()};
    if (side.rest && target) {
        // "The rest of the lab": every host the target leaves out, and the zones and power
        // domains those hosts live in.
        std::vector<bool> in_target(topo.hosts.size(), false);
        for (size_t i : *target) in_target[i] = true;
        std::unordered_set<std::string_view> z, pd;
        for (size_t i = 0; i < topo.hosts.size(); ++i)
            if (!in_target[i]) {
                side.hosts.push_back(i);
                z.insert(topo.hosts[i].zone);
                pd.insert(topo.hosts[i].power_domain);
            }
        side.zones.assign(z.begin(), z.end());
        side.power_domains.assign(pd.begin(), pd.end());
        std::sort(side.zones.begin(), side.zones.end());  // messages name the first, by name
        std::sort(side.power_domains.begin(), side.power_domains.end());
    } else {
        side.hosts = hosts_of(topo, s);
    }
    return side;
}

// Why `side` touches protected entry `p`, or "" when it does not.
std::string touches(const plan::Topology& topo, const Side& side, const plan::Protected& p) {
    using K = plan::Protected::Kind;
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    };
    std::string what = side.rest ? std::string(side.name) + " (the rest of the lab)" : std::string(side.name);
    switch (p.kind) {
        case K::zone: {
            if (has(side.zones, p.name)) return what + " covers zone " + p.name;
            for (auto& pd : side.power_domains)
                if (auto* d = topo.power_domain(pd); d && d->zone == p.name)
                    return what + " covers power domain " + pd + " of zone " + p.name;
            const plan::Zone* z = topo.zone(p.name);
            for (auto& c : side.cidrs)
                if (z)
                    for (auto& zp : {z->subnet, z->subnet6})
                        if (zp && c.overlaps(*zp))
                            return what + " cidr " + c.str() + " overlaps zone " + p.name + " " + zp->str();
            break;
        }
        case K::power_domain:
            if (has(side.power_domains, p.name)) return what + " covers power domain " + p.name;
            if (auto* d = topo.power_domain(p.name); d && has(side.zones, d->zone))
                return what + " covers zone " + d->zone + ", which holds power domain " + p.name;
            break;
        case K::host:
        case K::cidr:
        case K::interface:
        case K::port: break;
    }
    for (size_t h : side.hosts) {
        const plan::Host& host = topo.hosts[h];
        bool hit = (p.kind == K::zone && host.zone == p.name) ||
                   (p.kind == K::power_domain && host.power_domain == p.name) ||
                   (p.kind == K::host && host.name == p.name);
        if (p.kind == K::cidr) {
            for (auto& a : host.addresses) hit = hit || p.cidr->contains(a.addr);
            for (auto& x : host.cidrs) hit = hit || p.cidr->overlaps(x);
        }
        if (hit) return what + " covers host " + host.name;
    }
    if (p.kind == K::cidr)
        for (auto& c : side.cidrs)
            if (c.overlaps(*p.cidr)) return what + " cidr " + c.str() + " overlaps " + p.cidr->str();
    return {};
}

const char* kind_name(plan::Protected::Kind k) {
    switch (k) {
        case plan::Protected::Kind::zone: return "zone";
        case plan::Protected::Kind::power_domain: return "power domain";
        case plan::Protected::Kind::host: return "host";
        case plan::Protected::Kind::cidr: return "cidr";
        case plan::Protected::Kind::interface: return "interface";
        case plan::Protected::Kind::port: return "port";
    }
    return "?";
}

}  // namespace

std::vector<Refusal> check_protected(const Plan& plan, const net::Tables&) {
    const auto& topo = plan.topology;
    std::vector<Refusal> out;
    auto refuse = [&](const plan::Fault& f, std::string message) {
        out.push_back(
            Refusal{"protected", f.name, f.mark, "fault " + f.name + " (" + f.mark.str() + "): " + std::move(message)});
    };
    for (const plan::Fault& f : plan.method) {
        // Always protected. A zone, power domain or host selector can only name plan hosts, and
        // an omitted peer only covers the lab's own prefixes, so the control link and loopback can
        // be reached by a fault only through a CIDR selector.
        for (auto* sel : {&f.target, &f.peer})
            for (auto& c : sel->cidrs)
                for (auto& ap : always_protected())
                    if (c.overlaps(ap.cidr))
                        refuse(f, std::string(sel == &f.target ? "target" : "peer") + " cidr " + c.str() +
                                      " overlaps " + ap.cidr.str() + ", " + ap.what + ", which is always protected");

        // The plan's protected set. `interface` entries are for host mode, which this version
        // does not have: in a lab, faults act on lab addresses only, through classifiers on the
        // lab's own veths inside lab namespaces, so no fault reaches an interface of the root
        // namespace (its one lab interface, the control link end, is covered above).
        Side target = resolve(topo, f.target, "target", nullptr);
        Side peer = resolve(topo, f.peer, "peer", &target.hosts);
        for (const plan::Protected& p : plan.safety.protected_targets) {
            if (p.kind == plan::Protected::Kind::interface || p.kind == plan::Protected::Kind::port) continue;
            if (p.name == "control" && p.kind != plan::Protected::Kind::cidr) continue;  // always protected, above
            for (const Side* side : {&target, &peer}) {
                std::string why = touches(topo, *side, p);
                if (why.empty()) continue;
                refuse(f, "would touch protected " + std::string(kind_name(p.kind)) + " " + p.name + " (protected at " +
                              p.mark.str() + "): its " + why);
                break;
            }
        }
    }
    return out;
}

// --- 3. abort path ----------------------------------------------------------------------------

namespace {

// Something a probe connects to: a plan host (by family), or a literal address.
struct Reached {
    int host = -1;  // plan host index, or -1 for a literal address
    bool v6 = false;
    std::optional<IpAddr> addr;  // literal
    bool operator<(const Reached& o) const { return std::tie(host, v6, addr) < std::tie(o.host, o.v6, o.addr); }
};

void add_service_hosts(const Plan& plan, const std::string& svc, std::set<Reached>& out) {
    for (auto& s : plan.lab.services)
        if (s.name == svc)
            for (auto& h : s.hosts) out.insert({plan.topology.host_index(h), false, std::nullopt});
}

// Literal addresses in plain template text: IPv4 dotted quads, and IPv6 runs of hex digits and
// colons (with a trailing ":PORT" tried off when the whole run does not parse).
void scan_literals(const std::string& text, std::set<Reached>& out) {
    auto is_addr_char = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'; };
    size_t i = 0;
    while (i < text.size()) {
        if (!is_addr_char(text[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < text.size() && is_addr_char(text[j])) ++j;
        std::string run = text.substr(i, j - i);
        i = j;
        // "198.18.4.2:2379" and "[2001:2::5]:80" (the bracket ends the run) both reduce to an address.
        std::vector<std::string> tries{run};
        if (auto c = run.rfind(':'); c != std::string::npos) tries.push_back(run.substr(0, c));
        for (auto& s : tries) {
            auto a = IpAddr::parse(s);
            if (!a) continue;
            out.insert({-1, a->v6, *a});
            break;
        }
    }
}

// Everything a probe template names, with `current` the host {addr} refers to (-1: none).
void scan_template(const Plan& plan, const std::string& t, int current, std::set<Reached>& out) {
    std::string lit;
    size_t i = 0;
    while (i < t.size()) {
        if ((t[i] == '{' || t[i] == '}') && i + 1 < t.size() && t[i + 1] == t[i]) {
            lit += t[i];
            i += 2;
            continue;
        }
        if (t[i] != '{') {
            lit += t[i++];
            continue;
        }
        int depth = 1;
        size_t j = i + 1;
        for (; j < t.size() && depth > 0; ++j) depth += t[j] == '{' ? 1 : t[j] == '}' ? -1 : 0;
        std::string body = t.substr(i + 1, j - i - 2);
        i = j;
        lit += ' ';  // a placeholder separates literal runs
        auto colon = body.find(':');
        std::string name = body.substr(0, colon);
        std::optional<std::string> arg;
        if (colon != std::string::npos) arg = body.substr(colon + 1);
        if ((name == "addr" || name == "addr6") && !arg && current >= 0)
            out.insert({current, name == "addr6", std::nullopt});
        else if ((name == "addr" || name == "addr6") && arg)
            out.insert({plan.topology.host_index(*arg), name == "addr6", std::nullopt});
        else if ((name == "addrs" || name == "endpoints" || name == "urls") && arg)
            add_service_hosts(plan, *arg, out);
        else if (name == "each" && arg) {
            auto c2 = arg->find(':');
            std::string svc = arg->substr(0, c2);
            std::string pattern = c2 == std::string::npos ? "" : arg->substr(c2 + 1);
            for (auto& s : plan.lab.services)
                if (s.name == svc)
                    for (auto& h : s.hosts) scan_template(plan, pattern, plan.topology.host_index(h), out);
        }
    }
    scan_literals(lit, out);
    // A literal address of a plan host is that host.
    std::set<Reached> resolved;
    for (const Reached& r : out) {
        int owner = -1;
        for (size_t h = 0; r.addr && owner < 0 && h < plan.topology.hosts.size(); ++h)
            for (auto& a : plan.topology.hosts[h].addresses)
                if (a.addr == *r.addr) owner = static_cast<int>(h);
        resolved.insert(owner >= 0 ? Reached{owner, r.v6, std::nullopt} : r);
    }
    out = std::move(resolved);
}

}  // namespace

std::vector<Refusal> check_abort_path(const Plan& plan, const net::Tables& t) {
    const auto& topo = plan.topology;
    std::vector<Refusal> out;
    auto ms = moments(plan, t);
    std::set<std::string> done;
    for (const plan::AbortWhen& aw : plan.safety.abort_when) {
        if (!done.insert(aw.probe).second) continue;  // one verdict per probe
        auto probe = std::find_if(plan.probes.begin(), plan.probes.end(), [&](auto& p) { return p.name == aw.probe; });
        if (probe == plan.probes.end()) continue;  // the loader refuses this
        int from = probe->in == "control" ? -1 : topo.host_index(probe->in);
        std::set<Reached> reached;
        scan_template(plan, probe->target, from, reached);

        for (const Moment& m : ms) {
            std::vector<std::string> cut;
            for (const Reached& r : reached) {
                if (r.host >= 0 && r.host == from) continue;  // a host always reaches itself
                std::optional<IpAddr> dst = r.addr;
                std::string dst_name = r.addr ? r.addr->str() : "";
                if (r.host >= 0) {
                    const IpAddr* a = first_address(topo.hosts[static_cast<size_t>(r.host)], r.v6);
                    if (!a) continue;  // the loader refuses {addr6} of a host without IPv6
                    dst = *a;
                    dst_name = topo.hosts[static_cast<size_t>(r.host)].name;
                }
                // Control is never cut: no classifier prefix covers the control link (check 2
                // refuses any CIDR that would), but ask drops() anyway rather than assume it.
                IpAddr src;
                std::string src_name = probe->in;
                if (from < 0) {
                    src = control_address(dst->v6);
                } else {
                    const IpAddr* a = first_address(topo.hosts[static_cast<size_t>(from)], dst->v6);
                    if (!a) continue;  // no packet of that family can leave this host at all
                    src = *a;
                }
                if (!in_contact(t, src, *dst, m.armed)) {
                    bool fwd = net::drops(t, src, *dst, m.armed);
                    bool rev = net::drops(t, *dst, src, m.armed);
                    cut.push_back(src_name + (fwd && rev ? " <-> " : fwd ? " -> " : " <- ") + dst_name);
                }
            }
            if (cut.empty()) continue;
            std::vector<std::string> faults;
            for (size_t fi : m.faults) faults.push_back(plan.method[fi].name);
            Refusal r;
            r.check = "abort_path";
            r.fault = join(faults);
            r.mark = aw.mark;
            r.message = "abort_when probe " + aw.probe + " (in " + probe->in + ", " + probe->mark.str() +
                        ") cannot reach its targets during " + m.str() + " (faults in force: " + join(faults) +
                        "): cut " + join(cut) + "; a guard that cannot see cannot abort";
            out.push_back(std::move(r));
        }
    }
    return out;
}

std::vector<Refusal> check_plan(const Plan& plan, const net::Tables& t) {
    std::vector<Refusal> out = check_protected(plan, t);
    for (auto& r : check_blast_radius(plan, t)) out.push_back(std::move(r));
    for (auto& r : check_abort_path(plan, t)) out.push_back(std::move(r));
    return out;
}

}  // namespace inj::safety
