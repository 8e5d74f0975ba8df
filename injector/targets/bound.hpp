// What exists, as a provider of the Targets view: plan hosts bound to containers (Podman or
// Docker, through their own inspect), to processes in a namespace and cgroup made by other means
// (a systemd unit is its cgroup), or to this machine. Resolving touches nothing: a binding that
// does not resolve refuses the run before any fault, naming the host and what was looked for.
// A bound host is judged at tcx egress of each of its own interfaces (there is no fabric), its
// processes are its cgroup (v2, where cgroup.kill and cgroup.freeze live), and it comes back
// after a kill through its runtime's start or the plan's `restart:` command.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "plan/model.hpp"
#include "targets/container.hpp"
#include "targets/targets.hpp"
#include "targets/watcher.hpp"

namespace inj::targets {

// One plan host as resolved on this machine.
struct BoundHost {
    std::string name;
    plan::Binding binding;
    std::optional<Container> container;  // container bindings
    std::string netns;
    bool netns_stable = true;
    std::vector<std::string> interfaces;
    CgroupDirs cgroups;  // unified (v2) always present
    pid_t pid = 0;       // the service's pid now (0: none known)
    // The real directory of one of its volumes: a container's path may name either side of one
    // of its bind mounts, and is the host side.
    Result<std::string> real_dir(const plan::Binding::Volume& v) const;
};

class BoundTargets : public Targets {
public:
    BoundTargets(const plan::Plan& plan, std::vector<BoundHost> hosts);

    const std::vector<Host>& hosts() const override { return hosts_; }
    std::vector<ServiceInstance> services() const override;
    Result<std::vector<ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                 const std::string& service) override;
    Result<void> await_ready(const ServiceInstance& s, std::chrono::steady_clock::time_point deadline,
                             const std::atomic<bool>* cancel) const override;
    std::string describe() const override;

    // What a watcher must undo if the runner dies mid-fault: thaw every bound cgroup, bring
    // every container back to running, run each `restart:` of a host whose cgroup is empty.
    std::optional<WatchSpec> watch_spec(pid_t owner, const std::string& record) const override;
    std::vector<std::string> touched() const override;

    // A served volume: the fault filesystem in place over its real directory (a container's: the
    // host side of its bind mount, so the container binds the mount once restarted), and the
    // host's service restarted onto it so every file it opens goes through the faults. A
    // process host needs its `restart:`. release() does the reverse.
    Result<void> serve_volumes(const std::vector<std::pair<std::string, std::string>>& volumes,
                               const std::string& dir) override;
    Result<void> release() override;

private:
    struct Served {
        std::string host, volume, path;
        pid_t daemon = 0;
    };
    // The volumes of the plan served through the fault filesystem on bound host `h`.
    std::vector<const plan::Binding::Volume*> faultfs_volumes_of(const BoundHost& h) const;
    // Stops the host's service (its runtime's stop, or every process of its cgroup killed), then
    // starts it again and waits for its readiness.
    Result<void> cycle_service(const std::string& host, const std::function<Result<void>()>& between);
    Result<ServiceInstance> restart_one(BoundHost& h);
    bool serving(const BoundHost& h, const ServiceInstance& s) const;

    const plan::Plan& plan_;
    mutable std::mutex mu_;  // bound_: restarts rewrite pids while others read them
    std::vector<BoundHost> bound_;
    std::vector<Host> hosts_;
    std::vector<Served> served_;
};

// Resolves one binding (the runtime asked, /proc read); errors name the host and what was
// looked for.
Result<BoundHost> resolve_binding(const plan::Host& host);
// Resolves every host of a bound plan and checks each one's addresses are on its interfaces.
Result<std::unique_ptr<Targets>> bind(const plan::Plan& plan);
// The addresses configured on the interfaces of the namespace at `netns` (loopback left out).
Result<std::vector<IpAddr>> addresses_in(const std::string& netns);

}  // namespace inj::targets
