// Plan loader: faults, selectors, timing against safety.max_duration, target/peer overlap.
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;
using namespace std::chrono_literals;

namespace {
const std::string kFault = "{ name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }";
std::string fault(const std::string& f) { return with(kBase, kFault, f); }
}  // namespace

TEST(PlanMethod, SeverRoundTripsToTheModel) {
    Plan p =
        load_ok(fault("{ name: cut, fault: sever, at: 5s, duration: 30s, target: { zone: z1 }, "
                      "peer: { zone: [z2, z3] }, direction: from, share: 0.5 }"));
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_EQ(f.name, "cut");
    EXPECT_STREQ(f.kind(), "sever");
    EXPECT_EQ(f.at, 5s);
    EXPECT_EQ(f.duration, 30s);
    EXPECT_EQ(f.target.zones, std::vector<std::string>{"z1"});
    EXPECT_FALSE(f.target.rest);
    EXPECT_EQ(f.peer.zones, (std::vector<std::string>{"z2", "z3"}));
    EXPECT_FALSE(f.peer.rest);
    EXPECT_EQ(f.as<SeverSpec>()->direction, Direction::from);
    EXPECT_DOUBLE_EQ(f.as<SeverSpec>()->share, 0.5);
    EXPECT_EQ(f.mark.line, 14);
    EXPECT_EQ(f.mark.col, 5);
}

TEST(PlanMethod, DefaultsPeerIsTheRestDirectionBothShareOne) {
    Plan p = load_ok(fault("{ name: f1, fault: sever, duration: 10s, target: { host: h2 } }"));
    const Fault& f = p.method[0];
    EXPECT_EQ(f.at, 0s);
    EXPECT_TRUE(f.peer.rest);
    EXPECT_TRUE(f.peer.empty());
    EXPECT_EQ(f.as<SeverSpec>()->direction, Direction::both);
    EXPECT_DOUBLE_EQ(f.as<SeverSpec>()->share, 1.0);
    EXPECT_EQ(f.target.hosts, std::vector<std::string>{"h2"});
}

TEST(PlanMethod, SelectorsTakeEveryKind) {
    Plan p =
        load_ok(fault("{ name: f1, fault: sever, duration: 10s, target: { power_domain: z1, host: [h2] }, "
                      "peer: { cidr: 198.18.8.0/22 } }"));
    const Fault& f = p.method[0];
    EXPECT_EQ(f.target.power_domains, std::vector<std::string>{"z1"});
    EXPECT_EQ(f.target.hosts, std::vector<std::string>{"h2"});
    ASSERT_EQ(f.peer.cidrs.size(), 1u);
    EXPECT_EQ(f.peer.cidrs[0].str(), "198.18.8.0/22");
}

TEST(PlanMethod, UnknownFaultKindListsTheKnownOnes) {
    std::string y = fault("{ name: f1, fault: meteor, duration: 10s, target: { zone: z1 } }");
    expect_error(load(y), pos(y, "meteor"), "method[0].fault",
                 "unknown fault kind 'meteor'; known: sever, degrade_link, power_loss, degrade_storage, stop_service");
}

TEST(PlanMethod, DuplicateFaultName) {
    std::string y =
        with(kBase, kFault, kFault + "\n  - { name: f1, fault: sever, duration: 1s, target: { zone: z2 } }");
    expect_error(load(y), pos(y, "f1", 1), "method[1].name", "duplicate fault name 'f1' (first at line 14)");
}

TEST(PlanMethod, UnknownSelectorZone) {
    std::string y = fault("{ name: f1, fault: sever, duration: 10s, target: { zone: [z1, z7] } }");
    expect_error(load(y), pos(y, "z7"), "method[0].target.zone[1]", "unknown zone 'z7' (zones: z1, z2, z3)");
}

TEST(PlanMethod, UnknownSelectorHostAndPowerDomain) {
    std::string y =
        fault("{ name: f1, fault: sever, duration: 10s, target: { host: hx }, peer: { power_domain: px } }");
    auto r = load(y);
    expect_error(r, pos(y, "hx"), "method[0].target.host", "unknown host 'hx'");
    expect_error(r, pos(y, "px"), "method[0].peer.power_domain", "unknown power domain 'px'");
}

TEST(PlanMethod, SelectorMustNotBeEmpty) {
    std::string y = fault("{ name: f1, fault: sever, duration: 10s, target: {} }");
    expect_error(load(y), pos(y, "target"), "method[0].target", "a selector needs at least one of zone");
    std::string y2 = fault("{ name: f1, fault: sever, duration: 10s, target: { zone: [] } }");
    expect_error(load(y2), pos(y2, "[]"), "method[0].target.zone", "an empty list selects nothing");
}

TEST(PlanMethod, UnknownSelectorKeyListsTheAllowed) {
    std::string y = fault("{ name: f1, fault: sever, duration: 10s, target: { zones: z1 } }");
    expect_error(load(y), pos_in(y, "{ zones: z1", "zones"), "method[0].target.zones",
                 "unknown key 'zones' (did you mean 'zone'?); allowed here: zone, power_domain, host, cidr");
}

TEST(PlanMethod, SelectorCidrOutsideTheLab) {
    std::string y = fault("{ name: f1, fault: sever, duration: 10s, target: { cidr: 192.168.1.0/24 } }");
    expect_error(load(y), pos(y, "192.168.1.0/24"), "method[0].target.cidr", "is not a lab address");
}

TEST(PlanMethod, DurationMustBePositive) {
    std::string y = fault("{ name: f1, fault: sever, duration: 0, target: { zone: z1 } }");
    expect_error(load(y), pos(y, "0, target"), "method[0].duration", "must be longer than 0");
}

TEST(PlanMethod, DurationIsRequired) {
    std::string y = fault("{ name: f1, fault: sever, target: { zone: z1 } }");
    expect_error(load(y), pos(y, "{ name: f1"), "method[0].duration", "missing required key 'duration'");
}

TEST(PlanMethod, FaultMustEndWithinMaxDuration) {
    std::string y = fault("{ name: f1, fault: sever, at: 40s, duration: 30s, target: { zone: z1 } }");
    expect_error(load(y), pos(y, "30s"), "method[0].duration",
                 "the fault ends at 1m10s (at 40s + duration 30s), after safety.max_duration 1m");
}

TEST(PlanMethod, FaultEndingExactlyAtMaxDurationIsFine) {
    load_ok(fault("{ name: f1, fault: sever, at: 30s, duration: 30s, target: { zone: z1 } }"));
}

TEST(PlanMethod, BadDirection) {
    std::string y = fault("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, direction: up }");
    expect_error(load(y), pos(y, "up }"), "method[0].direction", "unknown direction 'up' (use both, from or to)");
}

TEST(PlanMethod, ShareMustBeInZeroToOne) {
    for (const char* bad : {"0", "1.5", "-0.2"}) {
        std::string y =
            fault(std::string("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, share: ") + bad + " }");
        expect_error(load(y), pos_in(y, std::string("share: ") + bad, bad), "method[0].share", "is outside (0, 1]");
    }
}

TEST(PlanMethod, TargetAndPeerMustNotShareAZone) {
    std::string y = fault("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, peer: { zone: [z2, z1] } }");
    expect_error(load(y), pos(y, "{ zone: [z2"), "method[0].peer",
                 "target and peer overlap: zone 'z1' is on both sides");
}

TEST(PlanMethod, TargetAndPeerMustNotShareAHost) {
    std::string y = fault("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, peer: { host: h1 } }");
    expect_error(load(y), pos(y, "{ host: h1"), "method[0].peer", "host 'h1' is on both sides");
}

TEST(PlanMethod, TargetAndPeerMustNotOverlapByAddress) {
    std::string y =
        fault("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, peer: { cidr: 198.18.0.0/24 } }");
    expect_error(load(y), pos(y, "{ cidr"), "method[0].peer",
                 "198.18.0.0/22 (zone z1, target) overlaps 198.18.0.0/24 (cidr 198.18.0.0/24, peer)");
}

TEST(PlanMethod, TargetCoveringTheWholeLabNeedsAPeer) {
    std::string y = fault("{ name: f1, fault: sever, duration: 1s, target: { zone: [z1, z2, z3] } }");
    expect_error(load(y), pos(y, "{ zone: [z1"), "method[0].target", "covers every host of the lab");
}

TEST(PlanMethod, MethodNeedsAFault) {
    std::string y = with(kBase, "method:\n  - " + kFault + "\n", "method: []\n");
    expect_error(load(y), pos(y, "[]"), "method", "at least one fault");
}

TEST(PlanMethod, IndependentFaultsReportTheirOwnErrors) {
    std::string y = with(kBase, kFault,
                         "{ name: a, fault: sever, duration: 1s, target: { zone: q1 } }\n"
                         "  - { name: b, fault: sever, duration: 1s, target: { zone: z1 } }\n"
                         "  - { name: c, fault: sever, duration: 1s, target: { zone: q3 } }");
    auto r = load(y);
    EXPECT_EQ(r.errors.size(), 2u) << dump(r);
    expect_error(r, pos(y, "q1"), "method[0].target.zone", "unknown zone 'q1'");
    expect_error(r, pos(y, "q3"), "method[2].target.zone", "unknown zone 'q3'");
}

TEST(PlanMethod, KeysOfOtherKindsAreUnknownOnSever) {
    std::string y = fault("{ name: f1, fault: sever, duration: 1s, target: { zone: z1 }, restore: staggered }");
    expect_error(load(y), pos(y, "restore"), "method[0].restore",
                 "unknown key 'restore'; allowed here: name, fault, at, duration, target, peer, direction, share");
}
