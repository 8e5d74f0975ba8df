// The runner's verdicts and teardown guarantees, with a fake engine, fake probes and no lab:
// every exit code path of DESIGN.md that does not need the kernel. The runs go on simulated time
// (SimClock): every instant is exact and no verdict depends on how loaded the machine is; things
// "happen" during a run from a probe attempt (on_attempt), not from a racing thread.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "common/exit_codes.hpp"
#include "common/paths.hpp"
#include "common/safe_file.hpp"
#include "lab/targets.hpp"
#include "runner/journal.hpp"
#include "runner/runner.hpp"
#include "safety/preflight.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

struct FakeEngine : Engine {
    std::mutex mu;
    std::vector<std::string> calls;
    std::atomic<bool> in_force{false};
    bool fail_inject = false;
    bool prepared = false, released = false;
    std::chrono::nanoseconds lead{0};  // activation_lead: takes hold this long after inject
    std::function<void(const std::string&)> on_call;

    std::string_view name() const override { return "fake"; }
    Result<void> prepare(const plan::Plan&, targets::Targets&, uint64_t) override {
        prepared = true;
        return {};
    }
    Result<void> inject(size_t i, uint64_t deadline) override {
        std::lock_guard lk(mu);
        calls.push_back("inject " + std::to_string(i));
        if (on_call) on_call(calls.back());
        EXPECT_GT(deadline, monotonic_ns());
        if (fail_inject) return plain_error("inject", "fake failure");
        in_force = true;
        return {};
    }
    Result<void> heal(size_t i) override {
        std::lock_guard lk(mu);
        calls.push_back("heal " + std::to_string(i));
        if (on_call) on_call(calls.back());
        in_force = false;
        return {};
    }
    Result<void> heal_all() noexcept override {
        std::lock_guard lk(mu);
        calls.push_back("heal_all");
        in_force = false;
        return {};
    }
    std::vector<FaultCounters> counters() const override { return {}; }
    std::chrono::nanoseconds activation_lead(size_t) const override { return lead; }
    void release() noexcept override { released = true; }
};

// Succeeds unless told to fail, or to fail while the fake fault is in force.
struct FakeProbes : runner::ProbeExecutor {
    FakeEngine* engine = nullptr;
    bool always_fail = false;
    bool fail_during_fault = false;
    std::atomic<int> attempts{0};
    std::function<void()> on_attempt;  // called in every attempt, on the run's time
    runner::ProbeSample attempt(const plan::Probe&, uint64_t seq) override {
        ++attempts;
        if (on_attempt) on_attempt();
        runner::ProbeSample s;
        s.at = std::chrono::steady_clock::now();
        s.seq = seq;
        s.latency = 1ms;
        s.ok = !(always_fail || (fail_during_fault && engine->in_force));
        if (!s.ok) s.detail = "fake failure";
        return s;
    }
};

plan::Plan small_plan() {
    plan::Plan p;
    p.name = "runner-unit";
    p.file = "runner-unit.yaml";
    // Two zones of one host each, addressed as the loader would.
    for (int i = 0; i < 2; ++i) {
        plan::Zone z;
        z.name = i ? "b" : "a";
        z.power_domains = {z.name};
        z.subnet = *Cidr::parse(i ? "198.18.4.0/22" : "198.18.0.0/22");
        p.topology.zones.push_back(z);
        p.topology.power_domains.push_back({z.name, z.name, {}});
        plan::Host h;
        h.name = z.name + "1";
        h.zone = h.power_domain = z.name;
        h.addresses = {Cidr{z.subnet->nth(2), 22}};
        p.topology.hosts.push_back(h);
    }
    plan::Probe pr;
    pr.name = "kv";
    pr.every = 10ms;
    pr.timeout = 50ms;
    pr.slo.success_rate = 0.9;
    pr.slo.window = 100ms;
    p.probes.push_back(pr);
    plan::Fault f;
    f.name = "cut";
    f.spec = plan::SeverSpec{};
    f.at = 100ms;
    f.duration = 300ms;
    f.target.zones = {"a"};
    f.peer.rest = true;
    p.method.push_back(f);
    p.safety.max_duration = 5s;
    return p;
}

class RunnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("inj-runner-test-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        setenv("INJECTOR_STATE_DIR", dir_.c_str(), 1);
    }
    void TearDown() override {
        unsetenv("INJECTOR_STATE_DIR");
        std::filesystem::remove_all(dir_);
    }

    // Runs the plan with fakes; engine and probes stay inspectable.
    runner::RunOutcome run(const plan::Plan& p, runner::RunOptions opts = {}) {
        auto eng = std::make_unique<FakeEngine>();
        engine = eng.get();
        engine_seen = engine;
        eng->fail_inject = fail_inject;
        eng->lead = lead;
        eng->on_call = on_call_;
        probes = std::make_shared<FakeProbes>();
        probes->engine = engine;
        probes->always_fail = always_fail;
        probes->fail_during_fault = fail_during_fault;
        probes->on_attempt = on_attempt;
        runner::RunHooks h;
        h.lab_up = [this](const plan::Plan&) -> Result<lab::LabState> {
            ++lab_ups;
            lab::LabState s;
            s.id = "fake";
            return s;
        };
        h.lab_down = [this](const lab::LabState&) -> Result<void> {
            ++lab_downs;
            if (fail_lab_down) return plain_error("lab down", "fake leftover netns");
            return {};
        };
        auto pr = probes;
        h.make_executor = [pr](const plan::Plan&, const targets::Targets&, const std::string&) {
            struct Fwd : runner::ProbeExecutor {
                std::shared_ptr<FakeProbes> p;
                runner::ProbeSample attempt(const plan::Probe& pb, uint64_t seq) override {
                    return p->attempt(pb, seq);
                }
            };
            auto f = std::make_unique<Fwd>();
            f->p = pr;
            return std::unique_ptr<runner::ProbeExecutor>(std::move(f));
        };
        opts.reuse_lab = false;
        opts.settle_budget = settle_budget;
        opts.observe_after = opts.observe_after.value_or(150ms);
        opts.tick = tick;
        if (!opts.clock) opts.clock = &clock;
        engine_owner_ = std::move(eng);  // kept alive after the run, for the test to inspect
        h.make_targets = [](const plan::Plan& plan, const lab::LabState& st) {
            return std::unique_ptr<targets::Targets>(std::make_unique<lab::LabTargets>(plan, st));
        };
        // One engine for every fault, through a proxy the run may destroy.
        h.make_engines = [this](const plan::Plan& plan) {
            EngineSet set;
            set.own.push_back(std::make_unique<Proxy>(engine_owner_.get()));
            set.of_fault.assign(plan.method.size(), set.own.back().get());
            return set;
        };
        runner::Runner r(p, opts, std::move(h));
        return r.run();
    }

    // Forwards to an engine owned by the fixture, so the test can inspect it after the run.
    struct Proxy : Engine {
        explicit Proxy(Engine* e) : e(e) {}
        Engine* e;
        std::string_view name() const override { return e->name(); }
        Result<void> prepare(const plan::Plan& p, targets::Targets& t, uint64_t d) override {
            return e->prepare(p, t, d);
        }
        Result<void> inject(size_t i, uint64_t d) override { return e->inject(i, d); }
        std::chrono::nanoseconds activation_lead(size_t i) const override { return e->activation_lead(i); }
        Result<void> heal(size_t i) override { return e->heal(i); }
        Result<void> heal_all() noexcept override { return e->heal_all(); }
        std::vector<FaultCounters> counters() const override { return e->counters(); }
        void release() noexcept override { e->release(); }
    };

    std::vector<std::string> events(const runner::RunOutcome& o) {
        std::vector<std::string> ev;
        for (auto& j : runner::read_journal(o.journal)) ev.push_back(j["event"]);
        return ev;
    }

    std::filesystem::path dir_;
    FakeEngine* engine = nullptr;
    std::atomic<FakeEngine*> engine_seen{nullptr};  // `engine`, for a test's own thread
    bool fault_in_force() const {
        FakeEngine* e = engine_seen.load();
        return e && e->in_force;
    }
    std::shared_ptr<FakeProbes> probes;
    std::unique_ptr<Engine> engine_owner_;
    bool fail_inject = false, always_fail = false, fail_during_fault = false, fail_lab_down = false;
    std::function<void()> on_attempt;
    std::chrono::nanoseconds lead{0};
    std::function<void(const std::string&)> on_call_;
    SimClock clock;
    std::chrono::milliseconds tick = 5ms;
    std::chrono::nanoseconds settle_budget = 1s;
    int lab_ups = 0, lab_downs = 0;
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_F(RunnerTest, HeldWhenProbesStayHealthy) {
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitHeld) << o.reason;
    EXPECT_EQ(o.verdict, "held");
    ASSERT_GE(engine->calls.size(), 2u);
    EXPECT_EQ(engine->calls[0], "inject 0");
    EXPECT_EQ(engine->calls[1], "heal 0");
    EXPECT_TRUE(engine->released);
    EXPECT_EQ(lab_ups, 1);
    EXPECT_EQ(lab_downs, 1);
    ASSERT_TRUE(o.faults[0].injected_at && o.faults[0].healed_at);
    // On simulated time, injected and healed exactly when planned (on the machine's time a late
    // inject shortens the time in force; it never moves the end).
    const plan::Plan planned = small_plan();
    const plan::Fault& f = planned.method[0];
    EXPECT_EQ(*o.faults[0].injected_at, f.at);
    EXPECT_EQ(*o.faults[0].healed_at, f.at + f.duration);
    auto ev = events(o);
    EXPECT_TRUE(contains(ev, "inject"));
    EXPECT_TRUE(contains(ev, "heal"));
    EXPECT_TRUE(contains(ev, "probe"));
    EXPECT_EQ(ev.back(), "run_end");
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(o.journal).parent_path() / "report.json"));
}

// A 40-minute drill runs on the clock it is given: every planned instant exact, the probe attempted
// once a second from t0 to the end of observation and not once more; the test itself takes well
// under a second of the machine's time.
TEST_F(RunnerTest, ALongTimelineRunsOnTheGivenClockAtItsExactInstants) {
    auto p = small_plan();
    p.probes[0].every = 1s;
    p.probes[0].slo.window = 10s;
    p.method[0].at = 10min;
    p.method[0].duration = 30min;
    p.safety.max_duration = 2h;
    tick = 1s;
    settle_budget = 10s;
    auto start = clock.now();
    auto o = run(p);
    EXPECT_EQ(o.exit_code, kExitHeld) << o.reason;
    ASSERT_TRUE(o.faults[0].injected_at && o.faults[0].healed_at);
    EXPECT_EQ(*o.faults[0].injected_at, 10min);
    EXPECT_EQ(*o.faults[0].healed_at, 40min);
    EXPECT_EQ(o.elapsed, 40min + 150ms);  // the last heal, then observe_after
    ASSERT_EQ(o.probes.size(), 1u);
    EXPECT_EQ(o.probes[0].attempts, 40 * 60 + 1) << "attempts at t0, t0 + 1 s, ..., t0 + 40 min";
    // Settling before t0 (three successes one second apart) and after the end ran on it too.
    EXPECT_EQ(clock.now() - start, 2s + 40min + 150ms + 2s);
}

// An engine that takes hold a lead after it is asked (fleet: the agents' agreed instant) is asked
// that much early: the fault holds from its planned instant for its planned duration, and the
// journal says when it was asked. A lead longer than the time before the fault is asked at T+0
// and reported as taking hold late.
TEST_F(RunnerTest, AnEngineWithALeadIsAskedEarlySoTheFaultHoldsAtItsPlannedInstant) {
    std::map<std::string, SimClock::time_point> when;
    on_call_ = [&](const std::string& c) { when[c] = clock.now(); };
    lead = 60ms;
    auto o = run(small_plan());  // at 100 ms for 300 ms
    EXPECT_EQ(o.exit_code, kExitHeld) << o.reason;
    ASSERT_TRUE(o.faults[0].injected_at && o.faults[0].healed_at);
    EXPECT_EQ(*o.faults[0].injected_at, 100ms);
    EXPECT_EQ(*o.faults[0].healed_at, 400ms);
    ASSERT_TRUE(when.count("inject 0") && when.count("heal 0"));
    EXPECT_EQ(when["heal 0"] - when["inject 0"], 360ms) << "asked 60 ms before its instant";
    bool seen = false;
    for (auto& j : runner::read_journal(o.journal))
        if (j["event"] == "inject") {
            seen = true;
            EXPECT_EQ(j["lead_ms"].get<double>(), 60.0) << j.dump();
            EXPECT_EQ(j["at_ms"].get<double>(), 100.0) << j.dump();
        }
    EXPECT_TRUE(seen);

    when.clear();
    lead = 250ms;
    o = run(small_plan());
    ASSERT_TRUE(o.faults[0].injected_at && o.faults[0].healed_at);
    EXPECT_EQ(*o.faults[0].injected_at, 250ms) << "asked at T+0, it took hold 250 ms later";
    EXPECT_EQ(*o.faults[0].healed_at, 400ms);
    EXPECT_EQ(when["heal 0"] - when["inject 0"], 400ms);
}

TEST_F(RunnerTest, ViolatedWhenProbeFailsDuringFault) {
    fail_during_fault = true;
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitViolated) << o.reason;
    EXPECT_NE(o.reason.find("probe kv broke its SLO at T+"), std::string::npos) << o.reason;
    ASSERT_EQ(o.probes.size(), 1u);
    EXPECT_FALSE(o.probes[0].held);
    ASSERT_TRUE(o.probes[0].violated_at);
    // The violation is noticed while the fault is in force, not before it.
    EXPECT_GE(*o.probes[0].violated_at, 100ms);
    EXPECT_EQ(lab_downs, 1);
}

TEST_F(RunnerTest, RefusesUnhealthySystemBeforeAnyFault) {
    always_fail = true;
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitNotApplied);
    EXPECT_NE(o.reason.find("not in its steady state before the first fault"), std::string::npos) << o.reason;
    EXPECT_TRUE(
        std::none_of(engine->calls.begin(), engine->calls.end(), [](auto& c) { return c.rfind("inject", 0) == 0; }));
    EXPECT_EQ(lab_downs, 1);  // what was built is removed
    EXPECT_TRUE(engine->released);
}

TEST_F(RunnerTest, AbortFileStopsTheRunAndHeals) {
    auto p = small_plan();
    p.method[0].duration = 3s;
    // Once the fault is in force, ask for an abort as `injector abort` does.
    bool asked = false;
    on_attempt = [&] {
        if (asked || !fault_in_force()) return;
        asked = true;
        for (auto& e : std::filesystem::directory_iterator(runs_root()))
            ASSERT_TRUE(inj::write_file_nofollow((e.path() / "abort").string(), "test\n"));
    };
    auto o = run(p);
    ASSERT_TRUE(asked);
    EXPECT_EQ(o.exit_code, kExitAborted) << o.reason;
    EXPECT_NE(o.reason.find("abort requested: test"), std::string::npos) << o.reason;
    EXPECT_FALSE(engine->in_force);
    EXPECT_TRUE(contains(engine->calls, "heal_all"));
    EXPECT_TRUE(contains(events(o), "abort"));
    EXPECT_EQ(lab_downs, 1);
    // The abort is seen at the first guard check after the file appeared: one probe interval
    // after the inject at the latest, not when the 3 s fault would have ended.
    ASSERT_TRUE(o.faults[0].injected_at);
    EXPECT_EQ(*o.faults[0].injected_at, 100ms);
    for (auto& j : runner::read_journal(o.journal))
        if (j["event"] == "abort") {
            EXPECT_GE(j["at_ms"].get<double>(), 100.0);
            EXPECT_LE(j["at_ms"].get<double>(), 100.0 + 10.0 + 5.0) << "one probe interval and one tick";
        }
}

TEST_F(RunnerTest, SignalAbortsAndHeals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    ASSERT_GE(sfd, 0);
    auto p = small_plan();
    p.method[0].duration = 3s;
    bool sent = false;  // to the process (not a thread): the runner's signalfd sees it
    on_attempt = [&] {
        if (!sent && fault_in_force()) sent = kill(getpid(), SIGHUP) == 0;
    };
    runner::RunOptions opts;
    opts.signal_fd = sfd;
    auto o = run(p, opts);
    ASSERT_TRUE(sent);
    close(sfd);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    EXPECT_EQ(o.exit_code, kExitAborted) << o.reason;
    EXPECT_NE(o.reason.find("signal"), std::string::npos) << o.reason;
    EXPECT_FALSE(engine->in_force);
}

TEST_F(RunnerTest, MaxDurationAborts) {
    auto p = small_plan();
    p.safety.max_duration = 250ms;  // shorter than the fault's end: the deadline guard trips
    auto o = run(p, {});
    EXPECT_EQ(o.exit_code, kExitAborted) << o.reason;
    EXPECT_NE(o.reason.find("max_duration"), std::string::npos) << o.reason;
    EXPECT_FALSE(engine->in_force);
}

TEST_F(RunnerTest, InjectionFailureIsNotApplied) {
    fail_inject = true;
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitNotApplied) << o.reason;
    EXPECT_NE(o.reason.find("injecting cut failed"), std::string::npos) << o.reason;
    EXPECT_TRUE(contains(engine->calls, "heal_all"));
    EXPECT_EQ(lab_downs, 1);
}

TEST_F(RunnerTest, CleanupFailureIsExit4) {
    fail_lab_down = true;
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitCleanup) << o.reason;
    EXPECT_NE(o.reason.find("fake leftover netns"), std::string::npos);
    EXPECT_NE(o.reason.find("injector recover"), std::string::npos);
}

TEST_F(RunnerTest, SecondRunIsRefusedWhileLockHeld) {
    auto lock = safety::RunLock::acquire("other-run");
    ASSERT_TRUE(lock.ok());
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitNotApplied);
    EXPECT_NE(o.reason.find("other-run"), std::string::npos) << o.reason;
    EXPECT_EQ(lab_ups, 0);  // nothing touched
}

TEST_F(RunnerTest, KillSwitchFileRefusesRun) {
    std::ofstream(dir_ / "abort") << "freeze\n";
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitNotApplied);
    EXPECT_NE(o.reason.find("kill switch"), std::string::npos);
    EXPECT_EQ(lab_ups, 0);
}

TEST_F(RunnerTest, PlanChecksRefuseBeforeAnythingIsTouched) {
    auto p = small_plan();
    p.safety.blast_radius.max_hosts = 0;  // the sever cuts a1 off: one host too many
    auto o = run(p);
    EXPECT_EQ(o.exit_code, kExitNotApplied) << o.reason;
    EXPECT_NE(o.reason.find("preflight refused the plan"), std::string::npos) << o.reason;
    EXPECT_NE(o.reason.find("blast_radius"), std::string::npos) << o.reason;
    EXPECT_EQ(lab_ups, 0);
    EXPECT_TRUE(engine->calls.empty());
}

TEST_F(RunnerTest, ARunIdNamesOneRun) {
    runner::RunOptions opts;
    opts.run_id = "drill-42";
    auto first = run(small_plan(), opts);
    EXPECT_EQ(first.exit_code, kExitHeld) << first.reason;
    auto second = run(small_plan(), opts);
    EXPECT_EQ(second.exit_code, kExitNotApplied);
    EXPECT_NE(second.reason.find("run id drill-42 was used before"), std::string::npos) << second.reason;
    EXPECT_EQ(lab_ups, 1) << "the second run touched nothing";
}

// Observers (live view, metrics) see every journal line as written, and the journal describes the
// whole run: plan, environment, preflight, guards, counters, SLO results, verdict.
TEST_F(RunnerTest, ObserversSeeEveryJournalLine) {
    struct Recorder : runner::RunObserver {
        std::mutex mu;
        std::vector<nlohmann::json> seen;
        void on_event(const nlohmann::json& ev) noexcept override {
            std::lock_guard lk(mu);
            seen.push_back(ev);
        }
    } rec;
    runner::RunOptions opts;
    opts.observers.push_back(&rec);
    opts.counters_every = 50ms;
    auto o = run(small_plan(), opts);
    EXPECT_EQ(o.exit_code, kExitHeld) << o.reason;
    auto lines = runner::read_journal(o.journal);
    ASSERT_EQ(rec.seen.size(), lines.size());
    for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(rec.seen[i], lines[i]) << i;
    auto ev = events(o);
    for (auto e : {"plan", "environment", "preflight", "guards", "counters", "slo", "verdict"})
        EXPECT_TRUE(contains(ev, e)) << e;
    for (auto& l : lines) {
        if (l["event"] == "plan") {
            ASSERT_EQ(l["faults"].size(), 1u);
            EXPECT_EQ(l["faults"][0]["name"], "cut");
            EXPECT_EQ(l["faults"][0]["at_ms"], 100.0);
            EXPECT_EQ(l["probes"][0]["slo"]["success_rate"], 0.9);
        }
        if (l["event"] == "slo") {
            EXPECT_TRUE(l["held"].get<bool>());
        }
        if (l["event"] == "guards") {
            EXPECT_GE(l["guards"].size(), 4u);
        }
    }
}

// A refused run still ends its journal with a verdict, so a report of it says why.
TEST_F(RunnerTest, RefusedRunsEndTheirJournalWithAVerdict) {
    std::ofstream(dir_ / "abort") << "freeze\n";
    auto o = run(small_plan());
    EXPECT_EQ(o.exit_code, kExitNotApplied);
    auto lines = runner::read_journal(o.journal);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.back()["event"], "run_end");
    auto& v = lines[lines.size() - 2];
    EXPECT_EQ(v["event"], "verdict");
    EXPECT_EQ(v["verdict"], "not_applied");
    EXPECT_EQ(v["exit_code"], 3);
    EXPECT_NE(v["reason"].get<std::string>().find("kill switch"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(o.journal).parent_path() / "report.json"));
}
