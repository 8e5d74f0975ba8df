// Preflight: what must be true before the run touches anything. A refusal here exits 3 and
// leaves the machine exactly as it was.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "plan/model.hpp"

namespace inj::safety {

struct Finding {
    std::string check;    // "capability", "bpffs", "btf", "lock", ...
    std::string message;  // what is missing and how to get it
};

// Capabilities (read with capget, not inferred from the uid), BTF and the cgroup2 mount the
// lab and the net engine need. Mounts bpffs at /sys/fs/bpf if it is missing (the only change
// preflight may make; it is harmless and expected by every BPF tool). Empty when all is well.
std::vector<Finding> check_environment();

// True when the calling process holds capability `cap` in its effective set.
bool has_capability(int cap);

// One run per machine: an exclusive flock on <state>/lock, holding the run id and pid. Released
// when the object dies, or by the kernel when the process dies (so kill -9 never leaves a stale
// lock).
class RunLock {
public:
    static Result<RunLock> acquire(const std::string& run_id);
    RunLock(RunLock&&) noexcept = default;
    RunLock& operator=(RunLock&&) = delete;
    ~RunLock();

    struct Holder {
        std::string run_id;
        int pid = 0;
    };
    // Who holds the lock now, if anyone.
    static std::optional<Holder> holder();

private:
    explicit RunLock(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;  // holds the flock; closing it releases the machine
};

}  // namespace inj::safety
