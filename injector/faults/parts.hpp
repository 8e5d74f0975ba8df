// The narrow interfaces one fault kind's engine drives another facility through. power_loss is
// their user: it cuts links (LinkRules, the classifier), and drops unsynced writes and places crash
// points (UnsyncedWrites, the fault filesystems), in an order that is code in the power engine, not engine order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "faultfs/crash_point.hpp"

namespace inj::faults {

// Arms and disarms the classifier rules of one fault (its own rule and the cascades it feeds).
class LinkRules {
public:
    virtual ~LinkRules() = default;
    virtual Result<void> arm(size_t fault, uint64_t deadline_ns) = 0;
    virtual Result<void> disarm(size_t fault) = 0;
};

// A crash point that fired on one volume (its loss applied there).
struct CrashFired {
    std::string host, volume;
    faultfs::FiredInfo info;
};

// Throws away what the given hosts' volatile volumes held only in a write cache (a power cut);
// called once their processes are gone. Also their crash points (a power cut placed at an
// operation) and the account of what each cut lost.
class UnsyncedWrites {
public:
    virtual ~UnsyncedWrites() = default;
    virtual Result<void> lose_unsynced(const std::vector<std::string>& hosts) = 0;
    // Arms `rule` on every volatile volume of `hosts`; returns how many volumes were armed.
    virtual Result<size_t> arm_crash(const std::vector<std::string>& hosts, const faultfs::CrashRule& rule) = 0;
    // The first armed volume of `hosts` whose crash point fired and whose loss is applied; waits
    // up to `wait` for one (woken at once by the daemon), nullopt if none by then.
    virtual std::optional<CrashFired> crash_fired(const std::vector<std::string>& hosts,
                                                  std::chrono::milliseconds wait) = 0;
    // Clears the crash points of `hosts`: a volume that fired gets power back (its loss stays).
    virtual void disarm_crash(const std::vector<std::string>& hosts) = 0;
    // What the volatile volumes of `hosts` lost at their last cut in this run, per volume and
    // file (the daemons' accounts): [{ host, volume, account, summary: [lines] }].
    virtual nlohmann::json lost_accounts(const std::vector<std::string>& hosts) const = 0;
};

}  // namespace inj::faults
