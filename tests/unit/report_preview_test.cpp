// The `injector plan` preview at size: a plan of 600 hosts previews in a few dozen lines (power
// domains as counts and ranges, cut sets as domain pairs with host counts), and --hosts brings
// every name back. The verdict is preflight's.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "report/plan_preview.hpp"

using namespace inj;

namespace {

// z1 (n hosts in 3 power domains) severed from z2 (n hosts, 1 power domain) for 10 s.
std::string big_plan(int n = 300) {
    std::string y =
        "name: big\n"
        "topology:\n"
        "  zones:\n"
        "    - { name: z1, power_domains: [p1, p2, p3], subnet: 198.18.0.0/20 }\n"
        "    - { name: z2, power_domains: [q1], subnet: 198.18.16.0/20 }\n"
        "  hosts:\n";
    for (int i = 0; i < n; ++i)
        y += "    - { name: a" + std::to_string(i) + ", zone: z1, power_domain: p" + std::to_string(1 + i % 3) + " }\n";
    for (int i = 0; i < n; ++i) y += "    - { name: b" + std::to_string(i) + ", zone: z2 }\n";
    y += "safety:\n  max_duration: 5m\n  blast_radius: { max_hosts: 50% }\n"
         "method:\n  - { name: cut, fault: sever, duration: 10s, target: { zone: z1 }, peer: { zone: z2 } }\n";
    return y;
}

std::string preview(const plan::Plan& p, const net::Tables& t, bool hosts, bool* passes) {
    std::ostringstream out;
    *passes = report::print_plan_preview(out, p, t, {hosts});
    return out.str();
}

}  // namespace

TEST(ReportPreview, ABigPlanPreviewsInAScreenful) {
    auto r = plan::load_string(big_plan(), "big.yaml");
    ASSERT_TRUE(r.plan.has_value());
    auto t = net::compile(*r.plan);
    ASSERT_TRUE(t.ok());
    bool passes = false;
    std::string text = preview(*r.plan, t.value(), false, &passes);
    // 300 against 300 is a tie, so all 600 are cut off: refused, in one short line.
    EXPECT_FALSE(passes) << text;
    EXPECT_NE(text.find("reaches 100% (hosts cut off: a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, ..., b299 (600 in all))"),
              std::string::npos)
        << text;
    size_t lines = std::count(text.begin(), text.end(), '\n');
    EXPECT_LT(lines, 40u) << text;
    EXPECT_NE(text.find("power domain p1: 100 hosts, a0 .. a297, addresses 198.18.0.2 .. 198.18.1.43"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("cut set: 180000 host pairs lose contact:"), std::string::npos) << text;
    EXPECT_NE(text.find("zone z1 (300) <-> zone z2 (300): 90000 host pairs each way"), std::string::npos) << text;
    EXPECT_EQ(text.find("a150"), std::string::npos) << "a host name in the short preview";

    std::string all = preview(*r.plan, t.value(), true, &passes);
    EXPECT_NE(all.find(" a150 (198.18.0.152)"), std::string::npos);
    EXPECT_NE(all.find("a150 -> b7"), std::string::npos);
}

// A power domain holding two host groups and a host of its own shows each group as its range
// (never "web-1 .. db-20", which would read as one range).
TEST(ReportPreview, APowerDomainShowsEachGroupAsItsOwnRange) {
    std::string y =
        "name: groups\n"
        "topology:\n"
        "  zones:\n"
        "    - { name: z1, power_domains: [p1], subnet: 198.18.0.0/20 }\n"
        "    - { name: z2, power_domains: [q1], subnet: 198.18.16.0/20 }\n"
        "  hosts:\n"
        "    - { name: web, count: 30, zone: z1 }\n"
        "    - { name: lb-9, zone: z1 }\n"
        "    - { name: db, count: 20, zone: z1 }\n"
        "    - { name: b, count: 12, zone: z2 }\n"
        "safety:\n  max_duration: 5m\n"
        "method:\n  - { name: cut, fault: sever, duration: 10s, target: { zone: z1 }, peer: { zone: z2 } }\n";
    auto r = plan::load_string(y, "groups.yaml");
    ASSERT_TRUE(r.plan.has_value()) << (r.errors.empty() ? "" : r.errors[0].str());
    auto t = net::compile(*r.plan);
    ASSERT_TRUE(t.ok());
    bool passes = false;
    std::string text = preview(*r.plan, t.value(), false, &passes);
    EXPECT_NE(text.find("power domain p1: 51 hosts, web-1 .. web-30, lb-9, db-1 .. db-20, addresses"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("power domain q1: 12 hosts, b-1 .. b-12, addresses"), std::string::npos) << text;
}

// --hosts lists a cut set pair by pair up to a million pairs; 1,000 hosts against 1,000 (two
// million) are left to the domain pairs, and the preview stays as long as the host list.
TEST(ReportPreview, HostsListsNoMoreThanAMillionPairs) {
    auto r = plan::load_string(big_plan(1000), "big.yaml");
    ASSERT_TRUE(r.plan.has_value());
    auto t = net::compile(*r.plan);
    ASSERT_TRUE(t.ok());
    bool passes = false;
    std::string all = preview(*r.plan, t.value(), true, &passes);
    EXPECT_NE(all.find("zone z1 (1000) <-> zone z2 (1000): 1000000 host pairs each way"), std::string::npos) << all;
    EXPECT_NE(all.find("(more than 1000000 host pairs to list one by one: the domain pairs above hold them)"),
              std::string::npos);
    EXPECT_NE(all.find(" a999 (198.18."), std::string::npos);
    EXPECT_EQ(all.find("a0 -> b0"), std::string::npos);
    EXPECT_LT(std::count(all.begin(), all.end(), '\n'), 200);
}
