// A large lab (256 hosts in 4 zones) comes up whole and goes down leaving nothing. The time it
// takes is printed for the README's figures, never asserted.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>

#include "common/netns.hpp"
#include "lab/lab.hpp"
#include "privileged/lab_support.hpp"
#include "support/test_support.hpp"

namespace inj::lab::test {
namespace {

class LabScale : public LabFixture {};

TEST_F(LabScale, TwoHundredFiftySixHostsComeUpWholeAndLeaveNothing) {
    INJ_REQUIRE_PRIVILEGE();
    const int n = 256;
    std::vector<ZoneSpec> zones;
    for (int z = 0; z < 4; ++z) zones.push_back({"zone" + std::to_string(z), {}});
    for (int i = 0; i < n; ++i) zones[i % 4].hosts.push_back("host" + std::to_string(i));
    auto plan = make_plan("lab-test-scale", zones);
    auto t0 = std::chrono::steady_clock::now();
    auto lab = bring_up(plan);
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    ASSERT_EQ(lab->hosts.size(), static_cast<size_t>(n));
    for (auto& h : lab->hosts) {
        struct stat st {};
        EXPECT_EQ(stat(netns_path(h.netns).c_str(), &st), 0) << h.name << " has no namespace";
    }
    auto d = down(*lab);
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(d.ok()) << d.error().message();
    auto left = leftovers(*lab);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
    using ms = std::chrono::milliseconds;
    std::printf("lab of %d hosts in 4 zones: up %lld ms, down %lld ms\n", n,
                static_cast<long long>(std::chrono::duration_cast<ms>(t1 - t0).count()),
                static_cast<long long>(std::chrono::duration_cast<ms>(t2 - t1).count()));
}

}  // namespace
}  // namespace inj::lab::test
