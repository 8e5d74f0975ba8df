// The seam between the runner's timeline and the things that change the kernel. Each engine
// (net, power; storage later) claims the fault kinds it handles. prepare() does all the
// expensive work before the first fault (attach programs, install rules disarmed), so inject()
// and heal() are cheap and constant-time. (A power_loss heal brings links back at once and
// leaves restarting services and awaiting their readiness to a background thread, see
// settled(): the time that takes is the RTO the run measures.)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"  // monotonic_ns(), declared here before; engines use it for deadlines
#include "common/result.hpp"
#include "plan/model.hpp"

namespace inj::lab { struct LabState; }

namespace inj {

struct FaultCounters {
    std::string fault;        // fault name
    uint64_t dropped = 0;
    uint64_t passed = 0;
    uint64_t expired = 0;
};

// A service an engine brought back after a fault (power_loss restore): when it was ready again.
struct ServiceRecovery {
    std::string service;
    std::string host;
    int pid = 0;                       // the process now serving (new after kill, same after freeze)
    std::chrono::nanoseconds rto{0};   // from the start of the restore (power back) to ready
    bool ready = false;                // false: not ready within its check's timeout (see error)
    std::string error;
};

class Engine {
public:
    virtual ~Engine() = default;
    virtual std::string_view name() const = 0;
    // The fault kinds this engine injects and heals (the runner gives each fault to one engine).
    virtual bool handles(plan::FaultKind kind) const = 0;
    // The fault kinds this engine takes part in, so it must be prepared when the plan has one:
    // the net engine installs the network part of power_loss, which the power engine drives.
    virtual bool serves(plan::FaultKind kind) const { return handles(kind); }
    // Everything costly: load, attach, install. run_deadline is the monotonic instant (ns, as
    // bpf_ktime_get_ns) past which nothing this engine does may stay in force.
    virtual Result<void> prepare(const plan::Plan& plan, const lab::LabState& lab,
                                 uint64_t run_deadline_ns) = 0;
    // Puts fault number `index` of plan.method in force until deadline_ns.
    virtual Result<void> inject(size_t index, uint64_t deadline_ns) = 0;
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
    virtual nlohmann::json fault_report(size_t /*index*/) const { return nullptr; }
    // Detaches and releases everything prepare() created.
    virtual void release() noexcept = 0;
};

}  // namespace inj
