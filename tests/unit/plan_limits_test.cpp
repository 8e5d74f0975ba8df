// Plan limits (plan/limits.hpp): size, element counts and the probe interval floor are plan
// errors at file:line:col naming the field, so no plan (from a file, or read by an agent from
// etcd) makes the loader or the runner use unbounded memory or CPU.
#include <gtest/gtest.h>

#include "plan/limits.hpp"
#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

const std::string kFault = "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }\n";

TEST(PlanLimits, PlanSize) {
    // A valid plan padded with a comment past the limit.
    std::string y = kBase + "#" + std::string(limits::kMaxPlanBytes, 'x') + "\n";
    auto r = load(y);
    expect_error(r, "1:1", "", "more than the " + std::to_string(limits::kMaxPlanBytes) + " a plan may have");
    load_ok(kBase + "#" + std::string(limits::kMaxPlanBytes - kBase.size() - 10, 'x') + "\n");
}

TEST(PlanLimits, Hosts) {
    std::string hosts;
    for (size_t i = 0; i + 2 <= limits::kMaxHosts; ++i)
        hosts += "    - { name: n" + std::to_string(i) + ", zone: z2 }\n";
    std::string y = with(kBase, "    - { name: h2, zone: z2 }\n", hosts);
    expect_error(
        load(y), pos(y, "- { name: h1"), "topology.hosts",
        "too many items: " + std::to_string(limits::kMaxHosts + 1) + ", at most " + std::to_string(limits::kMaxHosts));
}

// The data center of issue 16 fits the limits: 32,000 hosts in 3 zones and 64 power domains,
// half in one zone (bench/scale_plan.py writes the same shape; a 4,096-host limit once refused it).
TEST(PlanLimits, ADataCenterFits) {
    std::string y = data_center(false);
    ASSERT_GT(y.size(), size_t(1) << 20);  // more than the old 1 MiB limit
    Plan p = load_ok(y);
    EXPECT_EQ(p.topology.hosts.size(), 32000u);
    EXPECT_EQ(p.topology.power_domains.size(), 64u);
}

TEST(PlanLimits, FaultsAndProbes) {
    std::string faults;
    for (size_t i = 0; i <= limits::kMaxFaults; ++i)
        faults +=
            "  - { name: f" + std::to_string(i) + ", fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }\n";
    std::string y = with(kBase, kFault, faults);
    expect_error(load(y), pos(y, "- { name: f0"), "method", "too many items: 1025, at most 1024");

    std::string probes = "steady_state:\n  probes:\n";
    for (size_t i = 0; i <= limits::kMaxProbes; ++i)
        probes += "    - { name: p" + std::to_string(i) + ", tcp: \"{addr:h1}:80\", every: 1s }\n";
    y = with(kBase, "safety:", probes + "safety:");
    expect_error(load(y), pos(y, "- { name: p0"), "steady_state.probes", "too many items: 65, at most 64");
}

TEST(PlanLimits, AnAliasBombIsCutAtTheTotalItemLimit) {
    // One list of 4000 host names, anchored once and aliased by 1000 faults: a 60 KB plan that
    // would have the loader walk 4 million names. Each use counts.
    std::string names;
    for (int i = 0; i < 4000; ++i) names += std::string(i ? ", " : "") + "h" + std::to_string(i % 3 + 1);
    std::string faults =
        "  - { name: f0, fault: sever, at: 1s, duration: 10s, target: { host: &hs [" + names + "] } }\n";
    for (int i = 1; i < 1000; ++i)
        faults +=
            "  - { name: f" + std::to_string(i) + ", fault: sever, at: 1s, duration: 10s, target: { host: *hs } }\n";
    std::string y = with(kBase, kFault, faults);
    auto r = load(y);
    ASSERT_FALSE(r.plan);
    EXPECT_NE(dump(r).find("items in all"), std::string::npos) << dump(r).substr(0, 2000);
    EXPECT_LT(r.errors.size(), 100u);
}

TEST(PlanLimits, ProbeIntervalFloor) {
    std::string y = with(
        kBase, "safety:", "steady_state:\n  probes:\n    - { name: p, tcp: \"{addr:h1}:80\", every: 1us }\nsafety:");
    expect_error(load(y), pos(y, "1us"), "steady_state.probes[0].every", "at most every 10ms");
    load_ok(with(
        kBase, "safety:", "steady_state:\n  probes:\n    - { name: p, tcp: \"{addr:h1}:80\", every: 10ms }\nsafety:"));
}

}  // namespace
}  // namespace inj::plan::test
