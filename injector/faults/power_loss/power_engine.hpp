// The power engine: power_loss faults. A power domain (or a zone, or hosts) goes dark at once:
// its classifier rules are armed (every link of its hosts cut, both ways, control included, and
// the links and switches it feeds), every process in its hosts' cgroups is killed (cgroup.kill)
// or frozen (cgroup.freeze), and the volatile caches of its disks are lost. When power returns:
// links back, then the processes (thawed, or the services started again as the target provider
// defines them, optionally staggered), then readiness awaited and each service's RTO recorded.
//
// It composes narrow interfaces, in this order, which is the engine's own code: LinkRules (the
// classifier), the hosts' cgroups (targets/cgroups.hpp), UnsyncedWrites (the fault
// filesystems), and the provider's restart and readiness (targets::Targets).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "faults/parts.hpp"
#include "faults/restorer.hpp"
#include "runner/engine.hpp"
#include "targets/targets.hpp"

namespace inj::power {

class PowerEngine : public Engine {
public:
    // `links` and `disks` (null: no volatile volumes) must outlive this engine.
    PowerEngine(faults::LinkRules& links, faults::UnsyncedWrites* disks) : links_(links), disks_(disks) {}
    ~PowerEngine() override { release(); }

    std::string_view name() const override { return "power"; }
    Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) override;
    // Arms the rules, then kills or freezes every target host's cgroup; returns once every
    // cgroup is empty (kill) or frozen (freeze), bounded; then drops the volatile caches (kill).
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    // Power returns: the rules are disarmed before this returns; then, in a background thread,
    // thaw or restart (honouring restore.order and stagger) and readiness of every service of
    // the target hosts awaited (their RTO in recoveries(), complete once settled()).
    Result<void> heal(size_t index) override;
    // Brings back every dark host at once: links first, then processes; a restore in progress
    // skips its stagger and stops awaiting readiness (abort path).
    Result<void> heal_all() noexcept override;
    // The rules' counters are the classifier's (the net engine reports every rule it holds).
    std::vector<FaultCounters> counters() const override { return {}; }
    std::vector<ServiceRecovery> recoveries(size_t index) const override;
    bool settled() const override { return restorers_.settled(); }
    // The crash point (what fired, how long the loss and the dark took) and, per volatile
    // volume, what the cut lost (the daemons' accounts); null for a fault with neither.
    nlohmann::json fault_report(size_t index) const override;
    void release() noexcept override;

    // When the last cut happened, CLOCK_MONOTONIC ns: the rule write (every host's packets are
    // dropped from its end on), and the kill/freeze writes (first write's start, last write's
    // end: every host's processes have their signal or are frozen from then on).
    struct CutTimes {
        uint64_t arm_begin = 0, arm_end = 0;
        uint64_t writes_begin = 0, writes_end = 0;
        uint64_t losses_end = 0;  // every dark host's volatile volumes had their loss applied
    };
    CutTimes last_cut() const { return last_cut_; }

private:
    struct CrashWatch;
    struct Dark {
        std::vector<std::string> hosts;  // target hosts, in restore order
        // A partial view (a fleet agent's host): how long after power returns its first host's
        // turn comes in the whole restore order (its position times restore.stagger), so the
        // agents of a fleet bring their hosts back staggered as one local restore would.
        std::chrono::nanoseconds turn{0};
        // The cgroups the cut writes: one per whole power domain (its subtree holds every host
        // of it), one per host the target names outside those. Freeze: one per host, so the
        // restore can thaw hosts one by one.
        std::vector<std::string> cut_dirs;
        std::vector<targets::ServiceInstance> at_cut;  // what ran on the hosts when power went
        bool dark = false;                             // cut and not yet restored
        std::vector<ServiceRecovery> recoveries;       // guarded by mu_
        std::shared_ptr<CrashWatch> crash;             // a crash-point fault: its watcher
        nlohmann::json lost;                           // the volumes' accounts of the cut; guarded by mu_
    };
    // A crash point armed on the dark hosts' volatile volumes and the thread that waits for it
    // to fire, then takes the hosts dark (power_loss `at: {...}`).
    struct CrashWatch {
        std::thread thread;
        std::atomic<bool> stop{false};
        size_t volumes = 0;                       // armed on this many volumes
        std::optional<faults::CrashFired> fired;  // guarded by mu_
        uint64_t dark_ns = 0;                     // CLOCK_MONOTONIC once the hosts were dark
        std::string error;                        // the cut after it fired failed; guarded by mu_
        bool ended = false;                       // disarmed at heal; guarded by mu_
    };
    Result<void> cut(size_t index);
    // inject() of a crash-point fault: arm, and start the watcher.
    Result<void> arm_crash(size_t index, uint64_t deadline_ns);
    void watch_crash(size_t index, uint64_t deadline_ns);
    // Stops the watcher and clears the crash points (a volume that fired gets power back).
    void end_crash(size_t index);
    nlohmann::json crash_report(const Dark& d) const;
    // Brings the fault's hosts' processes back. await: stagger and readiness as planned (until
    // the restores are cancelled).
    void restore(size_t index, bool await);
    // The restore of one host: its services back (restarted or thawed), or why not.
    Result<std::vector<targets::ServiceInstance>> bring_back(const plan::Fault& f, const std::string& host);

    faults::LinkRules& links_;
    faults::UnsyncedWrites* disks_ = nullptr;
    const plan::Plan* plan_ = nullptr;
    targets::Targets* targets_ = nullptr;
    std::vector<std::optional<Dark>> faults_;  // per plan.method index; set for power_loss
    mutable std::mutex mu_;                    // recoveries while restores run
    faults::Restorers restorers_;              // background restores; cancelled: hurry
    CutTimes last_cut_;
};

// Hosts a power_loss darkens, in the order power returns: restore.order, then the other target
// hosts in plan order.
std::vector<std::string> restore_order(const plan::Plan& plan, const plan::Fault& f);

// One power_loss's reports from several hosts (fleet mode: each agent's engine darkens its own
// host) as one local report: the crash point that fired first, with every host's armed volumes,
// and every host's lost accounts. The reports come from other machines: a field of the wrong
// type is left out, and a host speaks only for itself (its key names it, not the report).
nlohmann::json merge_reports(const std::map<std::string, nlohmann::json>& by_host);

}  // namespace inj::power
