// Every abort trigger of a running experiment, each proven on a real lab with real traffic:
// signals, `injector abort`, max_duration, a probe going bad (abort_when), a planned host
// vanishing, a cut or a latency without effect, and drops outside the planned cut set. Each run must exit 2,
// say why, and leave the machine clean.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstddef>
#include <cstdio>
#include <thread>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "netfault_abi.h"
#include "privileged/guards_support.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::test;
using namespace std::chrono_literals;

namespace {

std::string clean_machine() {
    auto r = run_shell(source_path("scripts/check-clean.sh"), 30s);
    if (!r) return r.error().message();
    return r->exit_code == 0 ? "" : r->output;
}

// The lab of a background run, once it is up.
lab::LabState lab_of(BackgroundRun& run) {
    auto st = lab::load(run.lab_id());
    return st ? *st : lab::LabState{};
}

// The cut of `cut-a` is real: a1 cannot reach b1 while it is in force.
void expect_cut_in_force(const lab::LabState& lab) {
    auto* a1 = lab.host("a1");
    auto* b1 = lab.host("b1");
    ASSERT_TRUE(a1 && b1);
    EXPECT_FALSE(answers(netns_path(a1->netns), b1->addresses.at(0).addr.str(), 2379, 300ms))
        << "a1 still reaches b1: the sever is not in force";
}

// Runs bpftool and returns its JSON output.
nlohmann::json bpftool(const std::string& args) {
    auto r = run_shell("bpftool -j " + args, 10s);
    if (!r || r->exit_code != 0) return nlohmann::json();
    return nlohmann::json::parse(r->output, nullptr, false);
}

// Ids of the tcx links whose program is the netfault classifier (the kernel keeps 15 characters
// of the name; bpftool may print the full BTF name).
std::vector<int> netfault_links() {
    std::vector<int> ids;
    auto links = bpftool("link show");
    if (!links.is_array()) return ids;
    for (auto& l : links) {
        auto prog = bpftool("prog show id " + std::to_string(l.value("prog_id", 0)));
        if (prog.is_object() && prog.value("name", "").rfind("netfault_classi", 0) == 0)
            ids.push_back(l.value("id", 0));
    }
    return ids;
}

// Waits for the run's fault to be in force and checks the cut is real; fills *lab.
void wait_for_cut(BackgroundRun& run, lab::LabState* lab) {
    ASSERT_TRUE(run.wait_event("inject", 60s)) << run.output();
    *lab = lab_of(run);
    expect_cut_in_force(*lab);
}

void expect_aborted(BackgroundRun& run, const std::string& reason_part) {
    int rc = run.wait_exit(30s);
    auto rep = run.report();
    EXPECT_EQ(rc, 2) << run.output();
    ASSERT_FALSE(rep.is_discarded()) << run.output();
    EXPECT_EQ(rep.value("verdict", ""), "aborted");
    EXPECT_NE(rep.value("reason", "").find(reason_part), std::string::npos) << rep.value("reason", "");
    bool abort_event = false;
    for (auto& j : run.journal())
        if (j.value("event", "") == "abort") {
            abort_event = true;
            EXPECT_TRUE(j.contains("faults_cleared_us"));
        }
    EXPECT_TRUE(abort_event) << "the journal says why the run stopped";
    EXPECT_EQ(clean_machine(), "");
}

class Signals : public ::testing::TestWithParam<int> {};

}  // namespace

TEST_P(Signals, SignalHealsAndExitsTwo) {
    INJ_REQUIRE_PRIVILEGE();
    const int sig = GetParam();
    BackgroundRun run(small_plan("guard-signal", "1s", "60s", "2m"), "guard-signal-" + std::to_string(sig));
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    ASSERT_EQ(kill(run.pid(), sig), 0);
    expect_aborted(run, "signal: received");
}

INSTANTIATE_TEST_SUITE_P(Guards, Signals, ::testing::Values(SIGINT, SIGTERM, SIGHUP));

TEST(Guards, AbortCommandFromAnotherTerminal) {
    INJ_REQUIRE_PRIVILEGE();
    BackgroundRun run(small_plan("guard-abort", "1s", "60s", "2m"), "guard-abort");
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    auto r = inj::run({binary_path("injector/injector"), "abort", "--reason", "drill called off"}, 10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_NE(r->output.find("guard-abort"), std::string::npos) << r->output;
    expect_aborted(run, "abort requested: drill called off");
}

TEST(Guards, MaxDurationStopsTheRun) {
    INJ_REQUIRE_PRIVILEGE();
    // The heal is due exactly at max_duration: the deadline guard stops the run there.
    BackgroundRun run(small_plan("guard-deadline", "1s", "3s", "4s"), "guard-deadline");
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    expect_aborted(run, "max_duration (4s) reached");
    auto rep = run.report();
    ASSERT_FALSE(rep.is_discarded());
    EXPECT_GT(rep["faults"][0].value("dropped", 0), 0) << "the cut dropped real packets before the stop";
}

TEST(Guards, AbortWhenProbeFailsInARow) {
    INJ_REQUIRE_PRIVILEGE();
    BackgroundRun run(
        small_plan("guard-probe", "1s", "60s", "2m", "  abort_when:\n    - { probe: b1-up, failures_in_a_row: 3 }\n"),
        "guard-probe");
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    // Something off plan: the service on b1 dies (we started it, through the run; end it by pid).
    bool killed = false;
    for (auto& s : lab.services)
        if (s.host == "b1") killed = kill(s.pid, SIGKILL) == 0;
    ASSERT_TRUE(killed);
    expect_aborted(run, "probe b1-up failed 3 times in a row");
}

TEST(Guards, PlannedHostVanishing) {
    INJ_REQUIRE_PRIVILEGE();
    BackgroundRun run(small_plan("guard-vanish", "1s", "60s", "2m"), "guard-vanish");
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    auto* b1 = lab.host("b1");
    ASSERT_TRUE(b1);
    auto r = inj::run({"ip", "netns", "del", b1->netns}, 10s);
    ASSERT_TRUE(r && r->exit_code == 0);
    expect_aborted(run, "planned host b1 vanished");
}

TEST(Guards, CutWithoutEffect) {
    INJ_REQUIRE_PRIVILEGE();
    BackgroundRun run(small_plan("guard-effect", "1s", "60s", "2m"), "guard-effect");
    lab::LabState lab;
    ASSERT_NO_FATAL_FAILURE(wait_for_cut(run, &lab));
    // Someone removes the classifier from under the run: the planned cut no longer holds.
    auto links = netfault_links();
    ASSERT_FALSE(links.empty());
    for (int id : links) ASSERT_TRUE(run_shell("bpftool link detach id " + std::to_string(id), 10s));
    auto* a1 = lab.host("a1");
    auto* b1 = lab.host("b1");
    EXPECT_TRUE(answers(netns_path(a1->netns), b1->addresses.at(0).addr.str(), 2379, 1s)) << "traffic flows again";
    expect_aborted(run, "the planned cut has no effect");
}

// The same for a latency: a degrade_link slowing a -> b whose delay line is bypassed (the
// classifier detached) shows up as a round trip sooner than the latency allows.
TEST(Guards, LatencyWithoutEffect) {
    INJ_REQUIRE_PRIVILEGE();
    std::string plan = small_plan("guard-latency", "1s", "60s", "2m");
    const std::string sever = "fault: sever, at: 1s, duration: 60s, target: { zone: a } }";
    ASSERT_NE(plan.find(sever), std::string::npos);
    plan.replace(plan.find(sever), sever.size(),
                 "fault: degrade_link, at: 1s, duration: 60s, target: { zone: a }, peer: { zone: b },\n"
                 "      latency: { delay: 100ms } }");
    BackgroundRun run(plan, "guard-latency");
    ASSERT_TRUE(run.wait_event("inject", 60s)) << run.output();
    auto lab = lab_of(run);
    auto* a1 = lab.host("a1");
    auto* b1 = lab.host("b1");
    ASSERT_TRUE(a1 && b1);
    auto round_trip = [&] {
        auto t = std::chrono::steady_clock::now();
        bool ok = answers(netns_path(a1->netns), b1->addresses.at(0).addr.str(), 2379, 2s);
        return ok ? std::chrono::steady_clock::now() - t : std::chrono::steady_clock::duration::max();
    };
    // In force: the SYN and its answer each wait 100 ms.
    auto slow = round_trip();
    EXPECT_GE(slow, 190ms) << "the latency is not in force to begin with";
    bool canary = false;
    for (auto& j : run.journal())
        if (j.value("event", "") == "canaries")
            for (auto& c : j["canaries"])
                canary = canary || (c.value("fault", "") == "cut-a" && c.value("min_rtt_ms", 0.0) == 90.0);
    EXPECT_TRUE(canary) << "the journal lists the latency's canary with its 90 ms floor";
    // Someone removes the classifier from under the run: packets no longer go through the delay line.
    auto links = netfault_links();
    ASSERT_FALSE(links.empty());
    for (int id : links) ASSERT_TRUE(run_shell("bpftool link detach id " + std::to_string(id), 10s));
    EXPECT_LT(round_trip(), 50ms) << "the round trip is fast again";
    expect_aborted(run, "the planned latency has no effect");
}

TEST(Guards, DropsOutsideThePlannedCutSet) {
    INJ_REQUIRE_PRIVILEGE();
    // The fault is planned for later; before it, nothing may be cut.
    BackgroundRun run(small_plan("guard-offplan", "50s", "5s", "2m"), "guard-offplan");
    ASSERT_TRUE(run.wait_event("timeline_start", 60s)) << run.output();
    auto lab = lab_of(run);
    // A stray writer arms the rule behind the runner's back (deadline far ahead, both directions).
    auto links = netfault_links();
    ASSERT_FALSE(links.empty());
    auto link = bpftool("link show id " + std::to_string(links[0]));
    auto prog = bpftool("prog show id " + std::to_string(link.value("prog_id", 0)));
    int rules_id = 0, control_id = 0;
    for (auto& m : prog.value("map_ids", nlohmann::json::array())) {
        auto map = bpftool("map show id " + std::to_string(m.get<int>()));
        if (map.value("name", "") == "rules") rules_id = m.get<int>();
        if (map.value("name", "") == "control") control_id = m.get<int>();
    }
    ASSERT_NE(rules_id, 0);
    ASSERT_NE(control_id, 0);
    auto r = run_shell("bpftool map update id " + std::to_string(rules_id) +
                           " key hex 00 00 00 00 value hex ff ff ff ff ff ff ff 7f 07 00 00 00 ff ff ff ff"
                           " 00 00 00 00 00 00 ff ff",  // any protocol, ports 0-65535
                       10s);
    ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().message());
    // ...and names it in the control entry's armed-rule summary (nf_control.armed, bytes 40-47),
    // without which the classifier passes every packet before looking at the rules.
    auto ctl = bpftool("map lookup id " + std::to_string(control_id) + " key hex 00 00 00 00");
    auto bytes = ctl.is_array() && !ctl.empty() ? ctl[0].value("value", nlohmann::json::array())
                                                : ctl.value("value", nlohmann::json::array());
    ASSERT_EQ(bytes.size(), sizeof(nf_control)) << ctl.dump();
    std::string hex;
    for (size_t i = 0; i < bytes.size(); ++i) {
        unsigned v = static_cast<unsigned>(std::stoul(bytes[i].get<std::string>(), nullptr, 16));
        if (i == offsetof(nf_control, armed)) v |= 1;  // rule 0
        char b[4];
        std::snprintf(b, sizeof b, "%02x", v);
        hex += std::string(" ") + b;
    }
    r = run_shell("bpftool map update id " + std::to_string(control_id) + " key hex 00 00 00 00 value hex" + hex, 10s);
    ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().message());
    // Real traffic across the stray cut, so the counters move.
    auto* a1 = lab.host("a1");
    auto* b1 = lab.host("b1");
    EXPECT_FALSE(answers(netns_path(a1->netns), b1->addresses.at(0).addr.str(), 2379, 300ms));
    expect_aborted(run, "traffic is being cut outside the planned cut set");
}
