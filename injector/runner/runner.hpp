// The experiment runner: one run of a plan, from the lock to the verdict.
//
//   lock -> preflight -> lab up -> engines prepare -> steady state before (else exit 3)
//   -> probes start -> timeline of inject/heal (guards polled every tick) -> observe after heal
//   -> steady state after -> verdict -> heal all, release, lab down -> summary
//
// Every step is journaled as it happens. The runner owns no kernel object itself: engines and
// the lab do, and the runner guarantees they are released on every path.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "lab/lab.hpp"
#include "plan/model.hpp"
#include "runner/engine.hpp"
#include "runner/observer.hpp"
#include "runner/probe.hpp"
#include "runner/slo.hpp"
#include "runner/verify.hpp"
#include "safety/guards.hpp"
#include "targets/targets.hpp"
#include "targets/watcher.hpp"

namespace inj::runner {

struct RunOptions {
    std::string run_id;        // empty: new_run_id()
    bool keep_lab = false;     // leave the lab up after the run
    bool reuse_lab = true;     // use the plan's lab if it is already up
    int settle_successes = 3;  // consecutive probe successes that make "steady"
    std::chrono::nanoseconds settle_budget{std::chrono::seconds(30)};
    // Probing continues this long after the last heal (default: the longest SLO window, min 5s).
    std::optional<std::chrono::nanoseconds> observe_after;
    std::chrono::milliseconds tick{20};   // how often guards and signals are checked
    std::string report_dir;               // also copy journal and report.json here
    int signal_fd = -1;                   // signalfd for SIGINT/SIGTERM/SIGHUP (-1: none)
    std::vector<RunObserver*> observers;  // see every journal event as it is written
    // While faults can be in force, the engines' counters are journaled this often ("counters").
    std::chrono::milliseconds counters_every{1000};
    // The timeline's time (t0, every planned instant, probes' pacing, guards' checks). Null: the
    // machine's. Unit tests give a SimClock, so their verdicts do not depend on the machine's load.
    Clock* clock = nullptr;
};

struct FaultRecord {
    std::string name;
    std::string kind;
    std::chrono::nanoseconds planned_at{0};
    std::chrono::nanoseconds planned_duration{0};
    std::optional<std::chrono::nanoseconds> injected_at;  // relative to t0
    std::optional<std::chrono::nanoseconds> healed_at;
    std::chrono::nanoseconds inject_cost{0};  // wall time of the inject call
    std::chrono::nanoseconds heal_cost{0};
    FaultCounters counters;
    std::vector<ServiceRecovery> recoveries;  // services the heal brought back (power_loss), with RTO
    nlohmann::json engine_report;             // Engine::fault_report after inject/heal (null: none)
    std::string error;
};

struct RunOutcome {
    std::string run_id;
    std::string plan_name;
    std::string plan_file;
    int exit_code = 0;
    std::string verdict;  // held | violated | aborted | not_applied | cleanup_failed
    std::string reason;   // one line: why this verdict
    std::vector<FaultRecord> faults;
    std::vector<SloReport> probes;
    std::vector<VerifyResult> verifies;     // read-backs of acknowledged records (RPO)
    std::vector<Expectation> expectations;  // expect.rto / expect.rpo, judged
    std::vector<std::string> cleanup_errors;
    std::chrono::nanoseconds elapsed{0};  // t0 .. end of observation
    std::string journal;
    std::string lab_id;
};

// The parts of a run that touch the machine, replaceable for tests.
struct RunHooks {
    std::function<Result<lab::LabState>(const plan::Plan&)> lab_up;
    std::function<Result<void>(const lab::LabState&)> lab_down;
    std::function<std::unique_ptr<ProbeExecutor>(const plan::Plan&, const targets::Targets&, const std::string& run_id)>
        make_executor;
    // What the plan hosts are bound to, for the engines (the lab's view by default).
    std::function<std::unique_ptr<targets::Targets>(const plan::Plan&, const lab::LabState&)> make_targets;
    // For a plan whose hosts are bound to what exists (no lab): resolves every binding on this
    // machine, touching nothing; an error refuses the run (exit 3).
    std::function<Result<std::unique_ptr<targets::Targets>>(const plan::Plan&)> bind_targets;
    // Starts the process that undoes faults on bound targets if the runner dies (none: no watcher).
    std::function<Result<targets::Watcher>(const targets::WatchSpec&)> start_watcher;
    // The engines of the run, one per fault (the registry's by default: faults::make_engines).
    std::function<EngineSet(const plan::Plan&)> make_engines;
    std::function<Result<void>()> preflight;  // environment checks; an error refuses the run
};

// The real hooks: lab::up/down, TargetsProbeExecutor, targets::bind, the lab's Targets, the registry's engines,
// safety::check_environment.
RunHooks default_hooks();

class Runner {
public:
    Runner(const plan::Plan& plan, RunOptions opts, RunHooks hooks);
    RunOutcome run();

private:
    struct Impl;
    const plan::Plan& plan_;
    RunOptions opts_;
    RunHooks hooks_;
};

}  // namespace inj::runner
