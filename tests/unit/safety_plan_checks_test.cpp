// Preflight plan checks: the moments of a timeline, what each cuts off (the connected-majority
// rule), blast-radius bounds, the protected set and the abort path, on plans built through the
// loader (so marks are real) and compiled to the tables the classifier gets.
#include <gtest/gtest.h>

#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "safety/plan_checks.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::safety;
using namespace std::chrono_literals;
using Names = std::vector<std::string>;

namespace {

// Four zones, one host each (z1: h1 198.18.0.2 ... z4: h4), a service on all of them, a probe.
// `method`, `safety` and `probes` are spliced in as YAML text.
std::string plan_text(const std::string& method, const std::string& safety = "",
                      const std::string& probes = "    - { name: p, tcp: \"{addr:h2}:80\", in: control }\n") {
    return "name: t\n"
           "topology:\n"
           "  zones:\n"
           "    - { name: z1, power_domains: [z1-a], subnet: 198.18.0.0/22 }\n"
           "    - { name: z2, power_domains: [z2-a], subnet: 198.18.4.0/22 }\n"
           "    - { name: z3, power_domains: [z3-a], subnet: 198.18.8.0/22 }\n"
           "    - { name: z4, power_domains: [z4-a], subnet: 198.18.12.0/22 }\n"
           "  hosts:\n"
           "    - { name: h1, zone: z1 }\n"
           "    - { name: h2, zone: z2 }\n"
           "    - { name: h3, zone: z3 }\n"
           "    - { name: h4, zone: z4 }\n"
           "lab:\n"
           "  services:\n"
           "    - { name: kv, hosts: [h1, h2, h3, h4], port: 2379, command: sleep 600 }\n"
           "safety:\n"
           "  max_duration: 5m\n" +
           safety +
           "steady_state:\n"
           "  probes:\n" +
           probes + "method:\n" + method;
}

struct Loaded {
    plan::Plan plan;
    net::Tables tables;
};

Loaded load(const std::string& yaml) {
    auto r = plan::load_string(yaml, "t.yaml");
    std::string errs;
    for (auto& e : r.errors) errs += e.str() + "\n";
    EXPECT_TRUE(r.plan.has_value()) << errs;
    if (!r.plan) return {};
    auto t = net::compile(*r.plan);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    if (!t.ok()) return {std::move(*r.plan), {}};
    return {std::move(*r.plan), std::move(t.value())};
}

// 1-based "line:col" of the first occurrence of `needle`.
std::string pos(const std::string& text, const std::string& needle) {
    size_t at = text.find(needle);
    EXPECT_NE(at, std::string::npos) << "test bug: '" << needle << "' not in the plan";
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < text.size(); ++i) {
        if (text[i] == '\n')
            ++line, col = 1;
        else
            ++col;
    }
    return std::to_string(line) + ":" + std::to_string(col);
}
std::string at(const plan::Mark& m) { return std::to_string(m.line) + ":" + std::to_string(m.col); }

std::string dump(const std::vector<Refusal>& rs) {
    std::string s;
    for (auto& r : rs) s += "  " + r.str() + "\n";
    return s;
}

void expect_contains(const std::string& s, const std::vector<std::string>& parts) {
    for (auto& p : parts) EXPECT_NE(s.find(p), std::string::npos) << "'" << p << "' not in: " << s;
}

const std::string kCutZ1 = "  - { name: cut-z1, fault: sever, at: 5s, duration: 30s, target: { zone: z1 } }\n";

}  // namespace

// --- moments and impact ---------------------------------------------------------------------

TEST(SafetyMoments, OverlappingFaultsMakeThreeMoments) {
    auto l =
        load(plan_text("  - { name: a, fault: sever, at: 5s, duration: 20s, target: { zone: z1 } }\n"
                       "  - { name: b, fault: sever, at: 15s, duration: 20s, target: { zone: z2 } }\n"));
    auto ms = moments(l.plan, l.tables);
    ASSERT_EQ(ms.size(), 3u);
    EXPECT_EQ(ms[0].str(), "T+5s..T+15s");
    EXPECT_EQ(ms[0].faults, (std::vector<size_t>{0}));
    EXPECT_EQ(ms[1].str(), "T+15s..T+25s");
    EXPECT_EQ(ms[1].faults, (std::vector<size_t>{0, 1}));
    EXPECT_EQ(ms[2].str(), "T+25s..T+35s");
    EXPECT_EQ(ms[2].faults, (std::vector<size_t>{1}));
    EXPECT_EQ(ms[1].armed, 0b11u);

    EXPECT_EQ(impact(l.plan, l.tables, ms[0]).cut_off, (Names{"h1"}));
    auto both = impact(l.plan, l.tables, ms[1]);
    EXPECT_EQ(both.cut_off, (Names{"h1", "h2"}));
    EXPECT_EQ(both.zones, (Names{"z1", "z2"}));
    EXPECT_EQ(both.power_domains, (Names{"z1-a", "z2-a"}));
    EXPECT_EQ(both.touched, (Names{"h1", "h2"}));
    EXPECT_DOUBLE_EQ(both.share(), 0.5);
}

TEST(SafetyMoments, GapsBetweenFaultsAreNoMoment) {
    auto l =
        load(plan_text("  - { name: a, fault: sever, at: 0s, duration: 5s, target: { zone: z1 } }\n"
                       "  - { name: b, fault: sever, at: 10s, duration: 5s, target: { zone: z1 } }\n"));
    auto ms = moments(l.plan, l.tables);
    ASSERT_EQ(ms.size(), 2u);
    EXPECT_EQ(ms[0].str(), "T+0s..T+5s");
    EXPECT_EQ(ms[1].str(), "T+10s..T+15s");
}

TEST(SafetyImpact, TiedLargestGroupsCutEveryoneOff) {
    // z1+z2 against z3+z4: two groups of two, neither is "the rest of the lab".
    auto l = load(plan_text("  - { name: split, fault: sever, duration: 10s, target: { zone: [z1, z2] } }\n"));
    auto i = impact(l.plan, l.tables, moments(l.plan, l.tables).at(0));
    EXPECT_EQ(i.cut_off, (Names{"h1", "h2", "h3", "h4"}));
    EXPECT_EQ(i.touched, (Names{"h1", "h2"}));
}

TEST(SafetyImpact, NonTransitiveCutLeavesTheCommonHostConnected) {
    // h1 loses h3 only: {h1,h2,h4} and {h2,h3,h4} tie; h2 and h4 are in both.
    auto l =
        load(plan_text("  - { name: pair, fault: sever, duration: 10s, target: { host: h1 }, peer: { host: h3 } }\n"));
    auto i = impact(l.plan, l.tables, moments(l.plan, l.tables).at(0));
    EXPECT_EQ(i.cut_off, (Names{"h1", "h3"}));
}

TEST(SafetyImpact, OneWayCutLosesContact) {
    auto l =
        load(plan_text("  - { name: oneway, fault: sever, duration: 10s, target: { zone: z1 }, direction: from }\n"));
    auto i = impact(l.plan, l.tables, moments(l.plan, l.tables).at(0));
    EXPECT_EQ(i.cut_off, (Names{"h1"}));
}

TEST(SafetyImpact, PartialCutCountsAsLostContact) {
    auto l = load(plan_text("  - { name: gray, fault: sever, duration: 10s, target: { zone: z4 }, share: 0.1 }\n"));
    auto i = impact(l.plan, l.tables, moments(l.plan, l.tables).at(0));
    EXPECT_EQ(i.cut_off, (Names{"h4"}));
}

// --- blast radius -----------------------------------------------------------------------------

TEST(SafetyBlastRadius, WithinBoundsPasses) {
    auto l = load(plan_text(kCutZ1, "  blast_radius: { max_hosts: 1, max_zones: 1, max_power_domains: 1 }\n"));
    EXPECT_TRUE(check_blast_radius(l.plan, l.tables).empty()) << dump(check_blast_radius(l.plan, l.tables));
    auto bc = bounds_at(l.plan.safety.blast_radius, impact(l.plan, l.tables, moments(l.plan, l.tables).at(0)));
    ASSERT_EQ(bc.size(), 3u);
    EXPECT_EQ(bc[0].bound, "max_hosts");
    EXPECT_EQ(bc[0].measured, "1");
    EXPECT_FALSE(bc[0].exceeded);
}

TEST(SafetyBlastRadius, EachBoundNamesItsWorstMoment) {
    std::string safety = "  blast_radius: { max_hosts: 1, max_zones: 2, max_power_domains: 1 }\n";
    std::string y = plan_text(
        "  - { name: a, fault: sever, at: 5s, duration: 20s, target: { zone: z1 } }\n"
        "  - { name: b, fault: sever, at: 15s, duration: 20s, target: { zone: z2 } }\n",
        safety);
    auto l = load(y);
    auto rs = check_blast_radius(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 2u) << dump(rs);  // max_zones 2 holds
    EXPECT_EQ(rs[0].check, "blast_radius");
    EXPECT_EQ(rs[0].fault, "a, b");
    EXPECT_EQ(at(rs[0].mark), pos(y, "blast_radius"));
    EXPECT_EQ(rs[0].message,
              "safety.blast_radius.max_hosts is 1, but T+15s..T+25s (faults in force: a, b) reaches 2 (hosts cut off: "
              "h1, h2)");
    expect_contains(rs[1].message, {"safety.blast_radius.max_power_domains is 1", "T+15s..T+25s", "reaches 2",
                                    "power domains cut off: z1-a, z2-a"});
    expect_contains(rs[0].str(), {"t.yaml:" + pos(y, "blast_radius") + ": blast_radius: "});
}

TEST(SafetyBlastRadius, ShareBound) {
    auto l =
        load(plan_text("  - { name: split, fault: sever, duration: 10s, target: { zone: z1 }, peer: { zone: z2 } }\n",
                       "  blast_radius: { max_hosts: 40% }\n"));
    auto rs = check_blast_radius(l.plan, l.tables);  // h1 and h2 tie: 2 of 4 hosts cut off
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].message,
              "safety.blast_radius.max_hosts is 40%, but T+0s..T+10s (faults in force: split) reaches 50% "
              "(hosts cut off: h1, h2)");
    auto ok = load(plan_text(kCutZ1, "  blast_radius: { max_hosts: 25% }\n"));  // exactly 1 of 4
    EXPECT_TRUE(check_blast_radius(ok.plan, ok.tables).empty());
}

TEST(SafetyBlastRadius, IsolateAllIsRefusedByOneZone) {
    auto r = plan::load_file(inj::test::source_path("experiments/zone-isolate-all.yaml"));
    ASSERT_TRUE(r.plan.has_value());
    plan::Plan p = *r.plan;
    p.safety.blast_radius = plan::BlastRadius{};
    p.safety.blast_radius.max_zones = 1;
    auto t = net::compile(p);
    ASSERT_TRUE(t.ok());
    auto rs = check_plan(p, t.value());
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].check, "blast_radius");
    EXPECT_EQ(rs[0].message,
              "safety.blast_radius.max_zones is 1, but T+5s..T+25s (faults in force: isolate-pangyo, isolate-ansan, "
              "isolate-gasan) reaches 3 (zones cut off: pangyo, ansan, gasan)");
}

TEST(SafetyPlanChecks, FlagshipPlansPass) {
    for (const char* f :
         {"experiments/zone-sever.yaml", "experiments/zone-isolate-all.yaml", "experiments/pangyo-fire.yaml"}) {
        auto r = plan::load_file(inj::test::source_path(f));
        ASSERT_TRUE(r.plan.has_value()) << f;
        auto t = net::compile(*r.plan);
        ASSERT_TRUE(t.ok()) << f;
        auto rs = check_plan(*r.plan, t.value());
        EXPECT_TRUE(rs.empty()) << f << ":\n" << dump(rs);
        // The bounds they declare are real: both plans set some.
        EXPECT_FALSE(
            bounds_at(r.plan->safety.blast_radius, impact(*r.plan, t.value(), moments(*r.plan, t.value()).at(0)))
                .empty())
            << f;
    }
}

// --- protected set ----------------------------------------------------------------------------

TEST(SafetyProtected, TargetZoneIsRefusedNamingFaultLineAndTarget) {
    std::string y = plan_text(kCutZ1, "  protected:\n    - { zone: z1 }\n");
    auto l = load(y);
    auto rs = check_protected(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].check, "protected");
    EXPECT_EQ(rs[0].fault, "cut-z1");
    EXPECT_EQ(at(rs[0].mark), pos(y, "{ name: cut-z1"));
    EXPECT_EQ(rs[0].message, "fault cut-z1 (t.yaml:" + pos(y, "{ name: cut-z1") +
                                 "): would touch protected zone z1 (protected at t.yaml:" + pos(y, "{ zone: z1 }") +
                                 "): its target covers zone z1");
}

TEST(SafetyProtected, TheRestOfTheLabTouchesEveryOtherZone) {
    auto l = load(plan_text(kCutZ1, "  protected:\n    - { power_domain: z3-a }\n"));
    auto rs = check_protected(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    expect_contains(rs[0].message,
                    {"protected power domain z3-a", "its peer (the rest of the lab) covers power domain z3-a"});
    // Naming the peer without z3 leaves it alone.
    auto ok = load(
        plan_text("  - { name: cut-z1, fault: sever, duration: 10s, target: { zone: z1 }, peer: { zone: [z2, z4] } }\n",
                  "  protected:\n    - { power_domain: z3-a }\n"));
    EXPECT_TRUE(check_protected(ok.plan, ok.tables).empty()) << dump(check_protected(ok.plan, ok.tables));
}

TEST(SafetyProtected, HostInsideATargetedZoneAndCidrOverAHost) {
    auto l = load(
        plan_text("  - { name: f, fault: sever, duration: 10s, target: { zone: z2 }, peer: { cidr: 198.18.8.0/24 } }\n",
                  "  protected:\n    - { host: h2 }\n    - { cidr: 198.18.8.2/32 }\n    - { host: h4 }\n"));
    auto rs = check_protected(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 2u) << dump(rs);
    expect_contains(rs[0].message, {"protected host h2", "its target covers host h2"});
    expect_contains(rs[1].message, {"protected cidr 198.18.8.2/32", "its peer covers host h3"});
}

TEST(SafetyProtected, ControlLinkIsAlwaysProtected) {
    std::string y = plan_text(
        "  - { name: wide, fault: sever, duration: 10s, target: { zone: z1 }, peer: { cidr: 198.19.0.0/16 } }\n");
    auto l = load(y);
    auto rs = check_plan(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].check, "protected");
    EXPECT_EQ(at(rs[0].mark), pos(y, "{ name: wide"));
    expect_contains(rs[0].message, {"fault wide", "peer cidr 198.19.0.0/16 overlaps 198.19.255.0/30",
                                    "the control position", "always protected"});
}

TEST(SafetyProtected, LoopbackIsAlwaysProtected) {
    // The loader refuses non-lab CIDRs in selectors; a plan built in code must meet this check too.
    auto l = load(plan_text(kCutZ1));
    l.plan.method[0].target.cidrs.push_back(*Cidr::parse("127.0.0.0/24"));
    l.plan.method[0].target.cidrs.push_back(*Cidr::parse("::/0"));
    auto rs = check_protected(l.plan, l.tables);
    std::string all = dump(rs);
    expect_contains(
        all, {"target cidr 127.0.0.0/24 overlaps 127.0.0.0/8, loopback", "target cidr ::/0 overlaps ::1/128, loopback",
              "target cidr ::/0 overlaps 2001:2:0:ffff::/64"});
}

TEST(SafetyProtected, InterfaceAndControlEntriesAreAcceptedInALab) {
    auto l = load(plan_text(
        kCutZ1, "  protected:\n    - { interface: eth0 }\n    - { zone: control }\n    - { host: control }\n"));
    EXPECT_TRUE(check_protected(l.plan, l.tables).empty()) << dump(check_protected(l.plan, l.tables));
}

// --- abort path -------------------------------------------------------------------------------

TEST(SafetyAbortPath, ProbeFromTheMajorityToACutHostIsRefused) {
    std::string y = plan_text(kCutZ1, "  abort_when:\n    - { probe: kv, success_rate_below: 0.5, for: 5s }\n",
                              "    - { name: kv, exec: \"kvctl --endpoints {endpoints:kv}\", in: h2 }\n");
    auto l = load(y);
    auto rs = check_abort_path(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].check, "abort_path");
    EXPECT_EQ(rs[0].fault, "cut-z1");
    EXPECT_EQ(at(rs[0].mark), pos(y, "{ probe: kv"));
    EXPECT_EQ(rs[0].message, "abort_when probe kv (in h2, t.yaml:" + pos(y, "{ name: kv, exec") +
                                 ") cannot reach its targets during T+5s..T+35s (faults in force: cut-z1): cut "
                                 "h2 <-> h1; a guard that cannot see cannot abort");
}

TEST(SafetyAbortPath, ControlProbeToTheMajorityPasses) {
    auto l = load(plan_text(kCutZ1, "  abort_when:\n    - { probe: p, failures_in_a_row: 5 }\n"));
    EXPECT_TRUE(check_abort_path(l.plan, l.tables).empty()) << dump(check_abort_path(l.plan, l.tables));
    // Control reaches even the severed zone: the cut is between zones, not from control.
    auto c = load(plan_text(kCutZ1, "  abort_when:\n    - { probe: q, failures_in_a_row: 5 }\n",
                            "    - { name: q, tcp: \"{addr:h1}:80\", in: control }\n"));
    EXPECT_TRUE(check_abort_path(c.plan, c.tables).empty()) << dump(check_abort_path(c.plan, c.tables));
}

TEST(SafetyAbortPath, LiteralAddressesEachPatternsAndDirection) {
    auto lit = load(plan_text(kCutZ1, "  abort_when:\n    - { probe: q, failures_in_a_row: 5 }\n",
                              "    - { name: q, tcp: \"198.18.0.2:80\", in: h3 }\n"));
    auto rs = check_abort_path(lit.plan, lit.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    expect_contains(rs[0].message, {"cut h3 <-> h1;"});

    auto each =
        load(plan_text("  - { name: oneway, fault: sever, duration: 10s, target: { zone: z1 }, direction: from }\n",
                       "  abort_when:\n    - { probe: q, latency_above: 1s }\n",
                       "    - { name: q, exec: \"check {each:kv:{host}=http://{addr}:2379}\", in: h4 }\n"));
    rs = check_abort_path(each.plan, each.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    expect_contains(rs[0].message, {"cut h4 <- h1;"});  // h1 -> h4 dropped: replies never come back
}

TEST(SafetyAbortPath, ProbesWithoutAbortWhenAreNotChecked) {
    auto l = load(plan_text(kCutZ1, "", "    - { name: kv, exec: \"kvctl --endpoints {endpoints:kv}\", in: h2 }\n"));
    EXPECT_TRUE(check_abort_path(l.plan, l.tables).empty());
}

// --- power_loss -------------------------------------------------------------------------------

TEST(SafetyPowerLoss, CountsInTheBlastRadius) {
    std::string y =
        plan_text("  - { name: fire, fault: power_loss, at: 5s, duration: 20s, target: { zone: [z1, z2] } }\n",
                  "  blast_radius: { max_hosts: 1, max_zones: 2, max_power_domains: 2 }\n");
    auto l = load(y);
    auto rs = check_blast_radius(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    EXPECT_EQ(rs[0].fault, "fire");
    EXPECT_EQ(rs[0].message,
              "safety.blast_radius.max_hosts is 1, but T+5s..T+25s (faults in force: fire) reaches 2 (hosts cut off: "
              "h1, h2)");
}

// Two hosts, one dark: the live one is the majority (a host without power never is), so only
// the dark host is cut off. Counted as a tie, both were, and max_hosts 1 refused the plan.
TEST(SafetyPowerLoss, ADarkHostNeverTiesWithALiveOne) {
    std::string y =
        "name: t\n"
        "topology:\n"
        "  zones:\n"
        "    - { name: z1, power_domains: [z1-a], subnet: 198.18.0.0/22 }\n"
        "    - { name: z2, power_domains: [z2-a], subnet: 198.18.4.0/22 }\n"
        "  hosts:\n"
        "    - { name: h1, zone: z1 }\n"
        "    - { name: h2, zone: z2 }\n"
        "safety:\n"
        "  max_duration: 5m\n"
        "  blast_radius: { max_hosts: 1, max_zones: 1, max_power_domains: 1 }\n"
        "method:\n"
        "  - { name: fire, fault: power_loss, at: 5s, duration: 20s, target: { zone: z1 } }\n";
    auto l = load(y);
    auto ms = moments(l.plan, l.tables);
    ASSERT_EQ(ms.size(), 1u);
    auto im = impact(l.plan, l.tables, ms[0]);
    EXPECT_EQ(im.cut_off, Names({"h1"}));
    EXPECT_EQ(im.zones, Names({"z1"}));
    EXPECT_TRUE(check_blast_radius(l.plan, l.tables).empty()) << dump(check_blast_radius(l.plan, l.tables));
}

// Dark hosts are left out of the majority, the live ones still split by the cuts: a power loss
// of z1 with z2 severed from z3 and z4 leaves {h3, h4} as the majority.
TEST(SafetyPowerLoss, TheMajorityIsSoughtAmongLiveHosts) {
    auto l = load(
        plan_text("  - { name: fire, fault: power_loss, duration: 20s, target: { zone: z1 } }\n"
                  "  - { name: cut, fault: sever, duration: 20s, target: { zone: z2 }, peer: { zone: [z3, z4] } }\n"));
    auto ms = moments(l.plan, l.tables);
    ASSERT_EQ(ms.size(), 1u);
    auto im = impact(l.plan, l.tables, ms[0]);
    EXPECT_EQ(im.cut_off, Names({"h1", "h2"}));
}

TEST(SafetyPowerLoss, ProtectedZoneIsRefused) {
    std::string y = plan_text("  - { name: fire, fault: power_loss, duration: 20s, target: { zone: z1 } }\n",
                              "  protected:\n    - { zone: z1 }\n");
    auto l = load(y);
    auto rs = check_protected(l.plan, l.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    expect_contains(rs[0].message, {"fault fire", "would touch protected zone z1"});
}

TEST(SafetyPowerLoss, AControlProbeOfADarkHostCannotAbort) {
    // Unlike a sever between zones, a dark host answers nobody, control included.
    auto c = load(plan_text("  - { name: fire, fault: power_loss, duration: 20s, target: { zone: z1 } }\n",
                            "  abort_when:\n    - { probe: q, failures_in_a_row: 5 }\n",
                            "    - { name: q, tcp: \"{addr:h1}:80\", in: control }\n"));
    auto rs = check_abort_path(c.plan, c.tables);
    ASSERT_EQ(rs.size(), 1u) << dump(rs);
    expect_contains(rs[0].message, {"cut control <-> h1;"});
    auto ok = load(plan_text("  - { name: fire, fault: power_loss, duration: 20s, target: { zone: z1 } }\n",
                             "  abort_when:\n    - { probe: p, failures_in_a_row: 5 }\n"));
    EXPECT_TRUE(check_abort_path(ok.plan, ok.tables).empty()) << dump(check_abort_path(ok.plan, ok.tables));
}
