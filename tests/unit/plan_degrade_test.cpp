// Plan loader: degrade_link faults (loss, latency, rate, corrupt, duplicate, protocol, port)
// and their errors at file:line:col.
#include <gtest/gtest.h>

#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

using namespace std::chrono_literals;

std::string degrade_plan(const std::string& fault) {
    return with(kBase, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }", "  - " + fault);
}

std::string item(const std::string& extra) {
    return degrade_plan(
        "{ name: wan, fault: degrade_link, at: 1s, duration: 10s, target: { zone: z1 }, "
        "peer: { zone: z2 }, " +
        extra + " }");
}

TEST(PlanDegrade, ShortForms) {
    Plan p = load_ok(item("loss: 5%, latency: 40ms, rate: 10mbit, corrupt: 0.001, duplicate: 1%"));
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "degrade_link");
    EXPECT_EQ(f.peer.zones, std::vector<std::string>{"z2"});
    const LinkDegrade& d = f.as<DegradeLinkSpec>()->link;
    EXPECT_DOUBLE_EQ(d.loss, 0.05);
    EXPECT_DOUBLE_EQ(d.loss_burst, 1.0);
    EXPECT_EQ(d.delay, 40ms);
    EXPECT_EQ(d.jitter.count(), 0);
    EXPECT_EQ(d.rate_bps, 10'000'000u);
    EXPECT_DOUBLE_EQ(d.corrupt, 0.001);
    EXPECT_DOUBLE_EQ(d.duplicate, 0.01);
    EXPECT_EQ(d.protocol, 0);
    EXPECT_EQ(d.port_lo, 0);
    EXPECT_EQ(d.port_hi, 65535);
}

TEST(PlanDegrade, LongFormsFilterAndGrayShare) {
    Plan p =
        load_ok(item("loss: { probability: 0.2, burst: 4 }, latency: { delay: 50ms, jitter: 10ms }, "
                     "rate: 2mbps, protocol: tcp, port: 2379-2380, direction: from, share: 0.3"));
    const Fault& f = p.method[0];
    EXPECT_EQ(f.as<DegradeLinkSpec>()->direction, Direction::from);
    EXPECT_DOUBLE_EQ(f.as<DegradeLinkSpec>()->share, 0.3);
    EXPECT_DOUBLE_EQ(f.as<DegradeLinkSpec>()->link.loss, 0.2);
    EXPECT_DOUBLE_EQ(f.as<DegradeLinkSpec>()->link.loss_burst, 4.0);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.delay, 50ms);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.jitter, 10ms);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.rate_bps, 16'000'000u);  // bytes per second, as tc reads "mbps"
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.protocol, 6);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.port_lo, 2379);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.port_hi, 2380);
}

TEST(PlanDegrade, SinglePortAndUdp) {
    Plan p = load_ok(item("loss: 1%, protocol: udp, port: 53"));
    EXPECT_EQ(p.method[0].as<DegradeLinkSpec>()->link.protocol, 17);
    EXPECT_EQ(p.method[0].as<DegradeLinkSpec>()->link.port_lo, 53);
    EXPECT_EQ(p.method[0].as<DegradeLinkSpec>()->link.port_hi, 53);
}

TEST(PlanDegrade, NeedsAnEffect) {
    std::string y = item("protocol: tcp");
    expect_error(load(y), pos(y, "{ name: wan"), "method[0]", "needs at least one of loss, latency, rate");
}

TEST(PlanDegrade, ProbabilitiesOutsideZeroOneAreRefused) {
    for (const char* bad : {"loss: 1.5", "loss: 120%", "corrupt: -0.1", "duplicate: lots"}) {
        std::string y = item(bad);
        std::string key(bad, std::string(bad).find(':'));
        std::string value = std::string(bad).substr(key.size() + 2);
        auto r = load(y);
        expect_error(r, pos(y, value), "method[0]." + key,
                     value == "lots" ? "expected a probability" : "outside [0, 1]");
    }
}

TEST(PlanDegrade, BurstNeedsSenseAndAProbability) {
    std::string y = item("loss: { probability: 0.1, burst: 0.5 }");
    expect_error(load(y), pos(y, "0.5"), "method[0].loss.burst", "outside [1, 1000000]");
    y = item("loss: { burst: 3 }");
    expect_error(load(y), pos(y, "loss: { burst"), "method[0].loss.probability", "missing required key 'probability'");
    y = item("loss: { probability: 0.1, bursty: 3 }");
    expect_error(load(y), pos(y, "bursty"), "method[0].loss.bursty", "did you mean 'burst'");
}

TEST(PlanDegrade, JitterLargerThanTheDelayIsRefused) {
    std::string y = item("latency: { delay: 10ms, jitter: 20ms }");
    expect_error(load(y), pos(y, "20ms"), "method[0].latency.jitter", "larger than the delay");
}

TEST(PlanDegrade, BadLatencyAndHugeLatency) {
    std::string y = item("latency: 0s");
    expect_error(load(y), pos_in(y, "latency: 0s", "0s"), "method[0].latency", "longer than 0");
    y = item("latency: 1m");
    expect_error(load(y), pos_in(y, "latency: 1m", "1m"), "method[0].latency", "use sever");
}

TEST(PlanDegrade, BadRates) {
    for (const char* bad : {"10", "fast", "10 parsecs", "1bit", "1000gbit"}) {
        std::string y = item(std::string("rate: '") + bad + "'");
        expect_error(
            load(y), pos(y, std::string("'") + bad), "method[0].rate",
            std::string(bad) == "1bit" || std::string(bad) == "1000gbit" ? "outside 8kbit..100gbit" : "bad rate");
    }
}

TEST(PlanDegrade, BadProtocolAndPorts) {
    std::string y = item("loss: 1%, protocol: sctp");
    expect_error(load(y), pos(y, "sctp"), "method[0].protocol", "unknown protocol 'sctp'");
    for (const char* bad : {"0", "70000", "2380-2379", "http", "1-2-3"}) {
        y = item(std::string("loss: 1%, port: '") + bad + "'");
        expect_error(load(y), pos(y, std::string("'") + bad), "method[0].port", "bad port");
    }
    y = item("loss: 1%, protocol: icmp, port: 80");
    expect_error(load(y), pos(y, "80"), "method[0].port", "ports need protocol tcp or udp");
}

TEST(PlanDegrade, PowerKeysAreNotDegradeKeys) {
    std::string y = item("loss: 1%, mode: kill");
    expect_error(load(y), pos(y, "mode"), "method[0].mode", "unknown key 'mode'");
}

TEST(PlanDegrade, TargetAndPeerMustNotOverlap) {
    std::string y = degrade_plan(
        "{ name: wan, fault: degrade_link, duration: 10s, target: { zone: z1 }, "
        "peer: { host: h1 }, loss: 1% }");
    expect_error(load(y), pos(y, "{ host: h1 }"), "method[0].peer", "overlap");
}

}  // namespace
}  // namespace inj::plan::test
