// Which lab hosts share their power domain's pool (lab/pools.hpp), and the pool's names.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <tuple>

#include "lab/lab.hpp"
#include "lab/pools.hpp"
#include "lab/state.hpp"
#include "plan/loader.hpp"

namespace inj::lab {
namespace {

// East has two power domains, west one; kv-1 runs a service, p-1 is a probe's position, t-1 a
// fault's named target, c-1 lies in a fault's prefix, v-1 is a verify step's position; the h-*
// hosts are idle.
const char* kPlan = R"(name: pools
topology:
  zones:
    - { name: east, power_domains: [e1, e2], subnet: 198.18.0.0/22 }
    - { name: west, power_domains: [w1], subnet: 198.18.4.0/22 }
  hosts:
    - { name: kv-1, zone: east, power_domain: e1 }
    - { name: p-1, zone: east, power_domain: e1 }
    - { name: t-1, zone: west }
    - { name: c-1, zone: west, addresses: [198.18.4.200] }
    - { name: v-1, zone: west }
    - { name: h-1, zone: east, power_domain: e1 }
    - { name: h-2, zone: east, power_domain: e2 }
    - { name: h-3, zone: west }
lab:
  POOL
  services:
    - { name: kv, hosts: [kv-1], command: "sleep 1000" }
steady_state:
  probes:
    - { name: from-p1, exec: "true", in: p-1, every: 1s, acknowledges: "r-{seq}", slo: { success_rate: 0.9, window: 5s } }
method:
  - { name: cut, fault: sever, at: 1s, duration: 5s, target: { host: t-1 }, peer: { zone: east } }
  - { name: prefix, fault: sever, at: 1s, duration: 5s, target: { cidr: 198.18.4.192/26 }, peer: { zone: east } }
verify:
  - { name: back, probe: from-p1, exec: "true", in: v-1 }
safety:
  max_duration: 1m
)";

plan::Plan load_with(const std::string& pool) {
    std::string text = kPlan;
    text.replace(text.find("POOL"), 4, pool);
    auto r = plan::load_string(text, "pools.yaml");
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
    return r.ok() ? *r.plan : plan::Plan{};
}

TEST(LabPools, OnlyHostsNothingNamesArePooledAndOnlyWhenThePlanAsks) {
    auto plan = load_with("pool_idle_hosts: true");
    ASSERT_EQ(plan.topology.hosts.size(), 8u);
    EXPECT_TRUE(plan.lab.pool_idle_hosts);
    auto idle = idle_hosts(plan);
    ASSERT_EQ(idle.size(), 8u);
    std::vector<std::string> pooled;
    for (size_t i = 0; i < idle.size(); ++i)
        if (idle[i]) pooled.push_back(plan.topology.hosts[i].name);
    EXPECT_EQ(pooled, (std::vector<std::string>{"h-1", "h-2", "h-3"}));

    auto own = load_with("pool_idle_hosts: false");
    for (bool b : idle_hosts(own)) EXPECT_FALSE(b);
    auto unsaid = load_with("ready_timeout: 30s");
    EXPECT_FALSE(unsaid.lab.pool_idle_hosts);
    for (bool b : idle_hosts(unsaid)) EXPECT_FALSE(b);
}

TEST(LabPools, PoolNamesCannotBeAHostsOwn) {
    // Host names never start with '-': "inj-<id>-<host>" and "h<index>" cannot meet these.
    EXPECT_EQ(pool_netns("ab12", 3), "inj-ab12--p3");
    EXPECT_EQ(pool_port(3), "p3");
    EXPECT_EQ(std::string(kPoolCgroupLeaf)[0], '-');
    auto bad = plan::load_string(std::string(kPlan).replace(std::string(kPlan).find("h-3"), 3, "-p3"), "x.yaml");
    EXPECT_FALSE(bad.ok()) << "a host named -p3 was accepted";
}

TEST(LabPools, DistinctNamespacesAndCgroupsOncePerPoolAndThePooledFlagRoundTrips) {
    LabState s;
    s.id = "ab12";
    s.fabric_netns = "inj-ab12-fabric";
    s.control_if = "injab12c";
    s.control_addr = *Cidr::parse("198.19.255.1/30");
    s.control_gateway = *Cidr::parse("198.19.255.2/30");
    for (auto [name, ns, cg, pooled] :
         {std::tuple{"a", "inj-ab12-a", "/cg/e1/a", false}, std::tuple{"b", "inj-ab12--p0", "/cg/e1/-pool", true},
          std::tuple{"c", "inj-ab12--p0", "/cg/e1/-pool", true},
          std::tuple{"d", "inj-ab12--p1", "/cg/e2/-pool", true}}) {
        HostRuntime h;
        h.name = name;
        h.netns = ns;
        h.fabric_port = pooled ? std::string("p") + ns[std::string(ns).size() - 1] : "h0";
        h.cgroup = cg;
        h.pooled = pooled;
        h.addresses.push_back(*Cidr::parse("198.18.0.2/22"));
        s.hosts.push_back(h);
    }
    std::vector<std::string> names;
    for (auto* h : distinct_namespaces(s)) names.push_back(h->netns);
    EXPECT_EQ(names, (std::vector<std::string>{"inj-ab12-a", "inj-ab12--p0", "inj-ab12--p1"}));
    EXPECT_EQ(distinct_cgroups(s), (std::vector<std::string>{"/cg/e1/a", "/cg/e1/-pool", "/cg/e2/-pool"}));
    char tmpl[] = "/tmp/lab-pools-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    s.dir = tmpl;
    ASSERT_TRUE(state::save(s).ok());
    auto back = state::read(state::file_of(s.dir));
    std::filesystem::remove_all(tmpl);
    ASSERT_TRUE(back.ok()) << back.error().message();
    ASSERT_EQ(back->hosts.size(), 4u);
    EXPECT_FALSE(back->hosts[0].pooled);
    EXPECT_TRUE(back->hosts[1].pooled);
    EXPECT_TRUE(back->hosts[3].pooled);
}

}  // namespace
}  // namespace inj::lab
