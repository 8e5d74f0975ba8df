// Stopping and resuming whole hosts through their cgroups: the writes a power cut or a hung host
// is made of, and waiting for the kernel to have done them. Used by the kinds that act on a
// host's processes (power_loss) whatever provider bound the host.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::targets {

// Writes `value` to a cgroup control file (cgroup.kill, cgroup.freeze) in one write().
Result<void> write_control(const std::string& path, const std::string& value);
// A key of cgroup.events ("populated", "frozen"); -1 when the file or key is missing.
int cgroup_event(const std::string& dir, const std::string& key);
// Waits until every cgroup in `dirs` shows cgroup.events `key` == want, or `bound` passes;
// names the ones that did not.
Result<void> await_cgroups(const std::vector<std::string>& dirs, const std::string& key, int want,
                           std::chrono::nanoseconds bound = std::chrono::seconds(5));

// SCHED_FIFO for the calling thread while in scope, then its old policy back; nothing when the
// kernel refuses (no CAP_SYS_NICE, an RT budget of 0).
class RealtimeScope {
public:
    RealtimeScope();
    ~RealtimeScope();
    RealtimeScope(const RealtimeScope&) = delete;
    RealtimeScope& operator=(const RealtimeScope&) = delete;

private:
    int old_policy_ = -1;
    int old_priority_ = 0;
    bool raised_ = false;
};

}  // namespace inj::targets

namespace inj::targets {
// True when `pid` is a member of cgroup `dir` or of one below it (read from cgroup.procs files):
// the check before signalling a process that a target is said to hold. Never true for an empty
// `dir`.
bool pid_in_cgroup(pid_t pid, const std::string& dir);
}  // namespace inj::targets
