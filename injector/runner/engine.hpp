// The seam between the runner's timeline and the things that change the kernel. The registry
// (faults/registry.hpp) gives each fault kind the engine that applies it; the runner gets them
// as an EngineSet and names no kind. prepare() does all the
// expensive work before the first fault (attach programs, install rules disarmed), so inject()
// and heal() are cheap and constant-time. (A power_loss heal brings links back at once and
// leaves restarting services and awaiting their readiness to a background thread, see
// settled(): the time that takes is the RTO the run measures.)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/time.hpp"  // monotonic_ns(), declared here before; engines use it for deadlines
#include "plan/model.hpp"

namespace inj::targets {
class Targets;
}

namespace inj {

struct FaultCounters {
    std::string fault;  // fault name
    uint64_t dropped = 0;
    uint64_t passed = 0;
    uint64_t expired = 0;
};

// A service an engine brought back after a fault (power_loss restore): when it was ready again.
struct ServiceRecovery {
    std::string service;
    std::string host;
    int pid = 0;                      // the process now serving (new after kill, same after freeze)
    std::chrono::nanoseconds rto{0};  // from the start of the restore (power back) to ready
    bool ready = false;               // false: not ready within its check's timeout (see error)
    std::string error;
    bool awaited = true;  // false: restored in a hurry (the run was ending), not waited for
};

class Engine {
public:
    virtual ~Engine() = default;
    virtual std::string_view name() const = 0;
    // Everything costly: load, attach, install. run_deadline is the monotonic instant (ns, as
    // bpf_ktime_get_ns) past which nothing this engine does may stay in force.
    // The engine acts on `targets` (the plan hosts' bindings), which outlives it.
    virtual Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) = 0;
    // Puts fault number `index` of plan.method in force until deadline_ns.
    virtual Result<void> inject(size_t index, uint64_t deadline_ns) = 0;
    // How long after inject(index) is called the fault takes hold (fleet: the agreed instant is
    // publish + a lead). The runner calls inject that much before the planned instant, so the
    // fault is in force at its planned time and for its planned duration.
    virtual std::chrono::nanoseconds activation_lead(size_t /*index*/) const { return {}; }
    virtual Result<void> heal(size_t index) = 0;
    // Heals everything; used on abort and teardown. Never throws.
    virtual Result<void> heal_all() noexcept = 0;
    virtual std::vector<FaultCounters> counters() const = 0;
    // What heal(index) brought back and when; empty for faults that restart nothing. Complete
    // once settled() is true.
    virtual std::vector<ServiceRecovery> recoveries(size_t /*index*/) const { return {}; }
    // False while work a heal started goes on in the background (a power restore restarting
    // services and awaiting their readiness): the runner keeps its guards running meanwhile and
    // waits for it before judging the run.
    virtual bool settled() const { return true; }
    // Engine-specific figures of fault `index` for the report (fleet: activation spread), or null.
    // A string under "not_applied" says the fault, injected and healed on time, never took effect
    // (a crash point that never fired): a run that otherwise held then ends not_applied (exit 3).
    virtual nlohmann::json fault_report(size_t /*index*/) const { return nullptr; }
    // Detaches and releases everything prepare() created.
    virtual void release() noexcept = 0;
};

// The engines of one run. `shared` are the facilities several kinds use (the classifier, the
// fault filesystems' controls): prepared first, healed first on abort (links and disks healthy
// before anything restarts on them) and released first. `own` are engines of one kind each (a
// power restore, a stopped service), which may drive the shared ones through narrow interfaces.
struct EngineSet {
    std::vector<std::unique_ptr<Engine>> shared;
    std::vector<std::unique_ptr<Engine>> own;
    std::vector<Engine*> of_fault;  // plan.method index -> the engine that applies it
    std::vector<Engine*> all() const {
        std::vector<Engine*> v;
        for (auto& e : shared) v.push_back(e.get());
        for (auto& e : own) v.push_back(e.get());
        return v;
    }
};

}  // namespace inj
