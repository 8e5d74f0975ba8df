// kill -9 of the runner at random moments of a short run (lab up, settle, fault, observation,
// teardown), many times: after each, `injector recover` must succeed and the machine must hold
// nothing of the injector. Each iteration prints its seed; INJECTOR_CRASH_SEED=<seed> replays
// one iteration's delay (and runs just that one).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "crash_support.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

constexpr int kIterations = 20;

TEST(CrashRandom, Kill9AtRandomMomentsThenRecoverLeavesNothing) {
    INJ_REQUIRE_PRIVILEGE();
    ::unsetenv("INJECTOR_STATE_DIR");
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    ::setenv("INJECTOR_AUDIT_LOG", (tmp.path() + "/audit.jsonl").c_str(), 1);
    ASSERT_EQ(leftovers(), "") << "the machine is not clean before the test (run `injector recover`)";

    PlanSpec spec;
    spec.name = "crash-random";
    spec.fault_for = "1s";
    spec.slo_window = "1s";
    std::string plan = tmp.write("crash-random.yaml", plan_yaml(spec));
    auto loaded = plan::load_file(plan);
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].str());

    // One full run first: it must pass, and its length bounds the kill delays so kills land in
    // every phase, teardown included.
    auto t0 = Clock::now();
    auto full = cli({"--log-level", "warn", "run", plan});
    double full_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ASSERT_EQ(full.exit_code, 0) << full.output;
    ASSERT_EQ(leftovers(), "");
    std::printf("a full run takes %.0f ms; kills land uniformly in [0, %.0f] ms\n", full_ms, full_ms);

    std::vector<uint64_t> seeds;
    if (const char* s = std::getenv("INJECTOR_CRASH_SEED"); s && *s) {
        seeds.push_back(std::strtoull(s, nullptr, 10));
    } else {
        uint64_t base = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
        for (int i = 0; i < kIterations; ++i) seeds.push_back(base + static_cast<uint64_t>(i) * 7919);
    }
    int killed_running = 0, finished_first = 0;
    for (size_t i = 0; i < seeds.size(); ++i) {
        std::mt19937 rng(static_cast<std::mt19937::result_type>(seeds[i]));
        std::uniform_int_distribution<int> delay_ms(0, static_cast<int>(full_ms));
        int delay = delay_ms(rng);
        std::printf("iteration %zu seed %llu: kill -9 after %d ms\n", i, static_cast<unsigned long long>(seeds[i]),
                    delay);
        std::fflush(stdout);
        std::string ctx = "iteration " + std::to_string(i) + " (INJECTOR_CRASH_SEED=" + std::to_string(seeds[i]) + ")";

        std::string out = tmp.path() + "/run-" + std::to_string(i) + ".out";
        auto pid = start_run(plan, out);
        ASSERT_TRUE(pid.ok()) << ctx << ": " << pid.error().message();
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        int status = 0;
        if (::waitpid(*pid, &status, WNOHANG) == *pid) {
            ++finished_first;
        } else {
            ::kill(*pid, SIGKILL);
            ::waitpid(*pid, &status, 0);
            ++killed_running;
        }
        auto r = cli({"recover"});
        EXPECT_EQ(r.exit_code, 0) << ctx << ": recover failed:\n" << r.output << "\nrunner output:\n" << slurp(out);
        std::string left = leftovers();
        EXPECT_EQ(left, "") << ctx << ": left behind after recover:\n"
                            << r.output << "\nrunner output:\n"
                            << slurp(out);
        if (!left.empty()) {
            // Make the next iteration start clean so one failure does not cascade.
            cli({"recover"});
        }
        auto again = cli({"recover"});
        EXPECT_EQ(again.exit_code, 0) << ctx << ": " << again.output;
        EXPECT_NE(again.output.find("nothing to recover"), std::string::npos) << ctx << ": not idempotent:\n"
                                                                              << again.output;
    }
    std::printf("%d runs killed while running, %d finished before their kill\n", killed_running, finished_first);
    ::unsetenv("INJECTOR_AUDIT_LOG");
}

}  // namespace
