// Pooled lab hosts (lab/pools.hpp): idle hosts share one namespace per power domain, every one of
// their addresses answers where the plan put it, and the lab goes down leaving nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <set>

#include "common/netns.hpp"
#include "common/tcp.hpp"
#include "lab/lab.hpp"
#include "lab/pools.hpp"
#include "privileged/lab_support.hpp"
#include "support/test_support.hpp"

namespace inj::lab::test {
namespace {

class LabPools : public LabFixture {};

TEST_F(LabPools, IdleHostsShareOneNamespacePerDomainAndAnswerAtEveryAddress) {
    INJ_REQUIRE_PRIVILEGE();
    const int per_zone = 300;
    std::vector<ZoneSpec> zones{{"z0", {}}, {"z1", {}}};
    for (int z = 0; z < 2; ++z)
        for (int i = 0; i < per_zone; ++i) zones[z].hosts.push_back("z" + std::to_string(z) + "-h" + std::to_string(i));
    auto plan = make_plan("lab-test-pools", zones, /*v6=*/true);
    plan.lab.pool_idle_hosts = true;
    plan::Service svc;  // z0-h0 runs something: it keeps a namespace of its own
    svc.name = "idle";
    svc.hosts = {"z0-h0"};
    svc.command = "sleep 600";
    plan.lab.services.push_back(svc);

    auto t0 = std::chrono::steady_clock::now();
    auto lab = bring_up(plan);
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    ASSERT_EQ(lab->hosts.size(), 2u * per_zone);
    std::set<std::string> namespaces, cgroups;
    for (auto& h : lab->hosts) {
        EXPECT_EQ(h.pooled, h.name != "z0-h0") << h.name;
        namespaces.insert(h.netns);
        cgroups.insert(h.cgroup);
    }
    EXPECT_EQ(namespaces.size(), 3u);  // z0-h0's own, and one pool per power domain
    EXPECT_EQ(cgroups.size(), 3u);
    for (auto& ns : namespaces) {
        struct stat st {};
        EXPECT_EQ(stat(netns_path(ns).c_str(), &st), 0) << ns;
    }
    const HostRuntime* own = lab->host("z0-h0");
    ASSERT_NE(own, nullptr);
    EXPECT_EQ(own->netns, "inj-" + lab->id + "-z0-h0");
    // Every pooled address, both families, answers from the control position: a reset from the
    // pool's kernel (nothing listens on port 9) is an answer; a timeout would be a missing address.
    int answered = 0;
    for (auto& h : lab->hosts) {
        if (!h.pooled) continue;
        for (auto& a : h.addresses) {
            auto r = tcp_connect(a.addr, 9, std::chrono::milliseconds(2000));
            ASSERT_FALSE(r.ok()) << h.name << " " << a.addr.str() << ": something listens on port 9";
            ASSERT_EQ(r.error().code, ECONNREFUSED) << h.name << " " << a.addr.str() << ": " << r.error().message();
            ++answered;
        }
    }
    EXPECT_EQ(answered, 2 * (2 * per_zone - 1));
    // A pooled address lives in its pool's namespace: a listener there on it is reached from the
    // control position and from a host of the other zone, across the fabric.
    const HostRuntime* far = lab->host("z1-h250");
    ASSERT_NE(far, nullptr);
    EXPECT_EQ(tcp_reach("", far->netns, far->addresses[0].addr, 7000), "");
    EXPECT_EQ(tcp_reach(own->netns, far->netns, far->addresses[1].addr, 7001), "");
    const HostRuntime* near = lab->host("z0-h17");
    ASSERT_NE(near, nullptr);
    EXPECT_EQ(tcp_reach(far->netns, near->netns, near->addresses[0].addr, 7002), "");

    auto d = down(*lab);
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(d.ok()) << d.error().message();
    auto left = leftovers(*lab);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
    using ms = std::chrono::milliseconds;
    std::printf("pooled lab of %d hosts (3 namespaces): up %lld ms, down %lld ms\n", 2 * per_zone,
                static_cast<long long>(std::chrono::duration_cast<ms>(t1 - t0).count()),
                static_cast<long long>(std::chrono::duration_cast<ms>(t2 - t1).count()));
}

}  // namespace
}  // namespace inj::lab::test
