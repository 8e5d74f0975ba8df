// The canaries a run makes (runner/canaries.hpp) and how the effect guard reads their answers:
// a cut must not answer at all, a slowed link must not answer sooner than its latency allows.
#include <gtest/gtest.h>

#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "runner/canaries.hpp"
#include "safety/run_guards.hpp"
#include "support/fake_targets.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

// Two zones of two hosts; FAULT is the one fault's kind and parameters.
std::vector<safety::Canary> canaries_of(const std::string& fault) {
    std::string y =
        "name: t\ntopology:\n  zones:\n"
        "    - { name: a, subnet: 198.18.0.0/22 }\n"
        "    - { name: b, subnet: 198.18.4.0/22 }\n"
        "  hosts:\n"
        "    - { name: a1, zone: a }\n    - { name: a2, zone: a }\n"
        "    - { name: b1, zone: b }\n    - { name: b2, zone: b }\n"
        "safety:\n  max_duration: 5m\nmethod:\n"
        "  - { name: f, at: 1s, duration: 10s, " +
        fault + " }\n";
    auto r = plan::load_string(y, "t.yaml");
    EXPECT_TRUE(r.plan.has_value()) << (r.errors.empty() ? "" : r.errors[0].str());
    if (!r.plan) return {};
    auto t = net::compile(*r.plan);
    EXPECT_TRUE(t.ok());
    std::vector<targets::Host> hosts;
    for (auto& h : r.plan->topology.hosts) {
        targets::Host th;
        th.name = h.name;
        th.zone = h.zone;
        th.netns = "/run/netns/lab-" + h.name;
        th.interface = "eth0";
        th.judges = {{"/run/netns/fabric", "p-" + h.name, true}};
        hosts.push_back(th);
    }
    return runner::plan_canaries(*r.plan, *t, test::StaticTargets(hosts));
}

}  // namespace

TEST(Canaries, ASeverMustNotAnswerAtAll) {
    auto c = canaries_of("fault: sever, target: { zone: a }");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].from_host, "a1");
    EXPECT_EQ(c[0].to_host, "b1");
    EXPECT_EQ(c[0].from_netns, "/run/netns/lab-a1");
    EXPECT_EQ(c[0].to.substr(c[0].to.size() - 2), ":9");
    EXPECT_EQ(c[0].min_rtt, 0ns);
}

TEST(Canaries, ALatencyMustNotAnswerSoonerThanItsDelayLessJitter) {
    auto c = canaries_of(
        "fault: degrade_link, target: { zone: a }, peer: { zone: b }, latency: { delay: 50ms, jitter: 5ms }, "
        "loss: 5%");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].fault, "f");
    EXPECT_EQ(c[0].from_host, "a1");
    EXPECT_EQ(c[0].to_host, "b1");
    EXPECT_EQ(c[0].to.substr(c[0].to.size() - 2), ":9");
    // 45 ms crossed at least once, less a tenth for the timers.
    EXPECT_EQ(c[0].min_rtt, 40500us);
}

TEST(Canaries, ALatencyOnlyOnSomePortsIsCheckedOnTheFirstOfThem) {
    auto c = canaries_of(
        "fault: degrade_link, target: { zone: a }, peer: { zone: b }, latency: { delay: 20ms }, protocol: tcp, "
        "port: 2379");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].to.substr(c[0].to.size() - 5), ":2379");
    EXPECT_EQ(c[0].min_rtt, 18ms);
}

TEST(Canaries, NoCanaryWhereOneConnectCannotShowTheFault) {
    // Loss alone, rate alone: statistics, not one connect.
    EXPECT_TRUE(canaries_of("fault: degrade_link, target: { zone: a }, peer: { zone: b }, loss: 50%").empty());
    // Under 2 ms: within a real network's own round trip.
    EXPECT_TRUE(
        canaries_of("fault: degrade_link, target: { zone: a }, peer: { zone: b }, latency: { delay: 1ms }").empty());
    // Jitter as large as the delay: a packet may not be delayed at all.
    EXPECT_TRUE(canaries_of("fault: degrade_link, target: { zone: a }, peer: { zone: b }, "
                            "latency: { delay: 10ms, jitter: 10ms }")
                    .empty());
    // UDP only: the TCP canary is never delayed.
    EXPECT_TRUE(canaries_of("fault: degrade_link, target: { zone: a }, peer: { zone: b }, "
                            "latency: { delay: 50ms }, protocol: udp")
                    .empty());
    // A share of flows: the canary's flow may be one left alone.
    EXPECT_TRUE(canaries_of("fault: degrade_link, target: { zone: a }, peer: { zone: b }, "
                            "latency: { delay: 50ms }, share: 0.5")
                    .empty());
}

TEST(EffectGuard, AnAnswerAcrossACutContradictsIt) {
    safety::Canary c{"f", "a1", "b1", "/run/netns/a1", "198.18.4.2:9", 0ns};
    auto why = safety::EffectGuard::contradicts(c, {"connected", 3ms});
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("traffic still flows from a1 to b1 (198.18.4.2:9 connected"), std::string::npos) << *why;
    EXPECT_NE(why->find("the planned cut has no effect"), std::string::npos) << *why;
}

TEST(EffectGuard, AnAnswerAcrossASlowedLinkContradictsItOnlyWhenSoonerThanItsLatency) {
    safety::Canary c{"f", "a1", "b1", "/run/netns/a1", "198.18.4.2:9", 40500us};
    EXPECT_FALSE(safety::EffectGuard::contradicts(c, {"refused (a reset came back)", 40500us}));
    EXPECT_FALSE(safety::EffectGuard::contradicts(c, {"connected", 1200ms}));  // a lost SYN sent again
    auto why = safety::EffectGuard::contradicts(c, {"refused (a reset came back)", 310us});
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("a round trip from a1 to b1 (198.18.4.2:9 refused"), std::string::npos) << *why;
    EXPECT_NE(why->find("took 0.31ms, under the 40.5ms its latency adds"), std::string::npos) << *why;
    EXPECT_NE(why->find("the planned latency has no effect"), std::string::npos) << *why;
}
