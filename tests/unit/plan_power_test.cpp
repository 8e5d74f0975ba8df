// Plan loader: power_loss faults (target, mode, restore) and their errors at file:line:col.
#include <gtest/gtest.h>

#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

// kBase with two hosts in z1 (h1 and h4, power domains p1 and p2), so a zone target darkens two.
std::string power_plan(const std::string& fault) {
    std::string y = with(kBase, "    - { name: z1, subnet: 198.18.0.0/22 }",
                         "    - { name: z1, subnet: 198.18.0.0/22, power_domains: [p1, p2] }");
    y = with(y, "    - { name: h1, zone: z1 }",
             "    - { name: h1, zone: z1, power_domain: p1 }\n    - { name: h4, zone: z1, power_domain: p2 }");
    return with(y, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }", "  - " + fault);
}

TEST(PlanPower, DefaultsToKillWithoutStagger) {
    Plan p = load_ok(power_plan("{ name: dark, fault: power_loss, at: 2s, duration: 20s, target: { zone: z1 } }"));
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "power_loss");
    EXPECT_EQ(f.as<PowerLossSpec>()->mode, PowerMode::kill);
    EXPECT_EQ(f.at, std::chrono::seconds(2));
    EXPECT_EQ(f.duration, std::chrono::seconds(20));
    EXPECT_EQ(f.target.zones, std::vector<std::string>{"z1"});
    EXPECT_TRUE(f.peer.rest);
    EXPECT_EQ(f.as<PowerLossSpec>()->restore.stagger.count(), 0);
    EXPECT_TRUE(f.as<PowerLossSpec>()->restore.order.empty());
    EXPECT_EQ(selected_hosts(p.topology, f.target), (std::vector<std::string>{"h1", "h4"}));
}

TEST(PlanPower, FreezeModeAndRestoreOrder) {
    Plan p =
        load_ok(power_plan("{ name: dark, fault: power_loss, duration: 20s, target: { power_domain: [p1, p2] }, "
                           "mode: freeze, restore: { stagger: 2s, order: [h4] } }"));
    const Fault& f = p.method[0];
    EXPECT_EQ(f.as<PowerLossSpec>()->mode, PowerMode::freeze);
    EXPECT_EQ(f.as<PowerLossSpec>()->restore.stagger, std::chrono::seconds(2));
    EXPECT_EQ(f.as<PowerLossSpec>()->restore.order, std::vector<std::string>{"h4"});
}

TEST(PlanPower, HostListTarget) {
    Plan p = load_ok(power_plan("{ name: dark, fault: power_loss, duration: 5s, target: { host: [h2, h3] } }"));
    EXPECT_EQ(selected_hosts(p.topology, p.method[0].target), (std::vector<std::string>{"h2", "h3"}));
}

TEST(PlanPower, TheWholeLabMayGoDark) {
    // No peer to be empty: the blast radius, not the loader, decides whether that is allowed.
    Plan p = load_ok(power_plan("{ name: dark, fault: power_loss, duration: 5s, target: { zone: [z1, z2, z3] } }"));
    EXPECT_EQ(selected_hosts(p.topology, p.method[0].target).size(), 4u);
}

TEST(PlanPower, UnknownModeIsRefused) {
    std::string y = power_plan("{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, mode: melt }");
    expect_error(load(y), pos(y, "melt"), "method[0].mode", "unknown mode 'melt' (use kill or freeze)");
}

TEST(PlanPower, PeerDirectionAndShareAreNotPowerKeys) {
    for (const char* extra : {"peer: { zone: z2 }", "direction: from", "share: 0.5"}) {
        std::string y = power_plan(
            std::string("{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, ") + extra + " }");
        std::string key = std::string(extra).substr(0, std::string(extra).find(':'));
        expect_error(load(y), pos(y, key + ":"), "method[0]." + key, "unknown key '" + key + "'");
    }
}

TEST(PlanPower, CidrTargetIsRefused) {
    std::string y = power_plan("{ name: dark, fault: power_loss, duration: 5s, target: { cidr: 198.18.0.0/24 } }");
    expect_error(load(y), pos(y, "cidr"), "method[0].target.cidr",
                 "power_loss targets zones, power domains or hosts, not CIDRs");
}

TEST(PlanPower, RestoreOrderMustNameDarkHosts) {
    std::string y = power_plan(
        "{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, "
        "restore: { order: [h4, h2] } }");
    expect_error(load(y), pos(y, "h2]"), "method[0].restore.order[1]",
                 "host 'h2' is not one of the hosts this fault darkens (h1, h4)");
    std::string u = power_plan(
        "{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, "
        "restore: { order: [hx] } }");
    expect_error(load(u), pos(u, "hx"), "method[0].restore.order[0]", "unknown host 'hx'");
    std::string d = power_plan(
        "{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, "
        "restore: { order: [h1, h1] } }");
    expect_error(load(d), pos(d, "h1]"), "method[0].restore.order[1]", "host 'h1' is listed twice");
}

TEST(PlanPower, RestoreKeysAndStaggerAreChecked) {
    std::string y = power_plan(
        "{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, "
        "restore: { stager: 2s } }");
    expect_error(load(y), pos(y, "stager"), "method[0].restore.stager",
                 "unknown key 'stager' (did you mean 'stagger'?)");
    std::string n = power_plan(
        "{ name: dark, fault: power_loss, duration: 5s, target: { zone: z1 }, "
        "restore: { stagger: -2s } }");
    expect_error(load(n), pos(n, "-2s"), "method[0].restore.stagger", "bad duration '-2s'");
}

TEST(PlanPower, DurationIsRequiredAndBoundedByMaxDuration) {
    std::string y = power_plan("{ name: dark, fault: power_loss, target: { zone: z1 } }");
    expect_error(load(y), pos(y, "{ name: dark"), "method[0].duration", "missing required key 'duration'");
    std::string m = power_plan("{ name: dark, fault: power_loss, at: 50s, duration: 20s, target: { zone: z1 } }");
    expect_error(load(m), pos(m, "20s"), "method[0].duration", "after safety.max_duration 1m");
}

}  // namespace
}  // namespace inj::plan::test
