// Volumes of bound hosts served through the fault filesystem (bound.hpp).
//
// A service keeps the files it opened before a mount: they bypass a filesystem mounted over
// their directory afterwards. So the daemon goes over the real directory first and the service
// is restarted onto it; at the end the service is stopped, the daemon unmounted and the service
// started again on the real directory. Both restarts are journaled and `injector plan` names
// them. A container is served through its bind mount's host side: a container started while a
// faultfs is mounted there binds the faultfs (bind mounts are private by default, so the running
// one does not see a mount made later).
#include <algorithm>
#include <filesystem>

#include "common/audit.hpp"
#include "common/log.hpp"
#include "common/proc.hpp"
#include "faultfs/faultfs.hpp"
#include "targets/bound.hpp"

namespace inj::targets {

Result<std::string> BoundHost::real_dir(const plan::Binding::Volume& v) const {
    if (!container) return v.path;
    std::string mounts;
    for (auto& m : container->inspect.mounts) {
        if (m.source == v.path || m.destination == v.path) return m.source;
        mounts += (mounts.empty() ? "" : ", ") + m.source + ":" + m.destination;
    }
    return plain_error("volume " + v.name, v.path + " is not a bind mount of container " + container->inspect.name +
                                               " (its bind mounts: " + (mounts.empty() ? std::string("none") : mounts) +
                                               ")");
}

std::vector<const plan::Binding::Volume*> BoundTargets::faultfs_volumes_of(const BoundHost& h) const {
    std::vector<const plan::Binding::Volume*> out;
    for (auto& [host, volume] : plan::faultfs_volumes(plan_))
        if (host == h.name)
            for (auto& v : h.binding.volumes)
                if (v.name == volume) out.push_back(&v);
    return out;
}

Result<void> BoundTargets::cycle_service(const std::string& host, const std::function<Result<void>()>& between) {
    ServiceInstance started;
    {
        std::lock_guard lk(mu_);
        auto it = std::find_if(bound_.begin(), bound_.end(), [&](auto& b) { return b.name == host; });
        if (it == bound_.end()) return plain_error("host " + host, "is not bound");
        BoundHost& h = *it;
        if (h.binding.kind == plan::Binding::Kind::local) return between();  // this machine: no service to cycle
        if (h.container) {
            auto r = run(h.container->stop_command(10), std::chrono::seconds(60));
            if (!r) return std::move(r).error();
            if (r->exit_code != 0)
                return plain_error("host " + host,
                                   "stop container " + h.container->inspect.name + ": " + r->output.substr(0, 300));
        } else if (auto u = h.cgroups.find("unified"); u != h.cgroups.end()) {
            INJ_TRY(kill_cgroup_and_wait(u->second));
        }
        INJ_TRY(between());
        auto s = restart_one(h);
        if (!s) return std::move(s).error();
        started = *s;
    }
    return await_ready(started, std::chrono::steady_clock::now() + ready_timeout(), nullptr);
}

Result<void> BoundTargets::serve_volumes(const std::vector<std::pair<std::string, std::string>>& volumes,
                                         const std::string& dir) {
    // Everything checked before anything is mounted: each directory, nothing served there yet,
    // and a way to start the host's service again.
    struct Todo {
        std::string host, volume, path;
    };
    std::vector<Todo> todo;
    for (auto& hv : volumes) {
        // Named copies, not structured bindings: clang before 16 cannot capture those.
        const std::string& host = hv.first;
        const std::string& volume = hv.second;
        auto b = std::find_if(bound_.begin(), bound_.end(), [&](auto& x) { return x.name == host; });
        if (b == bound_.end()) return plain_error("volume " + volume + " on " + host, "the host is not bound");
        auto v = std::find_if(b->binding.volumes.begin(), b->binding.volumes.end(),
                              [&](auto& x) { return x.name == volume; });
        if (v == b->binding.volumes.end()) return plain_error("host " + host, "has no volume " + volume);
        auto path = b->real_dir(*v);
        if (!path) return std::move(path).error();
        std::error_code ec;
        if (!std::filesystem::is_directory(*path, ec))
            return plain_error("host " + host + " volume " + volume, *path + " is not a directory");
        if (pid_t d = faultfs::daemon_of(*path))
            return plain_error("host " + host + " volume " + volume,
                               *path + " is served by faultfs daemon " + std::to_string(d) + " already (another run?)");
        if (b->binding.kind == plan::Binding::Kind::process && b->binding.restart.empty())
            return plain_error(
                "host " + host + " volume " + volume,
                "its service must restart to open its files through the fault filesystem: give restart:");
        todo.push_back({host, volume, *path});
    }
    std::vector<std::string> hosts_cycled;
    for (auto& t : todo) {
        auto users = faultfs::users(t.path);
        auto pid = faultfs::start({t.path, dir + "/faultfs-" + t.host + "." + t.volume + ".ctl", "",
                                   dir + "/faultfs-" + t.host + "-" + t.volume + ".log"});
        audit::record("faultfs_mount", t.path, pid.ok() ? Result<void>() : Result<void>(pid.error()),
                      {"host " + t.host + " volume " + t.volume});
        if (!pid) return std::move(pid).error();
        served_.push_back({t.host, t.volume, t.path, *pid});
        for (auto& h : hosts_)
            if (h.name == t.host)
                for (auto& v : h.volumes)
                    if (v.name == t.volume) {
                        v.path = t.path;
                        v.faultfs_control = dir + "/faultfs-" + t.host + "." + t.volume + ".ctl";
                        v.faultfs_pid = *pid;
                    }
        if (!users.empty())
            log::get("targets")->warn(
                "{}: {} processes have files open there; those files bypass the faults "
                "until reopened",
                t.path, users.size());
        if (std::find(hosts_cycled.begin(), hosts_cycled.end(), t.host) == hosts_cycled.end())
            hosts_cycled.push_back(t.host);
    }
    for (auto& h : hosts_cycled) INJ_TRY(cycle_service(h, [] { return Result<void>(); }));
    return {};
}

Result<void> BoundTargets::release() {
    std::vector<std::string> failed;
    std::vector<std::string> hosts;
    for (auto& s : served_)
        if (std::find(hosts.begin(), hosts.end(), s.host) == hosts.end()) hosts.push_back(s.host);
    for (auto& host : hosts) {
        auto unmount = [&]() -> Result<void> {
            for (auto& s : served_) {
                if (s.host != host) continue;
                auto r = faultfs::stop(s.path, s.daemon);
                audit::record("faultfs_unmount", s.path, r, {"daemon pid " + std::to_string(s.daemon)});
                if (!r) return r;
            }
            return {};
        };
        if (auto r = cycle_service(host, unmount); !r) failed.push_back(r.error().message());
    }
    served_.clear();
    for (auto& h : hosts_)
        for (auto& v : h.volumes) {
            v.faultfs_control.clear();
            v.faultfs_pid = 0;
        }
    if (!failed.empty()) {
        std::string all;
        for (auto& f : failed) all += (all.empty() ? "" : "; ") + f;
        return plain_error("served volumes", all);
    }
    return {};
}

}  // namespace inj::targets
