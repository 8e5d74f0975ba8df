// The storage engine: degrade_storage faults, and the storage half of power_loss.
//
// The target provider serves every degraded or volatile volume through a faultfs daemon (the
// lab starts them before the services; targets::Volume names each daemon's control file). This engine maps each
// daemon's control block and, at every inject and heal, publishes the sum of the faults in force on that volume: one
// seqlock write, read by the daemon on its next operation (no remount, nothing restarted). The run's pid is the owner
// in each block, so if the runner dies the daemons clear every fault by themselves; each block
// also carries a deadline past which the daemon ignores the faults.
//
// Volatile volumes: volatile mode, with the plan's loss model, is set from prepare() to release();
// at a kill-mode power_loss the power engine calls lose_unsynced() right after the processes are
// gone, and the dark hosts' daemons throw away what the model says was not yet durable. A crash
// point (power_loss `at: {...}`) is armed in the same blocks and kept across every publish.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "faultfs/control.hpp"
#include "faults/parts.hpp"
#include "runner/engine.hpp"

namespace inj::storage {

class StorageEngine : public Engine, public faults::UnsyncedWrites {
public:
    ~StorageEngine() override { release(); }

    std::string_view name() const override { return "storage"; }
    Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) override;
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    Result<void> heal(size_t index) override;
    Result<void> heal_all() noexcept override;
    // Per degrade_storage fault: dropped = errors injected, passed = operations seen, on its
    // volumes while it was in force (two faults in force together on one volume both count them).
    std::vector<FaultCounters> counters() const override;
    void release() noexcept override;

    Result<void> lose_unsynced(const std::vector<std::string>& hosts) override;
    // Crash points and lost accounts (crash_points.cpp).
    Result<size_t> arm_crash(const std::vector<std::string>& hosts, const faultfs::CrashRule& rule) override;
    std::optional<faults::CrashFired> crash_fired(const std::vector<std::string>& hosts,
                                                  std::chrono::milliseconds wait) override;
    void disarm_crash(const std::vector<std::string>& hosts) override;
    nlohmann::json lost_accounts(const std::vector<std::string>& hosts) const override;

private:
    struct Volume {
        std::string host, volume, path;
        std::string control;  // the daemon's control file (its lost account sits next to it)
        faultfs::Control ctl;
        bool is_volatile = false;
        plan::VolumeLoss loss;        // the plan's loss model (volatile volumes)
        faultfs::CrashPoint crash{};  // armed crash point, kept in every publish; ops 0 = none
        uint64_t cuts_before = 0;     // the daemon's cut count when this run took the volume
    };
    struct Active {
        std::vector<size_t> volumes;  // indexes into volumes_
        bool on = false;
        uint64_t deadline_ns = 0;
        // Errors and operations on its volumes while this fault was in force (a volume another
        // fault degrades at another time does not count here: the off-plan guard reads these).
        uint64_t errors = 0, ops = 0;            // closed periods
        uint64_t base_errors = 0, base_ops = 0;  // volume totals when the open period began
    };
    // Sum over the fault's volumes of the daemon counters (errors injected, operations).
    std::pair<uint64_t, uint64_t> totals(const Active& a) const;
    faultfs::Settings compose(size_t volume) const;
    // One seqlock writer per block: the power engine's crash watcher publishes from its thread.
    void publish(size_t volume);
    bool on_hosts(const Volume& v, const std::vector<std::string>& hosts) const;

    const plan::Plan* plan_ = nullptr;
    uint64_t run_deadline_ns_ = 0;
    std::vector<Volume> volumes_;
    std::vector<std::optional<Active>> faults_;  // per plan.method index; set for degrade_storage
    mutable std::mutex publish_mu_;              // publish() and the crash fields of volumes_
};

// The daemon's loss settings for the plan's loss model.
faultfs::Loss to_loss(const plan::VolumeLoss& l);

// One line for `injector plan`: "fsync 40ms±20ms, write 5ms; EIO p=0.2 on write at member/wal/*".
std::string describe(const plan::StorageDegrade& sd);
// The control settings one degrade_storage fault stands for (no volatile flag, no deadline).
faultfs::Settings settings_of(const plan::StorageDegrade& sd);
// `b` added to `a`: latencies and limits take the harsher value, flags add up, error rules are
// appended (up to the block's room).
void merge(faultfs::Settings& a, const faultfs::Settings& b);

}  // namespace inj::storage
