// The run guards' decisions on hand-made samples and counters (no lab needed).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "safety/guards.hpp"
#include "safety/run_guards.hpp"

using namespace inj;
using namespace inj::safety;
using namespace std::chrono_literals;

namespace {

struct Series {
    std::vector<Sample> samples;
    SampleSource source() {
        return [this](SteadyTime since) {
            std::vector<Sample> out;
            for (auto& s : samples)
                if (s.at >= since) out.push_back(s);
            return out;
        };
    }
    void add(SteadyTime at, bool ok, std::chrono::nanoseconds lat = 1ms) { samples.push_back({at, ok, lat}); }
};

plan::AbortWhen rule(const std::string& probe) {
    plan::AbortWhen r;
    r.probe = probe;
    r.mark = {"plan.yaml", 40, 7};
    return r;
}

}  // namespace

TEST(ProbeGuard, FailuresInARow) {
    auto t0 = std::chrono::steady_clock::now();
    Series s;
    auto r = rule("kv");
    r.failures_in_a_row = 3;
    ProbeGuard g(r, s.source(), t0);
    s.add(t0 + 1s, false);
    s.add(t0 + 2s, false);
    EXPECT_FALSE(g.check(t0 + 2s));
    s.add(t0 + 3s, true);
    s.add(t0 + 4s, false);
    s.add(t0 + 5s, false);
    EXPECT_FALSE(g.check(t0 + 5s)) << "a success breaks the streak";
    s.add(t0 + 6s, false);
    auto why = g.check(t0 + 6s);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("probe kv failed 3 times in a row"), std::string::npos);
    EXPECT_NE(why->find("plan.yaml:40:7"), std::string::npos);
}

TEST(ProbeGuard, SuccessRateOverAFullWindowOnly) {
    auto t0 = std::chrono::steady_clock::now();
    Series s;
    auto r = rule("kv");
    r.success_rate_below = 0.5;
    r.window = 4s;
    ProbeGuard g(r, s.source(), t0);
    s.add(t0 + 500ms, false);
    s.add(t0 + 1s, false);
    EXPECT_FALSE(g.check(t0 + 1s)) << "not judged before a whole window has passed";
    for (int i = 2; i <= 4; ++i) s.add(t0 + std::chrono::seconds(i), true);
    EXPECT_FALSE(g.check(t0 + 4s));  // window (0,4]: 3 of 5 ok
    for (int i = 5; i <= 8; ++i) s.add(t0 + std::chrono::seconds(i), i < 6);
    auto why = g.check(t0 + 8s);  // window [4,8]: 4 ok? 4 and 5 ok, 6,7,8 failed -> 2 of 5
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("success rate 0.40"), std::string::npos) << *why;
}

TEST(ProbeGuard, SustainedLatency) {
    auto t0 = std::chrono::steady_clock::now();
    Series s;
    auto r = rule("kv");
    r.latency_above = 100ms;
    r.window = 3s;
    r.window_given = true;
    ProbeGuard g(r, s.source(), t0);
    s.add(t0 + 1s, true, 200ms);
    s.add(t0 + 2s, true, 50ms);
    s.add(t0 + 3s, true, 200ms);
    EXPECT_FALSE(g.check(t0 + 3s)) << "one fast sample in the window";
    s.add(t0 + 4s, true, 300ms);
    s.add(t0 + 5s, true, 300ms);
    s.add(t0 + 6s, true, 300ms);
    auto why = g.check(t0 + 6s);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("slower than 100ms for 3s"), std::string::npos) << *why;
}

TEST(ProbeGuard, SingleSlowSampleWithoutWindow) {
    auto t0 = std::chrono::steady_clock::now();
    Series s;
    auto r = rule("kv");
    r.latency_above = 100ms;
    ProbeGuard g(r, s.source(), t0);
    s.add(t0 + 1s, true, 20ms);
    EXPECT_FALSE(g.check(t0 + 1s));
    s.add(t0 + 2s, true, 150ms);
    EXPECT_TRUE(g.check(t0 + 2s));
}

TEST(OffPlanDropGuard, DropsWhileNotInForceTrip) {
    uint64_t dropped = 0;
    bool on = false;
    OffPlanDropGuard g(
        [&] {
            return std::vector<DropCount>{{"cut", dropped}};
        },
        [&](const std::string&) { return on; }, 0ms);
    auto now = std::chrono::steady_clock::now();
    EXPECT_FALSE(g.check(now));  // first look sets the baseline
    on = true;
    dropped = 50;
    EXPECT_FALSE(g.check(now + 1ms)) << "drops while in force are planned";
    on = false;
    dropped = 55;  // in flight when the heal landed
    EXPECT_FALSE(g.check(now + 2ms));
    EXPECT_FALSE(g.check(now + 3ms));
    dropped = 56;
    auto why = g.check(now + 4ms);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("fault cut is not in force but its rule dropped 1 packets"), std::string::npos) << *why;
}

TEST(HostVanishedGuard, MissingPathTrips) {
    auto dir = std::filesystem::temp_directory_path() / ("inj-vanish-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "h1") << "";
    HostVanishedGuard g({{"h1", (dir / "h1").string()}}, 0ms);
    auto now = std::chrono::steady_clock::now();
    EXPECT_FALSE(g.check(now));
    std::filesystem::remove(dir / "h1");
    auto why = g.check(now + 1ms);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("planned host h1 vanished"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(DeadlineGuard, TripsAtTheDeadline) {
    auto t0 = std::chrono::steady_clock::now();
    DeadlineGuard g(t0, 2s);
    EXPECT_FALSE(g.check(t0 + 1999ms));
    auto why = g.check(t0 + 2s);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("max_duration (2s) reached"), std::string::npos);
}

TEST(AbortFileGuard, ReadsTheReason) {
    auto p = std::filesystem::temp_directory_path() / ("inj-abort-" + std::to_string(getpid()));
    AbortFileGuard g({p.string()});
    auto now = std::chrono::steady_clock::now();
    EXPECT_FALSE(g.check(now));
    std::ofstream(p) << "pager fired\n";
    auto why = g.check(now);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("abort requested: pager fired"), std::string::npos);
    std::filesystem::remove(p);
}
