// Bindings for what was started by other means than a container runtime: a network namespace
// by name or path, a cgroup by its path in the hierarchy (a systemd unit is its cgroup:
// system.slice/x.service), a process by pid or pidfile, and this machine itself. Each resolves
// to real paths on this machine, checked before anything is touched.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"
#include "targets/procfs.hpp"

namespace inj::targets {

// `netns: NAME-or-path`: a bare name is /run/netns/NAME (as `ip netns` makes it); a path must
// be a namespace file. Returns the path.
Result<std::string> resolve_netns(const std::string& name_or_path);

// `cgroup: PATH`, relative to each hierarchy ("system.slice/x.service"; a leading '/' is
// allowed). Refused: empty, a root, a path with "..". Returns the directory in every used
// hierarchy where it exists; an error when it exists in none.
Result<CgroupDirs> resolve_cgroup(const std::string& rel);
// Same, with the hierarchies' mount points given (tests point them at a directory they made).
Result<CgroupDirs> resolve_cgroup_in(const std::string& rel, const std::map<std::string, std::string>& mounts);

// A process's view: where it lives now.
struct ProcessTarget {
    pid_t pid = 0;
    std::string netns;   // /proc/PID/ns/net
    CgroupDirs cgroups;  // its cgroups in the used hierarchies, none of them a root
};

// `pid: N`: alive, not this process nor pid 1, and in a cgroup of its own in at least one used
// hierarchy (a process in the root cgroups cannot be frozen or killed as a host: refused).
// Root entries are left out of `cgroups`.
Result<ProcessTarget> resolve_pid(pid_t pid);
// `pidfile: PATH`: the file holds a decimal pid (blanks around it allowed), then as resolve_pid.
Result<ProcessTarget> resolve_pidfile(const std::string& path);
// Parses a pidfile's text; the error names the path.
Result<pid_t> parse_pidfile(const std::string& text, const std::string& path);

// `local: true`: this machine, in the network namespace the runner was started in. That must be
// pid 1's (refused otherwise: "local" inside some other namespace would drill the wrong thing),
// unless pid 1's cannot be seen at all (a sandbox whose pid 1 is not the machine's init).
struct LocalTarget {
    std::string netns;                    // /proc/<runner pid>/ns/net
    bool init_visible = false;            // pid 1's namespace could be compared
    std::vector<std::string> interfaces;  // its interfaces but loopback, in ifindex order
};
Result<LocalTarget> resolve_local();
// The interfaces (name, not loopback) of the namespace at `netns_path`, in ifindex order.
Result<std::vector<std::string>> interfaces_in(const std::string& netns_path);

}  // namespace inj::targets
