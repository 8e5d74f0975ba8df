// BoundTargets: resolving a plan's bindings and serving them as the Targets view (bound.hpp).
#include "targets/bound.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "plan/template.hpp"
#include "targets/process.hpp"
#include "targets/procfs.hpp"

namespace inj::targets {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(50);

Error host_error(const std::string& host, const plan::Binding& b, const std::string& why) {
    return plain_error("host " + host + " (" + b.describe() + ")", why);
}

ContainerRuntime runtime_of(const plan::Binding& b) {
    return b.runtime == "docker" ? docker_runtime() : podman_runtime();
}

// The first pid of a cgroup directory (cgroup.procs), 0 when it holds none.
pid_t first_pid(const std::string& dir) {
    auto text = read_small_file(dir + "/cgroup.procs");
    if (!text) return 0;
    long v = std::strtol(text->c_str(), nullptr, 10);
    return v > 0 ? static_cast<pid_t>(v) : 0;
}

Result<void> resolve_process(const plan::Binding& b, BoundHost& out) {
    if (b.pid || !b.pidfile.empty()) {
        auto p = b.pid ? resolve_pid(*b.pid) : resolve_pidfile(b.pidfile);
        if (!p) return std::move(p).error();
        out.pid = p->pid;
        out.cgroups = p->cgroups;
        out.netns = p->netns;
        out.netns_stable = false;
    }
    if (!b.cgroup.empty()) {
        auto dirs = resolve_cgroup(b.cgroup);
        if (!dirs) return std::move(dirs).error();
        out.cgroups = *dirs;
        if (!out.pid) {
            auto u = out.cgroups.find("unified");
            if (u != out.cgroups.end()) out.pid = first_pid(u->second);
        }
    }
    if (!b.netns.empty()) {
        auto ns = resolve_netns(b.netns);
        if (!ns) return std::move(ns).error();
        if (out.pid && !same_file(*ns, "/proc/" + std::to_string(out.pid) + "/ns/net"))
            return plain_error("netns " + b.netns,
                               "pid " + std::to_string(out.pid) + " of the binding lives in another network namespace");
        out.netns = *ns;
        out.netns_stable = true;
    }
    if (out.netns.empty())
        return plain_error("binding", "no network namespace: the cgroup holds no process yet; give netns:");
    return {};
}

}  // namespace

Result<std::vector<IpAddr>> addresses_in(const std::string& netns) {
    auto guard = NetnsGuard::enter(netns);
    if (!guard) return std::move(guard).error();
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return errno_error("getifaddrs", netns);
    std::vector<IpAddr> out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || std::string(i->ifa_name) == "lo") continue;
        char buf[64];
        if (i->ifa_addr->sa_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf, sizeof buf);
        } else {
            continue;
        }
        if (auto a = IpAddr::parse(buf)) out.push_back(*a);
    }
    ::freeifaddrs(list);
    return out;
}

Result<BoundHost> resolve_binding(const plan::Host& host) {
    const plan::Binding& b = host.binding;
    BoundHost out;
    out.name = host.name;
    out.binding = b;
    auto fail = [&](const Error& e) { return host_error(host.name, b, e.message()); };
    switch (b.kind) {
        case plan::Binding::Kind::none: return host_error(host.name, b, "is not bound");
        case plan::Binding::Kind::container: {
            auto c = resolve_container(b.container, runtime_of(b));
            if (!c) return fail(c.error());
            out.netns = c->netns;
            out.netns_stable = c->netns_survives_restart;
            out.cgroups = c->cgroups;
            out.pid = c->service_pid;
            out.container = std::move(*c);
            break;
        }
        case plan::Binding::Kind::process:
            if (auto r = resolve_process(b, out); !r) return fail(r.error());
            break;
        case plan::Binding::Kind::local: {
            auto l = resolve_local();
            if (!l) return fail(l.error());
            out.netns = l->netns;
            out.netns_stable = true;
            break;
        }
    }
    auto ifs = interfaces_in(out.netns);
    if (!ifs) return fail(ifs.error());
    out.interfaces = *ifs;
    if (out.interfaces.empty())
        return host_error(host.name, b, "its network namespace " + out.netns + " has no interface but loopback");
    auto have = addresses_in(out.netns);
    if (!have) return fail(have.error());
    for (auto& a : host.addresses)
        if (std::find(have->begin(), have->end(), a.addr) == have->end()) {
            std::string list;
            for (auto& h : *have) list += (list.empty() ? "" : ", ") + h.str();
            return host_error(host.name, b,
                              "address " + a.addr.str() + " of the plan is not on its interfaces (" +
                                  (list.empty() ? std::string("none") : list) + ")");
        }
    for (auto& v : b.volumes) {
        auto dir = out.real_dir(v);
        if (!dir) return fail(dir.error());
        std::error_code ec;
        if (!std::filesystem::is_directory(*dir, ec))
            return host_error(host.name, b, "volume " + v.name + ": " + *dir + " is not a directory");
    }
    return out;
}

Result<std::unique_ptr<Targets>> bind(const plan::Plan& plan) {
    std::vector<BoundHost> bound;
    for (auto& h : plan.topology.hosts) {
        auto r = resolve_binding(h);
        if (!r) return std::move(r).error();
        bound.push_back(std::move(*r));
    }
    return std::unique_ptr<Targets>(std::make_unique<BoundTargets>(plan, std::move(bound)));
}

BoundTargets::BoundTargets(const plan::Plan& plan, std::vector<BoundHost> hosts)
    : plan_(plan), bound_(std::move(hosts)) {
    for (auto& b : bound_) {
        Host h;
        h.name = b.name;
        if (const plan::Host* ph = plan.topology.host(b.name)) {
            h.zone = ph->zone;
            h.power_domain = ph->power_domain;
        }
        h.netns = b.netns;
        h.netns_stable = b.netns_stable;
        h.interface = b.interfaces.front();
        for (auto& i : b.interfaces) h.judges.push_back({b.netns, i, false});
        if (auto u = b.cgroups.find("unified"); u != b.cgroups.end()) h.cgroup = u->second;
        for (auto& v : b.binding.volumes) {
            auto dir = b.real_dir(v);  // checked when the binding resolved
            h.volumes.push_back({v.name, dir ? *dir : v.path, {}, 0});
        }
        hosts_.push_back(std::move(h));
    }
}

std::string BoundTargets::describe() const {
    std::string s;
    for (auto& b : bound_) s += (s.empty() ? "" : ", ") + b.binding.describe();
    return "bound targets (" + s + ")";
}

std::vector<ServiceInstance> BoundTargets::services() const {
    std::lock_guard lk(mu_);
    std::vector<ServiceInstance> out;
    for (auto& b : bound_)
        if (b.binding.kind != plan::Binding::Kind::local && b.pid > 0)
            out.push_back({b.binding.service_name(b.name), b.name, b.pid});
    return out;
}

Result<ServiceInstance> BoundTargets::restart_one(BoundHost& h) {
    const ServiceInstance none{h.binding.service_name(h.name), h.name, 0};
    if (h.container) {
        INJ_TRY(ensure_running(h.container->runtime.command, {h.container->inspect.id}));
        auto c = resolve_container(h.container->inspect.id, h.container->runtime);
        if (!c) return std::move(c).error();
        h.pid = c->service_pid;
        h.cgroups = c->cgroups;
        h.container = std::move(*c);
        return ServiceInstance{none.service, h.name, h.pid};
    }
    if (h.binding.restart.empty())
        return plain_error("host " + h.name, "bound to " + h.binding.describe() +
                                                 " with no restart: command, so nothing can start it again");
    auto r = run_shell(h.binding.restart, std::chrono::seconds(60));
    if (!r) return std::move(r).error();
    if (r->exit_code != 0)
        return plain_error("host " + h.name,
                           "restart command exited " + std::to_string(r->exit_code) + ": " + r->output.substr(0, 300));
    // The new process: the cgroup's first member, or the pidfile's pid once the file says it.
    h.pid = 0;
    auto until = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < until && h.pid == 0) {
        if (!h.binding.pidfile.empty()) {
            if (auto p = resolve_pidfile(h.binding.pidfile)) h.pid = p->pid;  // alive, in a cgroup of its own
        } else if (auto u = h.cgroups.find("unified"); u != h.cgroups.end()) {
            h.pid = first_pid(u->second);
        }
        if (h.pid == 0) std::this_thread::sleep_for(kPoll);
    }
    return ServiceInstance{none.service, h.name, h.pid};
}

Result<std::vector<ServiceInstance>> BoundTargets::restart(const std::vector<std::string>& hosts,
                                                           const std::string& service) {
    std::lock_guard lk(mu_);
    std::vector<ServiceInstance> out;
    for (auto& hn : hosts) {
        auto it = std::find_if(bound_.begin(), bound_.end(), [&](auto& b) { return b.name == hn; });
        if (it == bound_.end()) return plain_error("restart", "host " + hn + " is not bound");
        if (!service.empty() && it->binding.service_name(hn) != service) continue;
        auto s = restart_one(*it);
        if (!s) return std::move(s).error();
        out.push_back(*s);
    }
    return out;
}

bool BoundTargets::serving(const BoundHost& h, const ServiceInstance& s) const {
    if (h.binding.ready) {
        const plan::Check& c = *h.binding.ready;
        plan::TemplateContext ctx;
        ctx.plan = &plan_;
        ctx.host = h.name;
        auto text = plan::expand_template(c.target, ctx);
        if (!text) return false;
        auto timeout = std::min<std::chrono::nanoseconds>(c.timeout, std::chrono::seconds(2));
        // Inside the host's own namespace unless the plan says control: what exists need not be
        // reachable from where the runner sits. A namespace that went with the old processes is
        // the new process's now.
        std::string ns;
        if (c.in != "control")
            ns = h.netns_stable || s.pid <= 0 ? h.netns : "/proc/" + std::to_string(s.pid) + "/ns/net";
        if (c.kind == plan::Check::Kind::tcp) {
            auto hp = parse_host_port(*text);
            if (!hp) return false;
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
            if (ns.empty()) return tcp_connect(hp->first, hp->second, ms).ok();
            auto g = NetnsGuard::enter(ns);
            return g && tcp_connect(hp->first, hp->second, ms).ok();
        }
        auto r = run_shell(*text, timeout, ns);
        return r && r->exit_code == 0;
    }
    return s.pid > 0 && pid_alive(s.pid);
}

Result<void> BoundTargets::await_ready(const ServiceInstance& s, Clock::time_point deadline,
                                       const std::atomic<bool>* cancel) const {
    BoundHost h;
    {
        std::lock_guard lk(mu_);
        auto it = std::find_if(bound_.begin(), bound_.end(), [&](auto& b) { return b.name == s.host; });
        if (it == bound_.end()) return plain_error("await_ready", "host " + s.host + " is not bound");
        h = *it;
    }
    while (true) {
        if (serving(h, s)) return {};
        if (cancel && cancel->load()) return plain_error("host " + s.host, "readiness wait cancelled");
        if (Clock::now() >= deadline)
            return plain_error("host " + s.host, h.binding.ready ? "its ready check did not pass in time"
                                                                 : "its process did not come back in time");
        std::this_thread::sleep_for(kPoll);
    }
}

std::optional<WatchSpec> BoundTargets::watch_spec(pid_t owner, const std::string& record) const {
    std::lock_guard lk(mu_);
    WatchSpec w;
    w.runner = owner;
    w.record = record;
    for (auto& b : bound_) {
        if (b.binding.kind == plan::Binding::Kind::local) continue;
        if (auto u = b.cgroups.find("unified"); u != b.cgroups.end()) w.thaw.push_back(u->second);
        if (auto f = b.cgroups.find("freezer"); f != b.cgroups.end()) w.thaw.push_back(f->second);
        if (b.container) {
            w.container_runtime = b.container->runtime.command;
            w.containers.push_back(b.container->inspect.id);
        } else if (!b.binding.restart.empty()) {
            auto u = b.cgroups.find("unified");
            // Only when the host's processes are gone: a running service is never started twice.
            std::string guard = u == b.cgroups.end() ? "false" : "test -n \"$(cat '" + u->second + "/cgroup.procs')\"";
            w.restart.push_back({"/bin/sh", "-c", guard + " || { " + b.binding.restart + "\n}"});
        }
        // Volumes this run serves (or is about to): what holds them is stopped, then unmounted.
        auto served = faultfs_volumes_of(b);
        for (auto* v : served)
            if (auto dir = b.real_dir(*v)) w.unmount.push_back(*dir);
        if (served.empty()) continue;
        if (b.container)
            w.stop_containers.push_back(b.container->inspect.id);
        else if (auto u = b.cgroups.find("unified"); u != b.cgroups.end())
            w.kill_cgroups.push_back(u->second);
    }
    for (auto& b : bound_)  // this machine's own volumes: nothing to stop, only the mount to take down
        if (b.binding.kind == plan::Binding::Kind::local)
            for (auto* v : faultfs_volumes_of(b)) w.unmount.push_back(v->path);
    return w;
}

std::vector<std::string> BoundTargets::touched() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (auto& b : bound_) {
        std::string line = b.name + ": " + b.binding.describe() + "; netns " + b.netns + "; interfaces";
        for (auto& i : b.interfaces) line += " " + i;
        for (auto& [hier, dir] : b.cgroups) line += "; " + hier + " cgroup " + dir;
        auto served = faultfs_volumes_of(b);
        for (auto& v : b.binding.volumes) {
            line += "; volume " + v.name + " " + v.path;
            if (std::find(served.begin(), served.end(), &v) == served.end()) continue;
            auto dir = b.real_dir(v);
            line +=
                " served through the fault filesystem at " + (dir ? *dir : v.path) +
                (b.binding.kind == plan::Binding::Kind::local ? ""
                                                              : " (its service restarted at the start and the end)");
        }
        if (b.pid) line += "; pid " + std::to_string(b.pid);
        out.push_back(std::move(line));
    }
    return out;
}

}  // namespace inj::targets
