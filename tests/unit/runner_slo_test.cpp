// Sliding-window SLO judgement on hand-made samples.
#include <gtest/gtest.h>

#include "runner/slo.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {
plan::Probe probe(double rate, std::chrono::nanoseconds window) {
    plan::Probe p;
    p.name = "p";
    p.every = 1s;
    p.slo.success_rate = rate;
    p.slo.window = window;
    return p;
}
// One sample per second; pattern[i] is sample i's outcome.
std::vector<runner::ProbeSample> series(runner::SteadyTime t0, const std::string& pattern) {
    std::vector<runner::ProbeSample> v;
    for (size_t i = 0; i < pattern.size(); ++i) {
        runner::ProbeSample s;
        s.at = t0 + std::chrono::seconds(i);
        s.ok = pattern[i] == '+';
        s.latency = std::chrono::milliseconds(10 + i);
        v.push_back(s);
    }
    return v;
}
}  // namespace

TEST(Slo, AllGoodHolds) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = runner::evaluate_slo(probe(0.9, 10s), series(t0, std::string(30, '+')), t0);
    EXPECT_TRUE(r.held);
    EXPECT_EQ(r.successes, 30u);
    EXPECT_DOUBLE_EQ(r.worst_rate, 1.0);
}

TEST(Slo, OneFailureInTenIsExactlyTheBound) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = runner::evaluate_slo(probe(0.9, 10s), series(t0, "++++++++++++-+++++++++++"), t0);
    EXPECT_TRUE(r.held) << r.violation;
    EXPECT_DOUBLE_EQ(r.worst_rate, 0.9);
}

TEST(Slo, BurstBreaksAndNamesTheTime) {
    auto t0 = std::chrono::steady_clock::now();
    //                 0         1         2
    //                 0123456789012345678901234
    auto r = runner::evaluate_slo(probe(0.9, 10s), series(t0, "++++++++++++---++++++++++"), t0);
    EXPECT_FALSE(r.held);
    ASSERT_TRUE(r.violated_at);
    EXPECT_EQ(*r.violated_at, 13s);  // the second failure drops the window to 0.8
    EXPECT_NE(r.violation.find("0.80"), std::string::npos) << r.violation;
}

TEST(Slo, EarlyFailureIsJudgedOnlyOnceAWindowIsFull) {
    auto t0 = std::chrono::steady_clock::now();
    // Fails at second 0; the first full window [0,10) has 9 of 10: 0.9 holds.
    auto r = runner::evaluate_slo(probe(0.9, 10s), series(t0, "-++++++++++++"), t0);
    EXPECT_TRUE(r.held) << r.violation;
}

TEST(Slo, ShortRunJudgedAsOneWindow) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = runner::evaluate_slo(probe(0.9, 60s), series(t0, "++-+"), t0);
    EXPECT_FALSE(r.held);
    EXPECT_DOUBLE_EQ(r.worst_rate, 0.75);
}

TEST(Slo, LatencyBound) {
    auto t0 = std::chrono::steady_clock::now();
    auto p = probe(0.0, 10s);
    p.slo.max_latency = 15ms;
    auto r = runner::evaluate_slo(p, series(t0, "++++++++"), t0);  // latencies 10..17 ms
    EXPECT_FALSE(r.held);
    ASSERT_TRUE(r.violated_at);
    EXPECT_EQ(*r.violated_at, 6s);
    EXPECT_EQ(r.max, 17ms);
}

TEST(Slo, NoSamplesIsNotHeld) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = runner::evaluate_slo(probe(0.9, 10s), {}, t0);
    EXPECT_FALSE(r.held);
}
