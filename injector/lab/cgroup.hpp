// cgroup v2 helpers for the lab: where the hierarchy is mounted, making a lab's directories,
// killing everything inside one and removing it. Internal to the lab.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::lab::cgroup {

// Mount point of the cgroup2 hierarchy, from /proc/mounts (the unified one on hybrid systems).
Result<std::string> v2_mount();
// mkdir -p; an existing directory is fine.
Result<void> make(const std::string& dir);
// Pids listed in dir/cgroup.procs (this cgroup only, not its children). Empty if it is gone.
std::vector<pid_t> procs(const std::string& dir);
// True while any process lives in dir or below (cgroup.events "populated 1").
bool populated(const std::string& dir);
// Kills every process in dir and below (cgroup.kill, or SIGKILL per pid where the kernel lacks
// it), then waits up to `bound` for the subtree to empty. A missing dir is success.
Result<void> kill_all(const std::string& dir, std::chrono::milliseconds bound);
// Removes dir and every cgroup below it, deepest first. A missing dir is success.
Result<void> remove_tree(const std::string& dir);

}  // namespace inj::lab::cgroup
