// The narrow interfaces one fault kind's engine drives another facility through. power_loss is
// their user: it cuts links (LinkRules, the classifier), and drops unsynced writes (UnsyncedWrites,
// the fault filesystems), in an order that is code in the power engine, not engine order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::faults {

// Arms and disarms the classifier rules of one fault (its own rule and the cascades it feeds).
class LinkRules {
public:
    virtual ~LinkRules() = default;
    virtual Result<void> arm(size_t fault, uint64_t deadline_ns) = 0;
    virtual Result<void> disarm(size_t fault) = 0;
};

// Throws away what the given hosts' volatile volumes held only in a write cache (a power cut);
// called once their processes are gone.
class UnsyncedWrites {
public:
    virtual ~UnsyncedWrites() = default;
    virtual Result<void> lose_unsynced(const std::vector<std::string>& hosts) = 0;
};

}  // namespace inj::faults
