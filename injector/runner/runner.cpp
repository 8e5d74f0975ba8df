// One run of a plan. The structure is a straight line with one rule: once anything has been
// created, every exit goes through teardown().
#include "runner/runner.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_set>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "common/safe_file.hpp"
#include "faults/registry.hpp"
#include "net/compile.hpp"
#include "plan/json.hpp"
#include "runner/canaries.hpp"
#include "runner/events.hpp"
#include "runner/journal.hpp"
#include "runner/outcome_json.hpp"
#include "runner/readback.hpp"
#include "safety/plan_checks.hpp"
#include "safety/preflight.hpp"
#include "safety/protect_real.hpp"
#include "safety/run_guards.hpp"
#include "targets/bound.hpp"
#include "targets/targets.hpp"

namespace inj::runner {
namespace {

using Wall = std::chrono::steady_clock;  // what an operation cost; the timeline reads `clock`
using std::chrono::nanoseconds;

double ms(nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

}  // namespace

struct Runner::Impl {
    const plan::Plan& plan;
    RunOptions& opts;
    RunHooks& hooks;
    Clock& clock;  // the timeline's time: the machine's, or a simulation in tests
    RunOutcome out;
    std::optional<Journal> journal;
    std::optional<safety::RunLock> lock;
    std::optional<lab::LabState> lab;
    bool lab_ours = false;                      // we brought it up, so we take it down
    std::optional<targets::Watcher> watcher;    // bound targets: undoes our faults if we die
    EngineSet set;                              // the engines of this run, one per fault (set.of_fault)
    std::unique_ptr<targets::Targets> targets;  // what the plan hosts are bound to
    std::vector<Engine*> engines;               // prepared engines
    std::unique_ptr<ProbeExecutor> exec;
    std::vector<std::unique_ptr<ProbeSampler>> samplers;
    std::vector<std::unique_ptr<safety::Guard>> guards;
    net::Tables tables;  // compiled once at preflight; the canaries reuse it
    Clock::time_point t0;
    // Per method index: injected and not yet healed. Read by guard threads, written by the
    // timeline.
    std::unique_ptr<std::atomic<bool>[]> active;
    // Per method index: a heal has begun. Fleet agents heal the moment it is published, while
    // `active` stays set until they confirm (off-plan drops in between are still the fault's):
    // a canary must not count from here on.
    std::unique_ptr<std::atomic<bool>[]> ending;

    std::string inject_error;  // why the timeline stopped early, if an inject failed
    nanoseconds last_heal{0};
    bool verdict_written = false;
    std::mutex jwrite_mu;  // observers see the lines in the journal's order (probe threads write too)
    void jwrite(const std::string& ev, nlohmann::json f = nlohmann::json::object(), bool durable = false) {
        if (!journal) return;
        std::lock_guard lk(jwrite_mu);
        if (ev == "verdict") verdict_written = true;
        auto line = journal->write(ev, std::move(f), durable);
        for (auto* o : opts.observers) o->on_event(line);
    }

    // The engines' counters, for the timeline of drops (journal, live view, metrics).
    Clock::time_point next_counters{};
    void journal_counters(bool final) {
        nlohmann::json list = nlohmann::json::array();
        for (auto* e : engines)
            for (auto& c : e->counters())
                list.push_back(
                    {{"fault", c.fault}, {"dropped", c.dropped}, {"passed", c.passed}, {"expired", c.expired}});
        if (list.empty() && !final) return;
        nlohmann::json f = {{"counters", list}, {"final", final}};
        if (t0 != Clock::time_point{}) f["at_ms"] = ms(clock.now() - t0);
        jwrite("counters", f, final);
    }

    void evaluate_probes() {
        for (auto& s : samplers) {
            out.probes.push_back(evaluate_slo(s->probe(), s->samples(), t0));
            auto& p = out.probes.back();
            nlohmann::json j = {{"probe", p.probe},    {"attempts", p.attempts},    {"successes", p.successes},
                                {"p50_ms", ms(p.p50)}, {"p99_ms", ms(p.p99)},       {"max_ms", ms(p.max)},
                                {"held", p.held},      {"worst_rate", p.worst_rate}};
            if (p.violated_at) j["violated_at_ms"] = ms(*p.violated_at);
            if (p.worst_at) j["worst_at_ms"] = ms(*p.worst_at);
            if (!p.violation.empty()) j["violation"] = p.violation;
            jwrite("slo", j, true);
        }
    }

    void finish(int code, std::string verdict, std::string reason) {
        out.exit_code = code;
        out.verdict = std::move(verdict);
        out.reason = std::move(reason);
    }

    // Waits until `until`, polling signals and guards every tick. Returns an abort reason.
    std::optional<std::string> wait_until(Clock::time_point until) {
        while (true) {
            auto now = clock.now();
            for (auto& g : guards)
                if (auto why = g->check(now)) return std::string(g->name()) + ": " + *why;
            if (now >= next_counters) {
                journal_counters(false);
                next_counters = now + opts.counters_every;
            }
            if (now >= until) return std::nullopt;
            if (clock.wait_until(std::min(until, now + opts.tick), opts.signal_fd)) {
                signalfd_siginfo si{};
                if (read(opts.signal_fd, &si, sizeof si) == sizeof si)
                    return std::string("signal: received ") + sigdescr_np(static_cast<int>(si.ssi_signo));
            }
        }
    }

    void heal_everything(const char* why) {
        for (size_t i = 0; i < plan.method.size(); ++i) ending[i] = true;
        for (auto* e : engines) {
            auto t = Wall::now();
            auto r = e->heal_all();
            auto cost = Wall::now() - t;
            jwrite("heal_all",
                   {{"engine", std::string(e->name())},
                    {"why", why},
                    {"cost_us", std::chrono::duration_cast<std::chrono::microseconds>(cost).count()},
                    {"ok", r.ok()}},
                   true);
            if (!r) out.cleanup_errors.push_back(std::string(e->name()) + ": heal: " + r.error().message());
        }
        for (size_t i = 0; i < plan.method.size(); ++i)
            if (active[i]) {
                active[i] = false;
                out.faults[i].healed_at = clock.now() - t0;
            }
    }

    void collect_counters() {
        for (auto* e : engines)
            for (auto& c : e->counters())
                for (auto& f : out.faults)
                    if (f.name == c.fault) f.counters = c;
    }

    void teardown() {
        guards.clear();  // their threads read the run's state: stop them first
        for (auto& s : samplers) s->stop();
        heal_everything("teardown");
        collect_counters();
        journal_counters(true);
        for (auto* e : engines) {
            e->release();
            jwrite("engine_released", {{"engine", std::string(e->name())}});
        }
        engines.clear();
        if (targets && plan.topology.bound()) {  // what the provider changed for the run (served volumes)
            auto r = targets->release();
            jwrite("targets_released", {{"ok", r.ok()}, {"error", r ? "" : r.error().message()}}, true);
            if (!r) out.cleanup_errors.push_back(r.error().message());
        }
        if (lab && lab_ours && !opts.keep_lab) {
            auto r = hooks.lab_down(*lab);
            jwrite("lab_down", {{"lab", lab->id}, {"ok", r.ok()}, {"error", r ? "" : r.error().message()}}, true);
            if (!r) out.cleanup_errors.push_back("lab " + lab->id + ": " + r.error().message());
        } else if (lab) {
            jwrite("lab_kept", {{"lab", lab->id}});
        }
        // Everything restored: the watcher stands down; else (a heal failed, a service is not
        // back) it undoes everything once more, as if we had died: the safe side.
        if (watcher) {
            std::string not_back;
            for (auto& e : out.cleanup_errors) not_back += e + "; ";
            for (auto& f : out.faults)
                for (auto& rec : f.recoveries)
                    not_back += rec.ready ? "" : rec.service + " on " + rec.host + " not ready; ";
            if (!not_back.empty()) jwrite("watcher_undo", {{"why", not_back}}, true);
            auto r = not_back.empty() ? watcher->done() : watcher->undo();
            jwrite(not_back.empty() ? "watcher_done" : "watcher_undone",
                   {{"ok", r.ok()}, {"error", r ? "" : r.error().message()}}, true);
            if (!r && !not_back.empty()) out.cleanup_errors.push_back(r.error().message());
            watcher.reset();
        }
    }

    // Waits, guards running, until no engine has background work left (a restore awaiting
    // readiness) or `cap`; returns an abort reason.
    std::optional<std::string> wait_settled(Clock::time_point cap) {
        auto settled = [this] {
            return std::all_of(engines.begin(), engines.end(), [](Engine* e) { return e->settled(); });
        };
        while (!settled() && clock.now() < cap)
            if (auto why = wait_until(std::min(clock.now() + opts.tick, cap))) return why;
        return std::nullopt;
    }

    // Each fault's recoveries (services a power restore brought back, with RTO), journaled.
    void collect_recoveries() {
        for (size_t i = 0; i < plan.method.size(); ++i) {
            if (i >= set.of_fault.size() || !set.of_fault[i] || !out.faults[i].recoveries.empty()) continue;
            out.faults[i].recoveries = set.of_fault[i]->recoveries(i);
            for (auto& r : out.faults[i].recoveries) {
                nlohmann::json ev = recoveries_json({r})[0];
                ev["fault"] = plan.method[i].name;
                jwrite("recovery", std::move(ev), true);
            }
        }
    }

    // The verify steps: every record a probe acknowledged, read back after recovery.
    void run_verifies() {
        out.verifies = read_back(plan, samplers, t0, *targets, out.run_id, [this](const VerifyResult& r) {
            log::get("runner")->info("verify {}: {} acknowledged, {} missing{}", r.name, r.acknowledged,
                                     r.missing.size(), r.error.empty() ? "" : " (" + r.error + ")");
            jwrite("verify", verify_json(r), true);
        });
    }

    void judge_expectations() {
        out.expectations = judge_run(plan.expect, out.faults, out.verifies);
        for (auto& e : out.expectations)
            jwrite("expectation", {{"name", e.name}, {"ok", e.held}, {"message", e.message}}, true);
    }

    void add_run_guards();
    RunOutcome run();
    // The phases of run(), in order.
    bool preflight();
    bool setup_lab();
    bool bind_targets();
    bool prepare_engines();
    bool steady_before();
    void start_timeline();
    std::optional<std::string> timeline();
    bool inject_step(size_t i, nanoseconds lead);
    void heal_step(size_t i);
    void end_early(const std::optional<std::string>& abort_reason);
    std::string steady_after();
    void observe_and_judge();
    void write_verdict();
    static std::string kill_switch() { return state_root() + "/abort"; }

    // Every run that has a journal ends it with a verdict (refusals and failed setups return
    // early), so readers of the journal, and CI, never have to guess.
    void close_journal() {
        if (!journal || verdict_written) return;
        jwrite("verdict", {{"verdict", out.verdict}, {"exit_code", out.exit_code}, {"reason", out.reason}}, true);
        std::ofstream(journal->dir() + "/report.json") << outcome_json(out).dump(2) << "\n";
        jwrite("run_end", {{"clean", out.cleanup_errors.empty()}}, true);
    }
};

// Guards that watch the run from inside: abort_when on probes, off-plan drops, vanished hosts,
// cuts without effect.
void Runner::Impl::add_run_guards() {
    auto in_force = [this](const std::string& fault) {
        for (size_t i = 0; i < plan.method.size(); ++i)
            if (plan.method[i].name == fault) return active[i].load();
        return false;
    };
    for (auto& rule : plan.safety.abort_when) {
        ProbeSampler* sampler = nullptr;
        for (auto& s : samplers)
            if (s->probe().name == rule.probe) sampler = s.get();
        if (!sampler) continue;  // the loader guarantees the probe exists
        guards.push_back(std::make_unique<safety::ProbeGuard>(
            rule,
            [sampler](safety::SteadyTime since) {
                std::vector<safety::Sample> out;
                for (auto& s : sampler->recent(since)) out.push_back({s.at, s.ok, s.latency});
                return out;
            },
            t0));
    }
    guards.push_back(std::make_unique<safety::OffPlanDropGuard>(
        [this] {
            std::vector<safety::DropCount> out;
            for (auto* e : engines)
                for (auto& c : e->counters()) out.push_back({c.fault, c.dropped});
            return out;
        },
        in_force, std::chrono::milliseconds(100)));
    std::vector<std::pair<std::string, std::string>> paths;
    auto judge = targets->judge_netns();  // a fabric, or a host's own namespace (listed below if stable)
    if (!judge.empty() &&
        !std::any_of(targets->hosts().begin(), targets->hosts().end(), [&](auto& h) { return h.netns == judge; }))
        paths.emplace_back("fabric", judge);
    // A container's /proc/PID/ns/net goes with its processes, by design; a fleet's hosts may have none here.
    std::unordered_set<std::string> watched;  // pooled hosts share a namespace: watched once
    for (auto& h : targets->hosts())
        if (h.netns_stable && !h.netns.empty() && watched.insert(h.netns).second) paths.emplace_back(h.name, h.netns);
    guards.push_back(std::make_unique<safety::HostVanishedGuard>(paths, std::chrono::milliseconds(100)));
    // One canary per fault that stops or slows whole flows (a sever, a power loss, a latency): canaries.hpp.
    std::vector<safety::Canary> canaries = plan_canaries(plan, tables, *targets);
    nlohmann::json listed = nlohmann::json::array();
    for (auto& c : canaries) {
        nlohmann::json one = {{"fault", c.fault}, {"from", c.from_host}, {"to", c.to_host}, {"addr", c.to}};
        if (c.min_rtt.count()) one["min_rtt_ms"] = ms(c.min_rtt);
        listed.push_back(std::move(one));
    }
    jwrite("canaries", {{"canaries", listed}});
    auto fault_in_force = [this](const std::string& fault) {
        for (size_t i = 0; i < plan.method.size(); ++i)
            if (plan.method[i].name == fault) return active[i].load() && !ending[i].load();
        return false;
    };
    guards.push_back(std::make_unique<safety::EffectGuard>(canaries, fault_in_force, std::chrono::milliseconds(1000),
                                                           std::chrono::milliseconds(300)));
}

Runner::Runner(const plan::Plan& plan, RunOptions opts, RunHooks hooks)
    : plan_(plan), opts_(std::move(opts)), hooks_(std::move(hooks)) {}

RunOutcome Runner::run() {
    Impl impl{plan_, opts_, hooks_, opts_.clock ? *opts_.clock : RealClock::instance()};
    Clock::Member timeline(impl.clock);
    auto out = impl.run();
    impl.close_journal();
    return out;
}

// Refuses (returns false, verdict set) unless the plan passes every check that needs nothing
// from the machine: compiled tables, blast radius, protected set, abort path, the fault kinds'
// own preflight, the lock and the kill switch.
bool Runner::Impl::preflight() {
    auto refuse = [this](const std::string& why, nlohmann::json extra = nlohmann::json::object()) {
        finish(kExitNotApplied, "not_applied", why);
        extra["reason"] = out.reason;
        jwrite("refused", std::move(extra), true);
        return false;
    };
    // The plan itself first: blast radius, protected targets, the abort path.
    auto compiled = net::compile(plan);
    if (!compiled) return refuse("preflight: " + compiled.error().message());
    tables = std::move(*compiled);
    if (auto refusals = safety::check_plan(plan, tables); !refusals.empty()) {
        std::string why;
        nlohmann::json list = nlohmann::json::array();
        for (auto& r : refusals) {
            why += (why.empty() ? "" : "; ") + r.str();
            list.push_back({{"check", r.check}, {"fault", r.fault}, {"at", r.mark.str()}, {"message", r.message}});
        }
        return refuse("preflight refused the plan: " + why, {{"refusals", list}});
    }
    jwrite("preflight", preflight_json(plan, tables));
    // Each kind the plan uses checks the machine can apply it (degrade_link: sch_fq or TUN, HTB).
    for (const faults::Kind* k : faults::kinds()) {
        bool used = std::any_of(plan.method.begin(), plan.method.end(),
                                [&](auto& f) { return k->name == std::string(f.kind()); });
        if (!used || !k->preflight) continue;
        auto lines = k->preflight(plan);
        if (!lines) return refuse("preflight: " + lines.error().message());
        for (auto& line : *lines) jwrite("mechanism", {{"what", line}}, false);
    }
    auto lk = safety::RunLock::acquire(out.run_id);
    if (!lk) return refuse(lk.error().message());
    lock.emplace(std::move(*lk));
    if (std::filesystem::exists(kill_switch()))
        return refuse("kill switch " + kill_switch() + " is present; remove it to allow runs");
    if (hooks.preflight)
        if (auto r = hooks.preflight(); !r) return refuse("preflight: " + r.error().message());
    set = hooks.make_engines(plan);
    for (size_t i = 0; i < plan.method.size(); ++i)
        if (i >= set.of_fault.size() || !set.of_fault[i])
            return refuse("fault " + plan.method[i].name + " (" + plan.method[i].mark.str() + "): no engine applies " +
                          plan.method[i].kind() + " here");
    return true;
}

// What the plan's hosts are bound to, resolved on this machine (nothing touched yet), and the
// watcher that puts them back if this process dies mid-fault; false (verdict set) on failure.
bool Runner::Impl::bind_targets() {
    auto t = Wall::now();
    auto bound = hooks.bind_targets ? hooks.bind_targets(plan)
                                    : Result<std::unique_ptr<targets::Targets>>(plain_error("no binder"));
    if (!bound) {
        finish(kExitNotApplied, "not_applied", "targets: " + bound.error().message());
        jwrite("targets_refused", {{"error", out.reason}}, true);
        teardown();
        return false;
    }
    targets = std::move(*bound);
    // Protected by default on this machine: its default route, sshd, the plan's own entries.
    auto hits = safety::check_real_targets(plan, tables, *targets, safety::local_protected(), "/proc/self/ns/net");
    if (!hits.empty()) {
        std::string why;
        for (auto& h : hits) why += (why.empty() ? "" : "; ") + h;
        finish(kExitNotApplied, "not_applied", "preflight refused the plan: " + why);
        jwrite("refused", {{"reason", out.reason}, {"check", "protected"}}, true);
        teardown();
        return false;
    }
    jwrite("targets_bound",
           {{"targets", targets->describe()}, {"touched", targets->touched()}, {"ms", ms(Wall::now() - t)}}, true);
    auto spec = targets->watch_spec(::getpid(), journal->dir() + "/watcher.jsonl");
    if (spec && hooks.start_watcher) {
        auto w = hooks.start_watcher(*spec);
        if (!w) {
            finish(kExitNotApplied, "not_applied", "watcher: " + w.error().message());
            jwrite("watcher_failed", {{"error", out.reason}}, true);
            teardown();
            return false;
        }
        watcher.emplace(std::move(*w));
        jwrite("watcher", {{"pid", watcher->pid()}, {"record", journal->dir() + "/watcher.jsonl"}}, true);
    }
    // Volumes the plan degrades or makes volatile, served through the fault filesystem (their
    // services restarted onto it), with the watcher already there to take it down if we die.
    if (auto vols = plan::faultfs_volumes(plan); !vols.empty()) {
        auto tv = Wall::now();
        auto r = targets->serve_volumes(vols, journal->dir());
        jwrite(
            "volumes_served",
            {{"volumes", vols}, {"ok", r.ok()}, {"ms", ms(Wall::now() - tv)}, {"error", r ? "" : r.error().message()}},
            true);
        if (!r) {
            finish(kExitNotApplied, "not_applied", "volumes: " + r.error().message());
            teardown();
            return false;
        }
    }
    return true;
}

// The lab (reused or brought up) and its Targets view; false (verdict set, torn down) on failure.
bool Runner::Impl::setup_lab() {
    if (plan.topology.bound()) return bind_targets();
    std::string lab_id = lab::id_for(plan);
    out.lab_id = lab_id;
    if (opts.reuse_lab) {
        if (auto existing = lab::load(lab_id); existing) {
            lab.emplace(std::move(*existing));
            jwrite("lab_reused", {{"lab", lab_id}});
        }
    }
    if (!lab) {
        jwrite("lab_up_begin", {{"lab", lab_id}}, true);  // recover finds the lab from here on
        auto t = Wall::now();
        auto up = hooks.lab_up(plan);
        if (!up) {
            finish(kExitNotApplied, "not_applied", "lab: " + up.error().message());
            jwrite("lab_up_failed", {{"lab", lab_id}, {"error", out.reason}}, true);
            teardown();
            return false;
        }
        lab.emplace(std::move(*up));
        lab_ours = true;
        jwrite("lab_up",
               {{"lab", lab->id},
                {"hosts", lab->hosts.size()},
                {"services", lab->services.size()},
                {"ms", ms(Wall::now() - t)}},
               true);
    }
    targets = hooks.make_targets(plan, *lab);
    return true;
}

// All costly work happens here, before the first fault; false (verdict set, torn down) on failure.
bool Runner::Impl::prepare_engines() {
    const uint64_t run_deadline =
        monotonic_ns() + static_cast<uint64_t>((opts.settle_budget + plan.safety.max_duration).count());
    for (Engine* e : set.all()) {
        auto t = Wall::now();
        auto r = e->prepare(plan, *targets, run_deadline);
        engines.push_back(e);  // release() is safe after a partial prepare
        jwrite("engine_prepared",
               {{"engine", std::string(e->name())},
                {"ok", r.ok()},
                {"ms", ms(Wall::now() - t)},
                {"error", r ? "" : r.error().message()}},
               true);
        if (!r) {
            finish(kExitNotApplied, "not_applied", std::string(e->name()) + " engine: " + r.error().message());
            teardown();
            return false;
        }
    }
    return true;
}

// The steady state before the first fault; false (verdict set, torn down) when it is not there.
bool Runner::Impl::steady_before() {
    exec = hooks.make_executor(plan, *targets, out.run_id);
    for (auto& p : plan.probes) {
        auto s = settle(p, *exec, opts.settle_successes, opts.settle_budget, nullptr, clock);
        jwrite("steady_before", {{"probe", p.name}, {"ok", s.ok}, {"attempts", s.attempts}, {"detail", s.last.detail}});
        if (!s.ok) {
            finish(kExitNotApplied, "not_applied",
                   "the system is not in its steady state before the first fault: probe " + p.name +
                       " did not succeed " + std::to_string(opts.settle_successes) + " times in a row within " +
                       format_duration(opts.settle_budget) + " (last: " + s.last.detail + ")");
            teardown();
            return false;
        }
    }
    return true;
}

// t0, the run-wide guards, the probes' samplers.
void Runner::Impl::start_timeline() {
    t0 = clock.now();
    guards.push_back(std::make_unique<safety::DeadlineGuard>(t0, plan.safety.max_duration));
    guards.push_back(
        std::make_unique<safety::AbortFileGuard>(std::vector<std::string>{journal->dir() + "/abort", kill_switch()}));
    jwrite("timeline_start", {{"t0_mono_ns", monotonic_ns()}}, true);
    for (auto& p : plan.probes) {
        samplers.push_back(std::make_unique<ProbeSampler>(
            p, *exec,
            [this](const plan::Probe& pr, const ProbeSample& s) {
                nlohmann::json ev = {{"probe", pr.name},
                                     {"seq", s.seq},
                                     {"ok", s.ok},
                                     {"at_ms", ms(s.at - t0)},
                                     {"latency_ms", ms(s.latency)},
                                     {"detail", s.detail}};
                if (!s.ack.empty()) ev["ack"] = s.ack;  // acknowledged: the verify step reads it back
                jwrite("probe", std::move(ev));
            },
            clock));
        samplers.back()->start();
    }
    add_run_guards();
    std::vector<std::string> names;
    for (auto& g : guards) names.emplace_back(g->name());
    jwrite("guards", {{"guards", guards_json(plan, names, opts.signal_fd >= 0)}});
}

// One inject step, called `lead` before the fault takes hold (Engine::activation_lead); false
// when it failed (inject_error set).
bool Runner::Impl::inject_step(size_t i, nanoseconds lead) {
    auto& f = plan.method[i];
    auto& rec = out.faults[i];
    Engine* e = set.of_fault[i];
    auto t = clock.now();
    auto wall = Wall::now();
    const uint64_t now_mono = monotonic_ns();
    // The rule's own deadline is the backstop if this process stops: the planned end plus
    // one second, never past the run's max_duration.
    uint64_t deadline =
        now_mono + static_cast<uint64_t>(lead.count()) + static_cast<uint64_t>(f.duration.count()) + 1'000'000'000ull;
    uint64_t run_end =
        now_mono +
        static_cast<uint64_t>((t0 + std::chrono::duration_cast<Clock::duration>(plan.safety.max_duration) - t).count());
    deadline = std::min(deadline, run_end);
    ending[i] = false;
    auto r = e->inject(i, deadline);
    rec.inject_cost = Wall::now() - wall;
    rec.injected_at = t - t0 + lead;  // when it took hold
    active[i] = r.ok();
    rec.engine_report = e->fault_report(i);
    jwrite("inject",
           {{"fault", f.name},
            {"kind", rec.kind},
            {"at_ms", ms(*rec.injected_at)},
            {"cost_us", rec.inject_cost.count() / 1000.0},
            {"lead_ms", ms(lead)},
            {"deadline_mono_ns", deadline},
            {"ok", r.ok()},
            {"error", r ? "" : r.error().message()}},
           true);
    log::get("runner")->info("inject {} ({}) at T+{}", f.name, rec.kind, format_duration(*rec.injected_at));
    if (r) return true;
    rec.error = r.error().message();
    inject_error = "injecting " + f.name + " failed: " + rec.error;
    return false;
}

void Runner::Impl::heal_step(size_t i) {
    if (!active[i]) return;
    auto& f = plan.method[i];
    auto& rec = out.faults[i];
    Engine* e = set.of_fault[i];
    ending[i] = true;
    auto t = clock.now();
    auto wall = Wall::now();
    auto r = e->heal(i);
    rec.heal_cost = Wall::now() - wall;
    rec.healed_at = t - t0;
    active[i] = false;
    last_heal = *rec.healed_at;
    rec.engine_report = e->fault_report(i);
    jwrite("heal",
           {{"fault", f.name},
            {"at_ms", ms(*rec.healed_at)},
            {"cost_us", rec.heal_cost.count() / 1000.0},
            {"ok", r.ok()},
            {"error", r ? "" : r.error().message()}},
           true);
    log::get("runner")->info("heal {} at T+{}", f.name, format_duration(*rec.healed_at));
    if (!r) out.cleanup_errors.push_back("heal " + f.name + ": " + r.error().message());
}

// Every inject and heal at its planned time, guards polled in between; an abort reason or
// inject_error ends it early.
std::optional<std::string> Runner::Impl::timeline() {
    struct Step {
        nanoseconds at;
        bool inject;
        size_t fault;
    };
    std::vector<Step> steps;
    for (size_t i = 0; i < plan.method.size(); ++i) {
        steps.push_back({plan.method[i].at, true, i});
        steps.push_back({plan.method[i].at + plan.method[i].duration, false, i});
    }
    std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) {
        return a.at != b.at ? a.at < b.at : (!a.inject && b.inject);  // heals first at a tie
    });
    for (auto& st : steps) {
        // An engine that acts a lead after it is asked is asked that much early (never before t0,
        // nor before the step ahead of it: then the fault takes hold late, and says when).
        const nanoseconds lead =
            st.inject ? std::max(set.of_fault[st.fault]->activation_lead(st.fault), nanoseconds{0}) : nanoseconds{0};
        if (auto why = wait_until(t0 + std::chrono::duration_cast<Clock::duration>(st.at - std::min(lead, st.at))))
            return why;
        if (st.inject) {
            if (!inject_step(st.fault, lead)) return std::nullopt;
        } else {
            heal_step(st.fault);
        }
    }
    return std::nullopt;
}

// An abort or a failed inject: everything heals at once, then the verdict.
void Runner::Impl::end_early(const std::optional<std::string>& abort_reason) {
    auto decided = clock.now();
    auto wall = Wall::now();
    heal_everything(abort_reason ? "abort" : "inject_failed");
    auto cleared = Wall::now() - wall;
    collect_recoveries();
    if (abort_reason) {
        log::get("runner")->warn("aborting: {}", *abort_reason);
        jwrite("abort",
               {{"reason", *abort_reason},
                {"guard", abort_reason->substr(0, abort_reason->find(':'))},
                {"at_ms", ms(decided - t0)},
                {"faults_cleared_us", std::chrono::duration_cast<std::chrono::microseconds>(cleared).count()}},
               true);
        finish(kExitAborted, "aborted", *abort_reason);
    } else {
        finish(kExitNotApplied, "not_applied", inject_error);
    }
    out.elapsed = clock.now() - t0;
    for (auto& s : samplers) s->stop();
    evaluate_probes();
    teardown();
}

// Probes' steady state after the last heal; the first probe that did not come back, or "".
std::string Runner::Impl::steady_after() {
    std::string not_recovered;
    auto left = t0 + std::chrono::duration_cast<Clock::duration>(plan.safety.max_duration) - clock.now();
    auto budget = std::min<nanoseconds>(opts.settle_budget, std::max<nanoseconds>(left, nanoseconds{0}));
    for (auto& p : plan.probes) {
        auto s = settle(p, *exec, opts.settle_successes, budget, nullptr, clock);
        jwrite("steady_after", {{"probe", p.name}, {"ok", s.ok}, {"attempts", s.attempts}, {"detail", s.last.detail}});
        if (!s.ok && not_recovered.empty())
            not_recovered = "probe " + p.name +
                            " did not return to its steady state after the last heal (last: " + s.last.detail + ")";
    }
    return not_recovered;
}

// Observe after the last heal, wait for restores, then judge: SLOs, expectations, steady state.
void Runner::Impl::observe_and_judge() {
    nanoseconds observe{std::chrono::seconds(5)};
    for (auto& p : plan.probes) observe = std::max(observe, p.slo.window);
    if (opts.observe_after) observe = *opts.observe_after;
    auto end = t0 + std::chrono::duration_cast<Clock::duration>(last_heal + observe);
    auto cap =
        t0 + std::chrono::duration_cast<Clock::duration>(plan.safety.max_duration) - std::chrono::milliseconds(200);
    auto abort_reason = wait_until(std::min(end, cap));
    // Restores still bringing services back (power_loss): their RTO is part of the result.
    if (!abort_reason) abort_reason = wait_settled(cap);
    collect_recoveries();
    for (auto& s : samplers) s->stop();
    out.elapsed = clock.now() - t0;
    evaluate_probes();
    std::string not_recovered;
    if (!abort_reason) {
        not_recovered = steady_after();
        run_verifies();
    }
    judge_expectations();
    teardown();
    if (abort_reason) return finish(kExitAborted, "aborted", *abort_reason);
    for (auto& p : out.probes)
        if (!p.held)
            return finish(kExitViolated, "violated",
                          "probe " + p.probe + " broke its SLO at T+" +
                              format_duration(p.violated_at.value_or(nanoseconds{0})) + ": " + p.violation);
    for (auto& e : out.expectations)
        if (!e.held) return finish(kExitViolated, "violated", "expectation " + e.name + " not met: " + e.message);
    if (!not_recovered.empty()) return finish(kExitViolated, "violated", not_recovered);
    for (auto& f : out.faults)
        if (auto n = f.engine_report.is_object() ? f.engine_report.find("not_applied") : f.engine_report.end();
            n != f.engine_report.end() && n->is_string())
            return finish(kExitNotApplied, "not_applied",
                          "fault " + f.name + " did not take effect: " + n->get<std::string>() +
                              " (the steady state held, but the drill did not rehearse what it planned)");
    finish(kExitHeld, "held", "the steady state held through every fault and came back after");
}

// The verdict line, report.json and the copies the user asked for.
void Runner::Impl::write_verdict() {
    if (!out.cleanup_errors.empty()) {
        std::string what;
        for (auto& e : out.cleanup_errors) what += (what.empty() ? "" : "; ") + e;
        finish(kExitCleanup, "cleanup_failed", what + " (run `injector recover`)");
    }
    auto report = outcome_json(out);
    jwrite("verdict", {{"verdict", out.verdict}, {"exit_code", out.exit_code}, {"reason", out.reason}}, true);
    {
        std::ofstream f(journal->dir() + "/report.json");
        f << report.dump(2) << "\n";
    }
    if (!opts.report_dir.empty()) {
        std::error_code ec;
        auto dst = std::filesystem::path(opts.report_dir) / out.run_id;
        std::filesystem::create_directories(dst, ec);
        for (const char* f : {"journal.jsonl", "report.json"})  // never through a planted symlink
            if (auto r = copy_file_nofollow(journal->dir() + "/" + f, (dst / f).string()); !r)
                log::get("runner")->warn("could not copy the report to {}: {}", dst.string(), r.error().message());
    }
    jwrite("run_end", {{"clean", out.cleanup_errors.empty()}}, true);
}

RunOutcome Runner::Impl::run() {
    out.run_id = opts.run_id.empty() ? new_run_id() : opts.run_id;
    audit::set_run(out.run_id);  // every change to the machine from here on carries the run id
    out.plan_name = plan.name;
    out.plan_file = plan.file;
    for (auto& f : plan.method) {
        FaultRecord r;
        r.name = f.name;
        r.kind = f.kind();
        r.planned_at = f.at;
        r.planned_duration = f.duration;
        r.counters.fault = f.name;
        out.faults.push_back(r);
    }
    active.reset(new std::atomic<bool>[plan.method.size()]);
    ending.reset(new std::atomic<bool>[plan.method.size()]);
    for (size_t i = 0; i < plan.method.size(); ++i) active[i] = ending[i] = false;

    auto j = Journal::open(out.run_id);
    if (!j) {
        finish(kExitNotApplied, "not_applied", "cannot write the run journal: " + j.error().message());
        return out;
    }
    journal.emplace(std::move(*j));
    out.journal = journal->path();
    jwrite("run_start",
           {{"plan", plan.name},
            {"plan_file", plan.file},
            {"pid", getpid()},
            {"max_duration_ms", ms(plan.safety.max_duration)}},
           true);
    jwrite("plan", plan::plan_json(plan));
    jwrite("environment", environment_json());

    // Nothing on the machine changes before preflight passes.
    if (!preflight() || !setup_lab() || !prepare_engines() || !steady_before()) return out;
    start_timeline();
    auto abort_reason = timeline();
    if (abort_reason || !inject_error.empty())
        end_early(abort_reason);
    else
        observe_and_judge();
    write_verdict();
    return out;
}

}  // namespace inj::runner
