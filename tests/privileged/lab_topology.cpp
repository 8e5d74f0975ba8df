// The lab's network: namespaces, zone bridges, routing between zones and to the control
// position, and the refusals that protect the root namespace.
#include <gtest/gtest.h>

#include <fstream>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "privileged/lab_support.hpp"
#include "support/test_support.hpp"

namespace inj::lab::test {
namespace {

std::string read_sysctl_in(const std::string& ns, const std::string& file) {
    std::optional<NetnsGuard> g;
    if (!ns.empty()) {
        auto r = NetnsGuard::enter(netns_path(ns));
        if (!r) return "enter failed";
        g.emplace(std::move(*r));
    }
    std::ifstream in(file);
    std::string v;
    in >> v;
    return v;
}

IpAddr addr_of(const LabState& s, const std::string& host, bool v6 = false) {
    for (auto& a : s.host(host)->addresses)
        if (a.addr.v6 == v6) return a.addr;
    ADD_FAILURE() << "host " << host << " has no " << (v6 ? "IPv6" : "IPv4") << " address";
    return {};
}

class LabTopology : public LabFixture {};

TEST_F(LabTopology, TwoZonesReachEachOtherAndControl) {
    INJ_REQUIRE_PRIVILEGE();
    std::string root_forward = read_sysctl_in("", "/proc/sys/net/ipv4/ip_forward");
    auto plan = make_plan("lab-test-topology", {{"east", {"e1", "e2"}}, {"west", {"w1"}}});
    auto lab = bring_up(plan);
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    const LabState& s = *lab;
    EXPECT_EQ(s.id, id_for(plan));
    EXPECT_EQ(s.phase, "up");
    EXPECT_EQ(read_sysctl_in(s.fabric_netns, "/proc/sys/net/ipv4/ip_forward"), "1");
    EXPECT_EQ(read_sysctl_in("", "/proc/sys/net/ipv4/ip_forward"), root_forward) << "root namespace touched";

    auto left = leftovers(s);
    ASSERT_TRUE(left.ok()) << left.error().message();
    EXPECT_GE(left->size(), 5u) << "leftovers() must see a lab that is up";

    const auto& e1 = s.host("e1")->netns;
    const auto& e2 = s.host("e2")->netns;
    const auto& w1 = s.host("w1")->netns;
    EXPECT_EQ(tcp_reach(e1, e2, addr_of(s, "e2"), 7001), "") << "same zone";
    EXPECT_EQ(tcp_reach(e1, w1, addr_of(s, "w1"), 7002), "") << "across zones";
    EXPECT_EQ(tcp_reach(w1, e2, addr_of(s, "e2"), 7003), "") << "across zones, other way";
    EXPECT_EQ(tcp_reach("", w1, addr_of(s, "w1"), 7004), "") << "control -> host";
    EXPECT_EQ(tcp_reach(e1, "", s.control_addr.addr, 7005), "") << "host -> control";

    // The state on disk describes the same lab.
    auto loaded = load(s.id);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    EXPECT_EQ(loaded->hosts.size(), 3u);
    EXPECT_EQ(loaded->host("w1")->addresses, s.host("w1")->addresses);
    EXPECT_EQ(loaded->control_if, s.control_if);

    auto d = down(s);
    ASSERT_TRUE(d.ok()) << d.error().message();
    left = leftovers(s);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
    auto ns = run({"ip", "netns", "list"}, std::chrono::seconds(10));
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(ns->output.find(s.id), std::string::npos) << ns->output;
    // down is idempotent.
    auto again = down(s);
    EXPECT_TRUE(again.ok()) << again.error().message();
}

TEST_F(LabTopology, DualStackReachesOverIpv6) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-ipv6", {{"east", {"e1"}}, {"west", {"w1"}}}, true);
    auto lab = bring_up(plan);
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    const LabState& s = *lab;
    ASSERT_TRUE(s.control_addr6.has_value());
    EXPECT_EQ(tcp_reach(s.host("e1")->netns, s.host("w1")->netns, addr_of(s, "w1", true), 7011), "");
    EXPECT_EQ(tcp_reach("", s.host("e1")->netns, addr_of(s, "e1", true), 7012), "");
    EXPECT_EQ(tcp_reach(s.host("w1")->netns, "", s.control_addr6->addr, 7013), "");
    EXPECT_EQ(tcp_reach("", s.host("w1")->netns, addr_of(s, "w1"), 7014), "") << "IPv4 still works";
}

TEST_F(LabTopology, RefusesWhileAnotherLabIsUp) {
    INJ_REQUIRE_PRIVILEGE();
    auto first = make_plan("lab-test-first", {{"z", {"a"}}});
    auto lab = bring_up(first);
    ASSERT_TRUE(lab.ok()) << lab.error().message();

    auto second = make_plan("lab-test-second", {{"z", {"b"}}});
    auto refused = bring_up(second);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find(lab->id), std::string::npos) << refused.error().message();
    EXPECT_NE(refused.error().message().find("lab-test-first"), std::string::npos) << refused.error().message();
    EXPECT_TRUE(traces_of(id_for(second)).empty()) << "a refused up must create nothing";

    auto same = bring_up(first);
    ASSERT_FALSE(same.ok());
    EXPECT_NE(same.error().message().find("already up"), std::string::npos) << same.error().message();
    // The refusal did not damage the lab that is up.
    EXPECT_EQ(tcp_reach("", lab->host("a")->netns, lab->host("a")->addresses[0].addr, 7021), "");
}

TEST_F(LabTopology, RefusesWhenTheRangeIsInUse) {
    INJ_REQUIRE_PRIVILEGE();
    // A foreign route inside 198.18.0.0/15 (a blackhole: it carries no traffic anywhere).
    const std::string foreign = "198.19.254.0/24";
    auto add = run({"ip", "route", "add", "blackhole", foreign}, std::chrono::seconds(10));
    ASSERT_TRUE(add.ok());
    ASSERT_EQ(add->exit_code, 0) << add->output;
    auto plan = make_plan("lab-test-range-in-use", {{"z", {"a"}}});
    auto refused = bring_up(plan);
    auto del = run({"ip", "route", "del", "blackhole", foreign}, std::chrono::seconds(10));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find(foreign), std::string::npos) << refused.error().message();
    ASSERT_TRUE(del.ok());
    EXPECT_EQ(del->exit_code, 0) << del->output;
}

TEST_F(LabTopology, RefusesAPlanOutsideTheLabRange) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-bad-range", {{"z", {"a"}}});
    plan.topology.zones[0].subnet = *Cidr::parse("192.0.2.0/24");
    auto refused = bring_up(plan);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find("outside 198.18.0.0/15"), std::string::npos) << refused.error().message();
}

}  // namespace
}  // namespace inj::lab::test
