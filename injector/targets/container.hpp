// A container that already runs, as a target: found through its runtime's own `inspect` (Podman,
// or Docker whose inspect has the same fields), then checked against /proc: its main pid (and
// the service under an --init wrapper), its network namespace, its cgroup in each hierarchy
// (exactly the container's own, never empty or a root), its bind mounts, and the commands that
// start, stop and kill it.
#pragma once

#include <sys/types.h>

#include <chrono>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "targets/procfs.hpp"

namespace inj::targets {

// How to reach a runtime: its kind (which JSON shape inspect prints) and the command prefix.
struct ContainerRuntime {
    enum class Kind { podman, docker };
    Kind kind = Kind::podman;
    std::vector<std::string> command;  // e.g. {"podman", "--runtime", "runc", ...} or {"docker"}
    std::string name() const { return kind == Kind::podman ? "podman" : "docker"; }
};
// Podman as these machines run it: runc, cgroupfs, file events (see shared/CONTAINERS.md).
ContainerRuntime podman_runtime();
ContainerRuntime docker_runtime();

struct BindMount {
    std::string source;       // the host directory
    std::string destination;  // where the container sees it
    bool read_write = true;
};

// What inspect says (no /proc read yet).
struct ContainerInspect {
    std::string id;      // 64 hex digits
    std::string name;    // without Docker's leading '/'
    std::string status;  // "running", "exited", "created", "paused", ...
    bool running = false;
    bool paused = false;
    pid_t pid = 0;             // State.Pid: the init wrapper when started with --init
    bool init = false;         // HostConfig.Init
    std::string network_mode;  // HostConfig.NetworkMode: "none", "host", "ns:/run/netns/X", "bridge", ...
    std::string cgroup_parent;
    std::vector<BindMount> mounts;  // bind mounts only (named volumes have no host path we own)
};

// Parses `inspect` output: a JSON array of one container (what both CLIs print) or one object
// (Docker's API, GET /containers/NAME/json). `who` names the container in errors.
Result<ContainerInspect> parse_inspect(std::string_view json, ContainerRuntime::Kind kind, const std::string& who);

// True when the last component of a cgroup path (relative to its hierarchy) is the container's
// own cgroup: libpod-ID (podman, cgroupfs), libpod-ID.scope / docker-ID.scope (systemd
// managers; podman's "container" leaf under its scope on cgroup v2), or ID under a "docker"
// parent (Docker, cgroupfs). Never for a root path.
bool is_container_cgroup(std::string_view rel, const std::string& id);

// A container resolved against this machine.
struct Container {
    ContainerRuntime runtime;
    ContainerInspect inspect;
    pid_t main_pid = 0;                   // inspect's pid, checked alive
    pid_t service_pid = 0;                // with --init: the wrapper's child; else main_pid
    std::string netns;                    // the ns:PATH it joined (it outlives restarts), else /proc/PID/ns/net
    bool netns_survives_restart = false;  // true for a joined ns:PATH
    bool host_network = false;            // NetworkMode host: its interfaces are this machine's
    CgroupDirs cgroups;                   // hierarchy -> absolute directory, each verified as the container's

    std::vector<std::string> start_command() const;
    std::vector<std::string> stop_command(int timeout_s = 10) const;
    std::vector<std::string> kill_command() const;
};

// Runs `inspect` and checks the result against /proc. Errors name the container and what was
// looked for: no such container, not running, pid gone, cgroup not the container's.
Result<Container> resolve_container(const std::string& name, const ContainerRuntime& rt);
// The /proc half of resolve_container, for an inspect already parsed (tests feed Docker-shaped
// JSON from a Docker-compatible API here).
Result<Container> resolve_inspected(const ContainerInspect& inspect, const ContainerRuntime& rt);

}  // namespace inj::targets

namespace inj::targets {
// Kills every process of a resolved container at once: one write to cgroup.kill of its v2
// directory where the kernel has it, else SIGKILL to each pid of its pids (or freezer) cgroup,
// each pid's /proc/PID/cgroup checked first. The directory is checked again to be the
// container's own (never empty, never a root). Returns how many pids it signalled (0 for
// cgroup.kill, which does not say).
Result<int> kill_container_processes(const Container& c);
}  // namespace inj::targets

namespace inj::targets {
// Brings every container of `ids` back to running: one `start` of those the runtime reports
// stopped, again until each is "running" with a live main pid, or `bound` passes (the error names
// the ones that are not). A container whose processes were just killed may still be "running"
// to the runtime for a moment (its monitor has not recorded the exit): a start issued then is a
// no-op, so the state is read again rather than trusted once.
Result<void> ensure_running(const std::vector<std::string>& runtime_command, const std::vector<std::string>& ids,
                            std::chrono::milliseconds bound = std::chrono::seconds(60));
}  // namespace inj::targets
