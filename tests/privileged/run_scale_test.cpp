// experiments/pangyo-full.yaml (the fire at its real proportions, idle hosts pooled per power
// domain) run through the `injector` binary at a size CI affords: the same plan with its host
// groups' counts scaled down and the power loss shortened. While it runs, the test itself watches
// the wire from the control position: a pooled pangyo host stops answering while a pooled ansan
// host keeps answering, and pangyo's answers before or after the cut prove the address is there.
// bench/scale_lab.sh runs it at 32,000 hosts.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <thread>

#include "common/tcp.hpp"
#include "plan/loader.hpp"
#include "run_support.hpp"
#include "runner/journal.hpp"

using inj::test::expect_verdict;
using inj::test::leftovers;
using inj::test::run_plan;

namespace {

// pangyo-full with `hosts` hosts (pangyo half, ansan and gasan a quarter each) and a 15 s power
// loss, written to a temporary file that the caller removes.
std::string scaled_full(int hosts) {
    std::ifstream in(inj::test::source_path("experiments/pangyo-full.yaml"));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    const int p = hosts / 2 - 1, a = hosts / 4 - 1, g = hosts - hosts / 2 - hosts / 4 - 1;
    for (auto [from, to] : {std::pair<std::string, std::string>{"count: 15999", "count: " + std::to_string(p)},
                            {"name: ansan-h, count: 7999", "name: ansan-h, count: " + std::to_string(a)},
                            {"name: gasan-h, count: 7999", "name: gasan-h, count: " + std::to_string(g)},
                            {"{addr:ansan-h-4000}", "{addr:ansan-h-" + std::to_string(a / 2 + 1) + "}"},
                            {"    duration: 60s", "    duration: 15s"}}) {
        auto at = text.find(from);
        EXPECT_NE(at, std::string::npos) << "pangyo-full.yaml lacks '" << from << "'";
        if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    auto path = std::filesystem::temp_directory_path() / ("inj-full-" + std::to_string(getpid()) + ".yaml");
    std::ofstream(path) << text;
    return path.string();
}

// "answers" (a reset or a connection), "dark" (nothing within the timeout) or another error.
std::string wire(const inj::IpAddr& addr) {
    auto r = inj::tcp_connect(addr, 9, std::chrono::milliseconds(700));
    if (r.ok() || r.error().code == ECONNREFUSED) return "answers";
    return r.error().code == ETIMEDOUT ? "dark" : r.error().message();
}

}  // namespace

TEST(Scale, PangyoFullHoldsWhileItsPooledDarkHalfIsDarkOnTheWire) {
    INJ_REQUIRE_PRIVILEGE();
    const int hosts = 2000;
    const std::string path = scaled_full(hosts);
    auto loaded = inj::plan::load_file(path);
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].message);
    ASSERT_EQ(loaded.plan->topology.hosts.size(), static_cast<size_t>(hosts));
    ASSERT_TRUE(loaded.plan->lab.pool_idle_hosts);
    // Hosts deep inside pooled power domains of each half.
    const inj::IpAddr dark = loaded.plan->topology.host("pangyo-h-700")->addresses[0].addr;
    const inj::IpAddr lit = loaded.plan->topology.host("ansan-h-300")->addresses[0].addr;

    std::atomic<bool> done{false};
    auto run = std::async(std::launch::async, [&] {
        auto r = run_plan(path);
        done = true;
        return r;
    });
    bool seen_dark = false, seen_answering = false;
    while (!done) {
        const std::string d = wire(dark), l = wire(lit);
        if (d == "dark" && l == "answers") seen_dark = true;
        if (d == "answers") seen_answering = true;  // the lab is up and pangyo has power
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    auto r = run.get();
    std::filesystem::remove(path);
    expect_verdict(r, "held");
    EXPECT_TRUE(seen_answering) << "a pooled pangyo address never answered";
    EXPECT_TRUE(seen_dark) << "never saw the pooled pangyo host dark while the ansan one answered";
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    EXPECT_GT(r.report["faults"][0].value("dropped", 0), 0) << r.report["faults"].dump();
    ASSERT_EQ(r.report["verify"].size(), 1u) << r.output;
    EXPECT_GT(r.report["verify"][0].value("acknowledged", 0), 10) << r.report["verify"].dump();
    EXPECT_TRUE(r.report["verify"][0]["missing"].empty()) << r.report["verify"].dump();
    // The lab it ran on: its pools, and the power loss's canary (lit pool -> dark pool) armed.
    int lab_hosts = -1;
    nlohmann::json canaries;
    for (auto& e : inj::runner::read_journal(r.report["journal"].get<std::string>())) {
        if (e.value("event", "") == "lab_up") lab_hosts = e.value("hosts", -1);
        if (e.value("event", "") == "canaries") canaries = e["canaries"];
    }
    EXPECT_EQ(lab_hosts, hosts);
    ASSERT_EQ(canaries.size(), 1u) << canaries.dump();
    EXPECT_EQ(canaries[0]["fault"], "pangyo-power");
    EXPECT_EQ(canaries[0]["from"], "ansan-h-1") << canaries.dump();  // the first host left lit: pooled
    EXPECT_EQ(canaries[0]["to"], "pangyo-h-1") << canaries.dump();   // the first darkened: pooled
    EXPECT_EQ(leftovers(), "");
}
