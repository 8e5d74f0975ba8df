// The watcher: a small process that outlives the runner and puts real targets back if the runner
// dies in the middle of a fault (kill -9, OOM, a crash). It is started with what to undo (frozen
// cgroups to thaw, commands that start killed containers or services again), watches the runner
// through a pidfd, and either hears "done" (the runner restored everything itself) or, when the
// runner dies without saying it, thaws and restarts, appending what it did to a record file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace inj::targets {

struct WatchSpec {
    pid_t runner = 0;                               // the process whose death means "undo"
    std::vector<std::string> thaw;                  // cgroup dirs: v1 freezer or v2 (cgroup.freeze)
    std::vector<std::vector<std::string>> restart;  // argv each, run in order after the thaws
    std::string record;                             // JSON lines appended here (absolute path)
    int restart_timeout_s = 60;                     // per command, and for the containers
    // Containers to bring back to running (ensure_running), after the thaws, before `restart`.
    std::vector<std::string> container_runtime;  // e.g. podman_runtime().command
    std::vector<std::string> containers;         // ids
    // Volumes served through the fault filesystem: what holds them is stopped first (containers
    // bind the mount, a process host's cgroup has files open through it), then each mountpoint
    // is unmounted if a faultfs is still mounted there, then everything is started again above.
    std::vector<std::string> stop_containers;  // ids, stopped through container_runtime
    std::vector<std::string> kill_cgroups;     // cgroup v2 dirs: cgroup.kill, then wait until empty
    std::vector<std::string> unmount;          // faultfs mountpoints (absolute)
    // A directory of the runner's own under state_root() (an agent's served-volume sockets and
    // logs), removed once everything above is undone without a failure.
    std::string scratch;
};

// The spec as one line of JSON (what the runner writes to the watcher's stdin), and back. The
// parser checks every field: thaw dirs absolute and not a hierarchy's root, restart commands
// non-empty, the record path absolute, the scratch directory strictly under state_root().
std::string spec_to_json(const WatchSpec& spec);
Result<WatchSpec> spec_from_json(const std::string& text);

// Thaws one cgroup directory: v1 (freezer.state <- THAWED) or v2 (cgroup.freeze <- 0), then waits
// up to `bound` until the kernel reports it thawed. Refuses a root of a hierarchy or a directory
// not under a mounted cgroup hierarchy.
Result<void> thaw_cgroup(const std::string& dir, std::chrono::milliseconds bound = std::chrono::seconds(5));
// Freezes the same way (v1 FROZEN / v2 cgroup.freeze 1) and waits until frozen.
Result<void> freeze_cgroup(const std::string& dir, std::chrono::milliseconds bound = std::chrono::seconds(5));
// Kills every process of a cgroup v2 directory (cgroup.kill) and waits until it is empty, up to
// `bound`. The same refusals as thaw_cgroup.
Result<void> kill_cgroup_and_wait(const std::string& dir, std::chrono::milliseconds bound = std::chrono::seconds(5));
// "FROZEN", "FREEZING", "THAWED" (v1), "1"/"0" (v2 cgroup.events frozen), or "" when unreadable.
std::string freezer_state(const std::string& dir);

// The runner's handle on its watcher.
class Watcher {
public:
    // Starts `injector_bin watch` in its own session (it must outlive the runner's process group),
    // hands it the spec and waits until it watches (pidfd open), at most `bound`.
    static Result<Watcher> start(const WatchSpec& spec, const std::string& injector_bin,
                                 std::chrono::milliseconds bound = std::chrono::seconds(5));
    Watcher(Watcher&&) noexcept = default;
    Watcher& operator=(Watcher&&) noexcept = default;
    // Without done(), dropping the handle closes the pipe: the watcher undoes everything, as if
    // the runner had died (the safe side).
    ~Watcher() = default;

    // Tells the watcher the runner restored everything itself; it exits without acting. Waits
    // for it (reaps it) up to `bound`.
    Result<void> done(std::chrono::milliseconds bound = std::chrono::seconds(5));
    // The runner's own restore failed somewhere: the watcher undoes everything now (thaw, start,
    // restart), as if the runner had died, and this waits for it (reaps it) up to `bound`. An
    // error when it did not finish or some step of its undo failed (its record says which).
    Result<void> undo(std::chrono::milliseconds bound = std::chrono::seconds(120));
    pid_t pid() const { return pid_; }

private:
    Watcher(pid_t pid, Fd to_watcher) : pid_(pid), to_watcher_(std::move(to_watcher)) {}
    pid_t pid_ = 0;
    Fd to_watcher_;  // the write end of the watcher's stdin
};

// What the watcher does when the runner is lost: thaws, stops what holds served volumes and
// unmounts their fault filesystems, starts containers again, runs the restart commands, appending each step to
// spec.record (ending with an "undone" line). Also run by `injector recover` when the watcher itself is gone. Returns
// the number of failed steps.
int undo_watch(const WatchSpec& spec, const std::string& why);

// `injector watch`: reads the spec from stdin, says "R" on stdout once watching, then waits.
int main_watch(const std::vector<std::string>& args);

}  // namespace inj::targets
