// The fault filesystem: the daemon's entry point (`injector faultfs`, hidden) and the launcher the
// lab, the engine, tests and `injector recover` use to start, find and stop daemons.
//
// One daemon per (host, volume): its own process, started detached (its own session, not in any
// lab cgroup), so it outlives a runner that dies and a power cut that kills the host's processes.
// It is stopped by unmounting (the FUSE session ends and the daemon exits).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::faultfs {

// The fstype in /proc/self/mountinfo of every faultfs mount.
constexpr const char* kFsType = "fuse.injector-faultfs";

// The daemon: `injector faultfs --control FILE [--backing DIR] [--writeback] MOUNTPOINT`. Without --backing the
// mountpoint is opened first and the filesystem goes over it in place. Returns the exit code.
int main_faultfs(const std::vector<std::string>& args);

// The injector executable that runs daemons: $INJECTOR_BIN, this process when it is `injector`,
// else the one built with this tree.
std::string binary();

struct StartSpec {
    std::string mountpoint;
    std::string control;  // created (all faults clear) before the daemon starts
    std::string backing;  // empty: in place over the mountpoint
    std::string log;      // daemon stdout+stderr; empty: /dev/null
    // The kernel's writeback cache: buffered writes return from the page cache and reach the
    // daemon (and its faults) at writeback, so write errors surface at fsync/close. Never for a
    // volatile volume (the daemon ignores volatile mode then).
    bool writeback = false;
};
// Starts a daemon and returns its pid once the mount is up and serving (bounded).
Result<pid_t> start(const StartSpec& spec, std::chrono::milliseconds bound = std::chrono::seconds(10));
// Unmounts (lazily if busy) and waits for the daemon to exit (signals it if it does not).
// Idempotent: a mount already gone and a daemon already exited are fine. pid 0: find it.
Result<void> stop(const std::string& mountpoint, pid_t pid, std::chrono::milliseconds bound = std::chrono::seconds(5));

// Mountpoints of every faultfs mount on this machine (this mount namespace).
std::vector<std::string> mounts();
// Pids of every running faultfs daemon (an injector process whose first argument is `faultfs`).
std::vector<pid_t> daemons();
// The mountpoint a daemon serves (its last argument), or "".
std::string mountpoint_of(pid_t daemon);
// The daemon serving a mountpoint, or 0.
pid_t daemon_of(const std::string& mountpoint);
// Processes (other than daemons) with a file, cwd or root under the mountpoint.
std::vector<pid_t> users(const std::string& mountpoint);

}  // namespace inj::faultfs
