// Plan loader: host groups (`count: N` in topology.hosts) stand for N hosts NAME-1..NAME-N,
// spread in contiguous blocks over power domains, with addresses assigned; what they refuse,
// where they are refused, and that a data center of them loads.
#include <map>
#include <set>

#include "plan/limits.hpp"
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;

namespace {

// kBase with z2 split into power domains a, b, c and `entry` added after h3.
std::string group(const std::string& entry) {
    std::string y = with(kBase, "{ name: z2 }",
                         "{ name: z2, power_domains: [a, b, c], subnet: 198.18.4.0/22, subnet6: 2001:2::/64 }");
    y = with(y, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, power_domain: a }");
    return with(y, "    - { name: h3, zone: z3 }\n", "    - { name: h3, zone: z3 }\n    - " + entry + "\n");
}

// The power domain of each host whose name starts with `prefix`, in plan order.
std::vector<std::string> domains_of(const Plan& p, const std::string& prefix) {
    std::vector<std::string> v;
    for (auto& h : p.topology.hosts)
        if (h.name.starts_with(prefix)) v.push_back(h.power_domain);
    return v;
}

}  // namespace

TEST(PlanHostGroups, NamesRunFromOneToCountInPlanOrder) {
    std::string y = group("{ name: web, count: 12, zone: z2 }");
    Plan p = load_ok(y);
    ASSERT_EQ(p.topology.hosts.size(), 15u);
    for (size_t i = 0; i < 12; ++i) {
        const Host& h = p.topology.hosts[3 + i];
        EXPECT_EQ(h.name, "web-" + std::to_string(i + 1));
        EXPECT_EQ(h.zone, "z2");
        EXPECT_FALSE(h.binding.bound());
        EXPECT_EQ(h.mark.str(), "t.yaml:" + pos(y, "{ name: web"));  // every one points at the entry
    }
    EXPECT_EQ(p.topology.host("web-0"), nullptr);
    EXPECT_EQ(p.topology.host("web-13"), nullptr);
}

TEST(PlanHostGroups, SpreadOverTheZonesPowerDomainsInContiguousBlocks) {
    Plan p = load_ok(group("{ name: web, count: 10, zone: z2 }"));
    // Host i goes to domain floor(i * 3 / 10).
    EXPECT_EQ(domains_of(p, "web-"), (std::vector<std::string>{"a", "a", "a", "a", "b", "b", "b", "c", "c", "c"}));
    // A zone of one power domain: all of them there.
    Plan q = load_ok(with(kBase, "    - { name: h3, zone: z3 }\n",
                          "    - { name: h3, zone: z3 }\n    - { name: g, count: 4, zone: z3 }\n"));
    EXPECT_EQ(domains_of(q, "g-"), (std::vector<std::string>(4, "z3")));
}

TEST(PlanHostGroups, EveryDomainGetsOneContiguousBlockWithinOneOfTheOthers) {
    for (int d : {1, 2, 3, 7, 32})
        for (int n : {1, 2, 5, 31, 32, 33, 100, 999}) {
            std::string pds;
            for (int k = 0; k < d; ++k) pds += (k ? ", p" : "p") + std::to_string(k);
            std::string y = with(kBase, "{ name: z2 }", "{ name: z2, power_domains: [" + pds + "] }");
            y = with(y, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, power_domain: p0 }");
            y = with(y, "    - { name: h3, zone: z3 }\n",
                     "    - { name: h3, zone: z3 }\n    - { name: g, count: " + std::to_string(n) + ", zone: z2 }\n");
            Plan p = load_ok(y);
            std::vector<std::string> got = domains_of(p, "g-");
            ASSERT_EQ(got.size(), size_t(n));
            std::map<std::string, int> per;
            int prev = 0;
            for (auto& pd : got) {
                // Blocks in the zone's order: a domain, once left, never comes back.
                int k = std::stoi(pd.substr(1));
                EXPECT_GE(k, prev) << n << " hosts over " << d << " domains";
                prev = k;
                ++per[pd];
            }
            int lo = n, hi = 0;
            for (int k = 0; k < d; ++k) {
                int c = per.count("p" + std::to_string(k)) ? per["p" + std::to_string(k)] : 0;
                lo = std::min(lo, c);
                hi = std::max(hi, c);
            }
            EXPECT_LE(hi - lo, 1) << n << " hosts over " << d << " domains";
        }
}

TEST(PlanHostGroups, SpreadOverTheListedDomainsOrOneNamedDomain) {
    Plan p = load_ok(group("{ name: web, count: 5, zone: z2, power_domain: [c, b] }"));
    EXPECT_EQ(domains_of(p, "web-"), (std::vector<std::string>{"c", "c", "c", "b", "b"}));
    Plan q = load_ok(group("{ name: web, count: 3, zone: z2, power_domain: b }"));
    EXPECT_EQ(domains_of(q, "web-"), (std::vector<std::string>{"b", "b", "b"}));
}

TEST(PlanHostGroups, AddressesAssignedUniqueAndBesideGivenOnes) {
    std::string y = group("{ name: web, count: 40, zone: z2 }");
    // A host with its own address in the zone's automatic /22 comes first; the group goes around it.
    y = with(y, "{ name: h2, zone: z2, power_domain: a }",
             "{ name: h2, zone: z2, power_domain: a, addresses: [198.18.4.3] }");
    Plan p = load_ok(y);
    const Zone* z2 = p.topology.zone("z2");
    ASSERT_TRUE(z2->subnet && z2->subnet6);
    std::set<std::string> seen;
    for (auto& h : p.topology.hosts) {
        if (h.zone != "z2") continue;
        ASSERT_EQ(h.addresses.size(), 2u) << h.name;
        EXPECT_FALSE(h.addresses[0].addr.v6) << h.name;  // the primary IPv4 address first
        for (auto& a : h.addresses) {
            EXPECT_TRUE((a.addr.v6 ? *z2->subnet6 : *z2->subnet).contains(a.addr)) << h.name << " " << a.str();
            EXPECT_TRUE(seen.insert(a.addr.str()).second) << a.str() << " twice";
        }
    }
    EXPECT_EQ(seen.size(), 82u);
    EXPECT_EQ(p.topology.host("web-1")->addresses[0].str(), "198.18.4.2/22");
    EXPECT_EQ(p.topology.host("web-2")->addresses[0].str(), "198.18.4.4/22");  // .3 is h2's
}

TEST(PlanHostGroups, FaultsServicesAndProbesNameGeneratedHosts) {
    std::string y = group("{ name: web, count: 12, zone: z2 }");
    y = with(y, "safety:",
             "lab:\n  services:\n    - { name: app, hosts: [web-1, web-12], command: \"app --peer {addr:web-7}\" }\n"
             "steady_state:\n  probes:\n    - { name: p, tcp: \"{addr:web-3}:80\", in: web-2 }\nsafety:");
    y = with(y, "target: { zone: z1 } }",
             "target: { zone: z1 } }\n  - { name: f2, fault: sever, at: 1s, duration: 10s, target: { host: web-5 } }");
    Plan p = load_ok(y);
    EXPECT_EQ(p.lab.services.at(0).hosts, (std::vector<std::string>{"web-1", "web-12"}));
    EXPECT_EQ(p.probes.at(0).in, "web-2");
    EXPECT_EQ(p.method.at(1).target.hosts, std::vector<std::string>{"web-5"});
    // And an unknown member is refused like any unknown host.
    std::string bad = with(y, "host: web-5", "host: web-13");
    expect_error(load(bad), pos(bad, "web-13"), "method[1].target.host", "unknown host 'web-13'");
}

TEST(PlanHostGroups, BadCounts) {
    struct Case {
        const char* count;
        const char* message;
    };
    for (const Case& c :
         {Case{"0", "a host group has at least 1 host, not 0"}, Case{"-3", "a host group has at least 1 host, not -3"},
          Case{"65537", "count 65537 is more than the 65536 hosts a plan may have"},
          Case{"99999999999999999999", "expected a whole number"}, Case{"1.5", "expected a whole number, got '1.5'"},
          Case{"many", "expected a whole number, got 'many'"}, Case{"[3]", "expected a whole number, got a list"}}) {
        std::string y = group(std::string("{ name: web, count: ") + c.count + ", zone: z2 }");
        expect_error(load(y), pos_in(y, std::string("count: ") + c.count, c.count), "topology.hosts[3].count",
                     c.message);
    }
}

TEST(PlanHostGroups, RefusesAddressesCidrsAndBindings) {
    struct Case {
        const char* key;
        const char* entry;
    };
    for (const Case& c : {Case{"addresses", "addresses: [198.18.4.9]"}, Case{"cidrs", "cidrs: [198.19.1.0/24]"},
                          Case{"container", "container: etcd-a"}, Case{"runtime", "runtime: podman"},
                          Case{"netns", "netns: web"}, Case{"cgroup", "cgroup: system.slice/x.service"},
                          Case{"pid", "pid: 42"}, Case{"pidfile", "pidfile: /run/x.pid"}, Case{"local", "local: true"},
                          Case{"restart", "restart: \"systemctl start x\""},
                          Case{"ready", "ready: { tcp: \"{addr}:80\" }"}, Case{"volumes", "volumes: []"}}) {
        std::string y = group(std::string("{ name: web, count: 4, zone: z2, ") + c.entry + " }");
        expect_error(load(y), pos(y, c.entry), std::string("topology.hosts[3].") + c.key,
                     std::string("count: a host group gets its addresses assigned and the lab builds its hosts, "
                                 "not with ") +
                         c.key + " (list such hosts one by one)");
    }
}

TEST(PlanHostGroups, GeneratedNamesAreUniqueHostNames) {
    // A host after the group with one of its names: refused where it is, naming the group's line.
    std::string y = group("{ name: web, count: 4, zone: z2 }\n    - { name: web-2, zone: z3 }");
    std::string line = pos(y, "{ name: web,");
    line = line.substr(0, line.find(':'));
    expect_error(load(y), pos(y, "web-2"), "topology.hosts[4].name",
                 "duplicate host name 'web-2' (first at line " + line + ")");
    // Groups whose names clash: said once a group, at its name, not once a host.
    y = group("{ name: h, count: 3, zone: z2 }\n    - { name: h, count: 3, zone: z3 }");
    y = with(y, "{ name: h1,", "{ name: h-2,");
    auto r = load(y);
    expect_error(r, pos_in(y, "{ name: h, count: 3, zone: z2", "h,"), "topology.hosts[3].name",
                 "duplicate host name 'h-2'");
    size_t dups = 0;
    for (auto& e : r.errors) dups += e.message.starts_with("duplicate host name") ? 1 : 0;
    EXPECT_EQ(dups, 2u) << dump(r);  // h-2 in the first group, h-1 in the second
}

TEST(PlanHostGroups, BadNamesAndPowerDomains) {
    std::string y = group("{ name: Web, count: 4, zone: z2 }");
    expect_error(load(y), pos(y, "Web"), "topology.hosts[3].name", "'Web' is not a valid name");
    std::string prefix(60, 'w');  // 60 + "-100" is 64 characters
    y = group("{ name: " + prefix + ", count: 100, zone: z2 }");
    expect_error(load(y), pos(y, prefix), "topology.hosts[3].name",
                 "'" + prefix + "-100' is too long a host name (at most 63 characters)");
    load_ok(group("{ name: " + prefix + ", count: 99, zone: z2 }"));
    y = group("{ name: web-, count: 4, zone: z2 }");
    expect_error(load(y), pos(y, "web-,"), "topology.hosts[3].name",
                 "'web-' ends in '-': the group's hosts are named web--1, web--2...; leave the '-' out");

    struct Case {
        const char* domains;
        const char* at;
        const char* path;
        const char* message;
    };
    for (const Case& c : {Case{"[a, nope]", "nope", "power_domain[1]", "unknown power domain 'nope'"},
                          Case{"[a, z1]", "z1]", "power_domain[1]",
                               "power domain 'z1' belongs to zone 'z1', not to the host's zone 'z2'"},
                          Case{"[b, a, b]", "b]", "power_domain[2]", "power domain 'b' is listed twice"},
                          Case{"[]", "[]", "power_domain", "an empty list; leave power_domain out"},
                          Case{"{ x: a }", "{ x: a }", "power_domain", "expected a name or a list, got a map"}}) {
        y = group(std::string("{ name: web, count: 4, zone: z2, power_domain: ") + c.domains + " }");
        expect_error(load(y), pos_in(y, std::string("power_domain: ") + c.domains, c.at),
                     std::string("topology.hosts[3].") + c.path, c.message);
    }
    // A list is for a group only.
    y = group("{ name: web, zone: z2, power_domain: [a, b] }");
    expect_error(load(y), pos(y, "[a, b] }"), "topology.hosts[3].power_domain",
                 "a host has one power domain; a list spreads a host group (count:) over several");
    // A misspelt key gets its guess.
    y = group("{ name: web, cuont: 4, zone: z2 }");
    expect_error(load(y), pos(y, "cuont"), "topology.hosts[3].cuont", "unknown key 'cuont' (did you mean 'count'?)");
}

TEST(PlanHostGroups, CountsGoThroughTheHostLimit) {
    // Two groups of the most one may hold: the second is refused with the limit before its hosts
    // exist, and once (the entries after it are not said again).
    const std::string most = std::to_string(limits::kMaxHosts);
    std::string y = with(kBase, "    - { name: h1, zone: z1 }\n    - { name: h2, zone: z2 }\n",
                         "    - { name: a, count: " + most + ", zone: z1 }\n    - { name: b, count: " + most +
                             ", zone: z2 }\n    - { name: c, count: 2, zone: z3 }\n");
    auto r = load(y);
    expect_error(r, pos(y, most, 1), "topology.hosts[1].count",
                 "too many hosts: " + std::to_string(2 * limits::kMaxHosts) + " with this entry, at most " + most +
                     " (see plan/limits.hpp)");
    EXPECT_EQ(r.errors.size(), 1u) << dump(r);
    // A single host past a group that filled the limit is refused the same way.
    y = group("{ name: a, count: " + std::to_string(limits::kMaxHosts - 3) +
              ", zone: z1 }\n    - { name: x, zone: z3 }");
    expect_error(load(y), pos(y, "{ name: x"), "topology.hosts[4]",
                 "too many hosts: " + std::to_string(limits::kMaxHosts + 1) + " with this entry");
}

TEST(PlanHostGroups, AFullSubnetIsOneErrorForTheGroup) {
    // z2's automatic /22 holds 1,021 hosts; h2 takes one, the group's 1,021st and the 979 after
    // it get none.
    std::string y = group("{ name: web, count: 2000, zone: z2 }");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: web"), "topology.hosts[3]",
                 "zone 'z2' has no free address left in 198.18.4.0/22 for host 'web-1021' nor for the 979 hosts after "
                 "it; give the zone a larger subnet");
    EXPECT_EQ(r.errors.size(), 1u) << dump(r);
}

// The data center of issue 16 in a few lines: 32,000 hosts in 3 zones and 64 power domains, as
// bench/scale_plan.py writes it, loads (no time is asserted: bench/scale.sh measures).
TEST(PlanHostGroups, ADataCenterOfGroupsLoads) {
    std::string y =
        data_center(true) + "  - { name: cut, fault: sever, at: 5s, duration: 9s, target: { host: gasan-h-8000 } }\n";
    EXPECT_LT(y.size(), 4096u);
    Plan p = load_ok(y);
    ASSERT_EQ(p.topology.hosts.size(), 32000u);
    std::map<std::string, size_t> per;
    std::set<IpAddr> addrs;
    for (auto& h : p.topology.hosts) {
        ++per[h.power_domain];
        ASSERT_FALSE(h.addresses.empty()) << h.name;
        addrs.insert(h.addresses[0].addr);
    }
    EXPECT_EQ(addrs.size(), 32000u);
    EXPECT_EQ(per.size(), 64u);
    for (auto& [pd, n] : per) EXPECT_EQ(n, 500u) << pd;
    EXPECT_EQ(p.topology.host("pangyo-h-500")->power_domain, "pangyo-0");
    EXPECT_EQ(p.topology.host("pangyo-h-501")->power_domain, "pangyo-1");
    EXPECT_EQ(p.topology.host("gasan-h-8000")->power_domain, "gasan-15");
}

// An unknown name in a plan of 32,000 hosts names a few of the known ones and how many more, not
// all of them (the error a person reads stays a line long).
TEST(PlanHostGroups, AnUnknownHostAmongThousandsNamesAFewOfThem) {
    std::string y = with(data_center(true), "safety:\n  max_duration: 4m\n",
                         "safety:\n  max_duration: 4m\n  protected:\n    - { host: pangyo-h-0 }\n");
    auto r = load(y);
    expect_error(r, pos(y, "pangyo-h-0 }"), "safety.protected[0].host",
                 "unknown host 'pangyo-h-0' (hosts: pangyo-h-1, pangyo-h-2,");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_NE(r.errors[0].message.find("... and 31988 more)"), std::string::npos) << r.errors[0].message;
    EXPECT_LT(r.errors[0].message.size(), 300u);
    // A plan of a few names still lists them all.
    auto few = load(with(kBase, "safety:\n  max_duration: 1m\n",
                         "safety:\n  max_duration: 1m\n  protected:\n    - { host: h9 }\n"));
    ASSERT_EQ(few.errors.size(), 1u) << dump(few);
    EXPECT_NE(few.errors[0].message.find("(hosts: h1, h2, h3)"), std::string::npos) << few.errors[0].message;
}
