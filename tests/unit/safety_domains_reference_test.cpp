// The fault-domain computations of preflight and the preview against the host-pair ones they
// replaced (issue 16), on a few hundred small random plans: the connected majority of every
// moment (safety::impact, over classes of hosts) against a brute force over every subset of
// live hosts, and the preview's cut sets (net::group_cuts, over host groups) against the host
// pairs net::cut_set() lists. Random plans mix zone, power-domain, host and CIDR selectors, an
// omitted peer, one-way and partial (share) severs, power losses and overlapping faults, so ties
// (a 2-2 split cuts all four; a dark host and a live one are no tie) come up often.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <iostream>
#include <random>
#include <set>

#include "fleet/fleet_engine.hpp"
#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "safety/plan_checks.hpp"

using namespace inj;
using namespace inj::safety;
using Names = std::vector<std::string>;

namespace {

// A plan of 2-4 zones (one or two power domains each) and 3-12 hosts in all, 1-4 faults.
std::string random_plan(std::mt19937& rng) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    int zones = 2 + pick(3), hosts = 3 + pick(10);
    std::vector<int> pds(zones);
    std::string y = "name: r\ntopology:\n  zones:\n";
    for (int z = 0; z < zones; ++z) {
        pds[z] = 1 + pick(2);
        y += "    - { name: z" + std::to_string(z) + ", power_domains: [";
        for (int d = 0; d < pds[z]; ++d) y += (d ? ", z" : "z") + std::to_string(z) + "-" + std::to_string(d);
        y += "], subnet: 198.18." + std::to_string(4 * z) + ".0/22 }\n";
    }
    y += "  hosts:\n";
    std::vector<int> zone_of(hosts);
    for (int h = 0; h < hosts; ++h) {
        int z = zone_of[h] = h < zones ? h : pick(zones);
        y += "    - { name: h" + std::to_string(h) + ", zone: z" + std::to_string(z) + ", power_domain: z" +
             std::to_string(z) + "-" + std::to_string(pick(pds[z])) + " }\n";
    }
    // A selector: a zone, a power domain, one or two hosts, or (not for power) a CIDR.
    auto selector = [&](bool cidr_ok) {
        int z = pick(zones);
        switch (pick(cidr_ok ? 4 : 3)) {
            case 0: return "{ zone: z" + std::to_string(z) + " }";
            case 1: return "{ power_domain: z" + std::to_string(z) + "-" + std::to_string(pick(pds[z])) + " }";
            case 2: {
                int a = pick(hosts), b = pick(hosts);
                return "{ host: [h" + std::to_string(a) + (a == b ? "" : ", h" + std::to_string(b)) + "] }";
            }
            default: return "{ cidr: 198.18." + std::to_string(4 * z) + ".0/30 }";
        }
    };
    y += "safety:\n  max_duration: 5m\nmethod:\n";
    int faults = 1 + pick(4);
    for (int f = 0; f < faults; ++f) {
        y += "  - { name: f" + std::to_string(f) + ", at: " + std::to_string(pick(3) * 5) +
             "s, duration: " + std::to_string(5 + pick(3) * 5) + "s, ";
        if (pick(4) == 0) {
            y += "fault: power_loss, target: " + selector(false) + " }\n";
            continue;
        }
        y += "fault: sever, target: " + selector(true);
        if (pick(3)) y += ", peer: " + selector(true);
        const char* dirs[] = {"both", "from", "to"};
        y += std::string(", direction: ") + dirs[pick(3)];
        if (pick(5) == 0) y += ", share: 0.5";
        y += " }\n";
    }
    return y;
}

// The host-pair computation: every live host with an address is a vertex, two are joined when
// packets between their primary addresses pass both ways, and every subset is tried. Hosts in
// every largest clique are the majority; the rest of the live hosts, and every dark one, are cut off.
Names reference_cut_off(const plan::Plan& p, const net::Tables& t, const Moment& m) {
    const auto& hosts = p.topology.hosts;
    std::vector<bool> dark(hosts.size(), false);
    for (size_t fi : m.faults)
        if (auto e = p.method[fi].net(); e && e->kind == plan::NetEffect::Kind::isolate)
            for (auto& name : plan::selected_hosts(p.topology, p.method[fi].target))
                dark[static_cast<size_t>(p.topology.host_index(name))] = true;
    std::vector<size_t> live;
    for (size_t i = 0; i < hosts.size(); ++i)
        if (!dark[i] && !hosts[i].addresses.empty()) live.push_back(i);
    const size_t n = live.size();
    std::vector<uint32_t> adj(n, 0);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < n; ++j) {
            const IpAddr& a = hosts[live[i]].addresses[0].addr;
            const IpAddr& b = hosts[live[j]].addresses[0].addr;
            if (i != j && !net::drops(t, a, b, m.armed) && !net::drops(t, b, a, m.armed)) adj[i] |= 1u << j;
        }
    int best = -1;
    uint32_t in_all = 0;
    for (uint32_t s = 0; s < (1u << n); ++s) {
        bool clique = true;
        for (size_t i = 0; i < n && clique; ++i)
            if (s >> i & 1) clique = (adj[i] | 1u << i | ~s) == ~0u;
        if (!clique) continue;
        int w = std::popcount(s);
        if (w > best)
            best = w, in_all = s;
        else if (w == best)
            in_all &= s;
    }
    std::vector<bool> cut = dark;
    for (size_t i = 0; i < n; ++i)
        if (!(in_all >> i & 1)) cut[live[i]] = true;
    Names out;
    for (size_t i = 0; i < hosts.size(); ++i)
        if (cut[i]) out.push_back(hosts[i].name);
    return out;
}

struct Loaded {
    std::optional<plan::Plan> plan;
    net::Tables tables;
};

// `want` random plans that load and compile (the loader refuses about a third of what the
// generator writes, mostly a target that overlaps its peer); returns how many were checked.
template <typename Check>
int for_random_plans(int want, Check check) {
    std::mt19937 rng(16);
    int checked = 0;
    for (int i = 0; i < 4 * want && checked < want; ++i) {
        std::string y = random_plan(rng);
        auto r = plan::load_string(y, "r.yaml");
        if (!r.plan) continue;
        auto t = net::compile(*r.plan);
        if (!t.ok()) continue;
        SCOPED_TRACE(y);
        check(*r.plan, t.value());
        ++checked;
    }
    return checked;
}

TEST(SafetyDomainsReference, MajorityOverDomainsMatchesTheHostPairSearch) {
    int moments_seen = 0, with_cut = 0, ties = 0;
    int plans = for_random_plans(500, [&](const plan::Plan& p, const net::Tables& t) {
        for (auto& m : moments(p, t)) {
            Names want = reference_cut_off(p, t, m);
            auto im = impact(p, t, m);
            ASSERT_EQ(im.cut_off, want) << m.str();
            // Zones and power domains follow from the hosts, in plan order.
            std::set<std::string> z, pd;
            for (auto& h : p.topology.hosts)
                if (std::find(want.begin(), want.end(), h.name) != want.end())
                    z.insert(h.zone), pd.insert(h.power_domain);
            EXPECT_EQ(im.zones.size(), z.size());
            EXPECT_EQ(im.power_domains.size(), pd.size());
            ++moments_seen;
            with_cut += !want.empty();
            ties += want.size() == p.topology.hosts.size();
        }
    });
    std::cout << plans << " plans, " << moments_seen << " moments, " << with_cut << " with hosts cut off, " << ties
              << " where every host is\n";
    // The generator must exercise the interesting cases, or this test proves little.
    EXPECT_EQ(plans, 500);
    EXPECT_GT(moments_seen, 1000);
    EXPECT_GT(with_cut, 800);
    EXPECT_GT(ties, 30);  // nobody in every largest group: all cut off
}

TEST(SafetyDomainsReference, GroupCutsExpandToTheHostPairCutSet) {
    int nonempty = 0;
    int plans = for_random_plans(300, [&](const plan::Plan& p, const net::Tables& t) {
        auto groups = net::host_groups(p, t);
        for (size_t fi = 0; fi < p.method.size(); ++fi) {
            if (!p.method[fi].net() || p.method[fi].net()->kind != plan::NetEffect::Kind::cut) continue;
            std::multiset<std::pair<std::string, std::string>> got, want;
            for (auto& c : net::group_cuts(p, t, groups, fi)) {
                for (size_t a : groups[c.from].hosts)
                    for (size_t b : groups[c.to].hosts)
                        if (a != b) got.insert({p.topology.hosts[a].name, p.topology.hosts[b].name});
            }
            auto pairs = net::cut_set(p, t, fi);
            for (auto& pr : pairs) want.insert(pr);
            ASSERT_EQ(got, want) << p.method[fi].name;
            nonempty += !want.empty();
            // The canary's pair, found over groups, is the host-pair search's first.
            auto first = net::first_cut(p, t, fi);
            ASSERT_EQ(first.has_value(), !pairs.empty()) << p.method[fi].name;
            if (first) {
                EXPECT_EQ(*first, pairs.front()) << p.method[fi].name;
            }
        }
    });
    std::cout << plans << " plans, " << nonempty << " faults with a cut set\n";
    EXPECT_EQ(plans, 300);
    EXPECT_GT(nonempty, 300);
}

// The fleet controller's agents, found over groups, are both ends of every host pair a fault cuts
// and every target whose processes or disks it acts on.
TEST(SafetyDomainsReference, AgentsNeededAreBothEndsOfEveryCutPair) {
    int with_agents = 0;
    int plans = for_random_plans(300, [&](const plan::Plan& p, const net::Tables& t) {
        std::set<std::string> want;
        for (size_t fi = 0; fi < p.method.size(); ++fi) {
            const auto& f = p.method[fi];
            if (f.net() && f.net()->kind == plan::NetEffect::Kind::cut)
                for (auto& [a, b] : net::cut_set(p, t, fi)) {
                    want.insert(a);
                    want.insert(b);
                }
            if (f.restarts() || f.volume() || f.isolates())
                for (auto& h : plan::selected_hosts(p.topology, f.target)) want.insert(h);
            if (f.isolates())
                for (auto& c : plan::cascades(p.topology, f.target))
                    for (auto& h : p.topology.hosts)
                        if (h.zone == c.a || (c.kind == plan::Cascade::Kind::link && h.zone == c.b))
                            want.insert(h.name);
        }
        std::vector<std::string> in_order;
        for (auto& h : p.topology.hosts)
            if (want.count(h.name)) in_order.push_back(h.name);
        ASSERT_EQ(fleet::hosts_needing_agents(p, t), in_order);
        with_agents += !in_order.empty();
    });
    EXPECT_EQ(plans, 300);
    EXPECT_GT(with_agents, 200);
}

// The two tie rules by hand, on the smallest plans that show them.
TEST(SafetyDomainsReference, TiesByHand) {
    auto load = [](const std::string& method) {
        std::string y =
            "name: t\ntopology:\n  zones:\n"
            "    - { name: a, subnet: 198.18.0.0/22 }\n"
            "    - { name: b, subnet: 198.18.4.0/22 }\n"
            "  hosts:\n"
            "    - { name: a1, zone: a }\n    - { name: a2, zone: a }\n"
            "    - { name: b1, zone: b }\n    - { name: b2, zone: b }\n"
            "safety:\n  max_duration: 5m\nmethod:\n" +
            method;
        auto r = plan::load_string(y, "t.yaml");
        EXPECT_TRUE(r.plan.has_value());
        Loaded l{std::move(r.plan), {}};
        if (l.plan) l.tables = net::compile(*l.plan).value();
        return l;
    };
    // 2-2: neither half is the rest of the lab, all four are cut off (both ways).
    auto l = load("  - { name: s, fault: sever, at: 0s, duration: 10s, target: { zone: a }, peer: { zone: b } }\n");
    ASSERT_TRUE(l.plan);
    auto m = moments(*l.plan, l.tables).at(0);
    EXPECT_EQ(impact(*l.plan, l.tables, m).cut_off, Names({"a1", "a2", "b1", "b2"}));
    EXPECT_EQ(reference_cut_off(*l.plan, l.tables, m), Names({"a1", "a2", "b1", "b2"}));
    // Zone a dark, b1 cut from b2: two dark hosts and two live ones that tie, all four cut off;
    // zone a dark alone: b1 and b2 are the majority (a dark host is never part of one).
    l = load(
        "  - { name: p, fault: power_loss, at: 0s, duration: 10s, target: { zone: a } }\n"
        "  - { name: s, fault: sever, at: 5s, duration: 10s, target: { host: b1 }, peer: { host: b2 } }\n");
    ASSERT_TRUE(l.plan);
    auto ms = moments(*l.plan, l.tables);
    ASSERT_EQ(ms.size(), 3u);
    EXPECT_EQ(impact(*l.plan, l.tables, ms[0]).cut_off, Names({"a1", "a2"}));
    EXPECT_EQ(impact(*l.plan, l.tables, ms[1]).cut_off, Names({"a1", "a2", "b1", "b2"}));
    EXPECT_EQ(impact(*l.plan, l.tables, ms[2]).cut_off, Names({"b1", "b2"}));
    for (auto& mm : ms) EXPECT_EQ(impact(*l.plan, l.tables, mm).cut_off, reference_cut_off(*l.plan, l.tables, mm));
}

}  // namespace
