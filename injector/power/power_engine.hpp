// The power engine: power_loss faults. A power domain (or a zone, or hosts) goes dark at once:
// its classifier rule is armed (every link of its hosts cut, both ways, control included) and
// every process in its hosts' cgroups is killed (cgroup.kill) or frozen (cgroup.freeze). When
// power returns: links back, then the processes (thawed, or the lab's services started again,
// optionally staggered), then readiness awaited and each service's RTO recorded.
//
// The network part lives in the run's one NetEngine (one classifier per run): compile() gives
// power_loss faults a rule bit and this engine arms/disarms it through NetEngine::inject/heal.
// Volatile storage (unsynced writes lost at the cut) is not part of this engine yet.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lab/lab.hpp"
#include "net/net_engine.hpp"
#include "runner/engine.hpp"

namespace inj::power {

// Told which hosts just lost power (kill mode, their processes already gone): the storage engine
// throws away the writes their disks held only in a volatile cache.
class PowerLossListener {
public:
    virtual ~PowerLossListener() = default;
    virtual Result<void> power_lost(const std::vector<std::string>& hosts) = 0;
};

class PowerEngine : public Engine {
public:
    // `net` must outlive this engine and be prepared before it (RunHooks::engines lists it first,
    // so it is also healed first on abort: links come back before processes).
    explicit PowerEngine(net::NetEngine& net) : net_(net) {}
    ~PowerEngine() override { release(); }

    std::string_view name() const override { return "power"; }
    bool handles(plan::FaultKind kind) const override { return kind == plan::FaultKind::power_loss; }
    Result<void> prepare(const plan::Plan& plan, const lab::LabState& lab, uint64_t run_deadline_ns) override;
    // Arms the rule, then kills or freezes every target host's cgroup; returns once every cgroup
    // is empty (kill) or frozen (freeze), bounded.
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    // Power returns: the rule is disarmed before this returns; then, in a background thread,
    // thaw or restart (honouring restore.order and stagger) and readiness of every service of
    // the target hosts awaited (their RTO in recoveries(), complete once settled()).
    Result<void> heal(size_t index) override;
    // Brings back every dark host at once: a restore in progress skips its stagger and stops
    // awaiting readiness; hosts still dark are restarted or thawed without waiting (abort path).
    // The caller heals the net engine first.
    Result<void> heal_all() noexcept override;
    // The rule's counters are the net engine's (it reports every rule it holds).
    std::vector<FaultCounters> counters() const override { return {}; }
    std::vector<ServiceRecovery> recoveries(size_t index) const override;
    bool settled() const override { return restoring_.load() == 0; }
    void release() noexcept override;

    // When the last cut happened, CLOCK_MONOTONIC ns: the rule write (every host's packets are
    // dropped from its end on), and the kill/freeze writes (first write's start, last write's
    // end: every host's processes have their signal or are frozen from then on).
    struct CutTimes {
        uint64_t arm_begin = 0, arm_end = 0;
        uint64_t writes_begin = 0, writes_end = 0;
    };
    CutTimes last_cut() const { return last_cut_; }
    // Called at every kill-mode cut, after the processes are gone; must outlive this engine's use.
    void set_power_loss_listener(PowerLossListener* l) { listener_ = l; }

    // The lab as this engine last saw it: service pids change when a restore restarts them.
    // Read it once settled().
    const lab::LabState& lab() const { return lab_; }

private:
    struct Dark {
        std::vector<std::string> hosts;  // target hosts, in restore order
        // The cgroups the cut writes: one per whole power domain (its subtree holds every host
        // of it), one per host the target names outside those. Freeze: one per host, so the
        // restore can thaw hosts one by one.
        std::vector<std::string> cut_dirs;
        bool dark = false;               // cut and not yet restored
        std::vector<ServiceRecovery> recoveries;  // guarded by mu_
    };
    Result<void> cut(size_t index);
    // Brings the fault's hosts back. await: stagger and readiness as planned (until cancel_).
    void restore(size_t index, bool await);
    void stop_restorers() noexcept;

    net::NetEngine& net_;
    PowerLossListener* listener_ = nullptr;
    const plan::Plan* plan_ = nullptr;
    lab::LabState lab_;
    std::vector<std::optional<Dark>> faults_;  // per plan.method index; set for power_loss
    mutable std::mutex mu_;                    // recoveries and lab_ while restores run
    std::vector<std::thread> restorers_;
    std::atomic<int> restoring_{0};
    std::atomic<bool> cancel_{false};          // hurry every restore: no stagger, no waiting
    CutTimes last_cut_;
};

// Hosts a power_loss darkens, in the order power returns: restore.order, then the other target
// hosts in plan order.
std::vector<std::string> restore_order(const plan::Plan& plan, const plan::Fault& f);

}  // namespace inj::power
