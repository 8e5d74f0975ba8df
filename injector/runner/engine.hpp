// The seam between the runner's timeline and the things that change the kernel. Each engine
// (net now; power and storage later) claims the fault kinds it handles. prepare() does all the
// expensive work before the first fault (attach programs, install rules disarmed), so inject()
// and heal() are cheap and constant-time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

class Engine {
public:
    virtual ~Engine() = default;
    virtual std::string_view name() const = 0;
    virtual bool handles(plan::FaultKind kind) const = 0;
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
    // Detaches and releases everything prepare() created.
    virtual void release() noexcept = 0;
};

// CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads.
uint64_t monotonic_ns();

}  // namespace inj
