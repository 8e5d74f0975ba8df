// The kernel's own I/O throttling of a real block device, for the processes of one cgroup:
// cgroup v2 `io.max` where the io controller is available, else cgroup v1
// `blkio.throttle.{read,write}_{bps,iops}_device` (this machine: v2 has no controllers). The
// faultfs token bucket throttles a directory; this throttles a device (a volume on its own disk)
// for the processes that do the I/O, including direct I/O that no filesystem above sees.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::storage {

struct BlkLimits {
    uint64_t read_bps = 0, write_bps = 0, read_iops = 0, write_iops = 0;  // 0 = unlimited
};

class BlkThrottle {
public:
    // Makes the cgroup injector-<name> in the hierarchy that can throttle, with `limits` on the
    // block device `device` (a path such as /dev/loop3, or major:minor).
    static Result<BlkThrottle> create(const std::string& name, const std::string& device, const BlkLimits& limits);
    BlkThrottle(BlkThrottle&& o) noexcept;
    BlkThrottle& operator=(BlkThrottle&&) = delete;
    ~BlkThrottle();  // remove(), logged on failure

    // Moves a process (and its future children) into the throttled cgroup.
    Result<void> add(pid_t pid);
    // New limits, in force at once (0 lifts one).
    Result<void> set(const BlkLimits& limits);
    // Moves every process back to the root of the hierarchy and removes the cgroup. Idempotent.
    Result<void> remove();

    const std::string& dir() const { return dir_; }
    // "cgroup v2 io.max" or "cgroup v1 blkio.throttle".
    std::string mechanism() const { return v2_ ? "cgroup v2 io.max" : "cgroup v1 blkio.throttle"; }

private:
    BlkThrottle(std::string dir, std::string root, std::string devno, bool v2)
        : dir_(std::move(dir)), root_(std::move(root)), devno_(std::move(devno)), v2_(v2) {}
    std::string dir_, root_, devno_;  // devno "major:minor"
    bool v2_ = false;
};

// "major:minor" of a block device path (or the argument itself when it already is one).
Result<std::string> device_number(const std::string& device);

}  // namespace inj::storage
