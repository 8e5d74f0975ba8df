// A plan host's binding to something that exists (container, process, this machine): the keys
// of topology.hosts[] that say so, their shape, and the rules that keep a plan on one side (a
// lab the tool builds, or real targets, never a mix). Resolving them on the machine is the
// run's job (targets/bound.cpp).
#include <algorithm>

#include "common/paths.hpp"
#include "plan/load/loader.hpp"
#include "plan/load/volume.hpp"

namespace inj::plan::load {

const std::vector<std::string>& binding_keys() {
    static const std::vector<std::string> k = {"container", "runtime", "netns",   "cgroup", "pid",
                                               "pidfile",   "local",   "restart", "ready",  "volumes"};
    return k;
}

namespace {
bool absolute_clean(const std::string& p) {
    return !p.empty() && p[0] == '/' && p.find("/../") == std::string::npos && !p.ends_with("/..");
}
}  // namespace

void Loader::load_binding(const MapView& m, Host& h) {
    Binding& b = h.binding;
    auto container = m.get("container"), netns = m.get("netns"), cgroup = m.get("cgroup"), pid = m.get("pid"),
         pidfile = m.get("pidfile"), local = m.get("local");
    bool any_process = netns || cgroup || pid || pidfile;
    bool is_local = false;
    if (local)
        if (auto v = boolean(*local)) is_local = *v;
    int kinds = (container ? 1 : 0) + (any_process ? 1 : 0) + (is_local ? 1 : 0);
    for (const char* key : {"runtime", "restart", "ready", "volumes"})
        if (auto f = m.get(key); f && kinds == 0)
            error(*f, std::string("'") + key +
                          "' belongs to a bound host: add container:, cgroup:, pid:, pidfile: "
                          "or local: true");
    if (kinds == 0) return;
    b.mark = h.mark;
    if (kinds > 1) {
        error(h.mark, m.self().path,
              "host '" + h.name +
                  "' is bound to more than one thing; give one of container:, "
                  "netns:/cgroup:/pid:/pidfile: or local: true");
        return;
    }
    if (container) {
        b.kind = Binding::Kind::container;
        if (auto v = name(*container)) b.container = *v;
        if (auto r = m.get("runtime"))
            if (auto v = name(*r)) {
                if (*v != "podman" && *v != "docker") error(*r, "runtime must be podman or docker, not '" + *v + "'");
                b.runtime = *v;
            }
    } else if (is_local) {
        b.kind = Binding::Kind::local;
    } else {
        b.kind = Binding::Kind::process;
        if (auto r = m.get("runtime")) error(*r, "runtime is for a container: binding");
        if (netns)
            if (auto v = nonempty_str(*netns)) {
                b.netns = *v;
                if (v->find('/') != std::string::npos && !absolute_clean(*v))
                    error(*netns, "netns is a name (as `ip netns` shows it) or an absolute path, not '" + *v + "'");
            }
        if (cgroup)
            if (auto v = nonempty_str(*cgroup)) {
                b.cgroup = *v;
                if (is_root_or_escaping(*v))
                    error(*cgroup,
                          "cgroup must name a cgroup below the root (e.g. system.slice/x.service), not '" + *v + "'");
            }
        if (pid)
            if (auto v = integer(*pid)) {
                if (*v <= 1 || *v > (1 << 22))
                    error(*pid, "pid must be a process id above 1, not " + std::to_string(*v));
                else
                    b.pid = static_cast<int>(*v);
            }
        if (pidfile)
            if (auto v = nonempty_str(*pidfile)) {
                b.pidfile = *v;
                if (!absolute_clean(*v)) error(*pidfile, "pidfile must be an absolute path, not '" + *v + "'");
            }
        if (!cgroup && !pid && !pidfile)
            error(*netns, "a host bound to a network namespace also needs its processes: cgroup:, pid: or pidfile:");
        if ((pid ? 1 : 0) + (pidfile ? 1 : 0) > 1) error(*pidfile, "give pid: or pidfile:, not both");
    }
    if (auto r = m.get("restart"))
        if (auto v = nonempty_str(*r)) b.restart = *v;
    if (auto r = m.get("ready"))
        if (auto c = load_check(*r, {h.name})) b.ready = *c;  // `in` empty: inside the host's own namespace
    if (auto vs = m.get("volumes"))
        if (auto items = list(*vs))
            for (auto& it : *items) {
                MapView vm(*this, it);
                if (!vm.ok()) continue;
                vm.allow({"name", "path", "volatile", "loss"});
                Binding::Volume v;
                v.mark = it.mark;
                if (auto n = vm.require("name"))
                    if (auto s = name(*n)) {
                        v.name = *s;
                        for (auto& prev : b.volumes)
                            if (prev.name == *s) error(*n, "duplicate volume name '" + *s + "' on host " + h.name);
                    }
                if (auto p = vm.require("path", "a volume of a bound host is a real directory"))
                    if (auto s = nonempty_str(*p)) {
                        v.path = *s;
                        if (!absolute_clean(*s))
                            error(*p, "a volume path must be absolute, not '" + *s + "'");
                        else if (*s == "/" || s->starts_with("/proc") || s->starts_with("/sys") ||
                                 s->starts_with("/dev"))
                            error(*p, "volume path " + *s + " is a system directory the tool never serves");
                    }
                if (auto bf = vm.get("volatile"))
                    if (auto bv = boolean(*bf)) v.is_volatile = *bv;
                if (auto lf = vm.get("loss"))
                    if (auto l = load_volume_loss(*this, *lf, v.is_volatile)) v.loss = *l;
                b.volumes.push_back(std::move(v));
            }
}

// Bound hosts and lab hosts do not mix, and a bound plan has no lab services; a bound host
// names the addresses its interfaces carry (the classifier judges packets by address).
void Loader::check_bindings() {
    auto& hosts = plan_.topology.hosts;
    if (hosts.empty()) return;
    const Host* bound = nullptr;
    const Host* built = nullptr;
    for (auto& h : hosts) {
        if (h.binding.bound() && !bound) bound = &h;
        if (!h.binding.bound() && !built) built = &h;
    }
    if (!bound) return;
    if (built) {
        error(built->mark, "topology.hosts",
              "host '" + built->name + "' is not bound while host '" + bound->name + "' (line " +
                  std::to_string(bound->mark.line) + ") is bound to " + bound->binding.describe() +
                  "; a plan drills either a lab the tool builds or what exists, so bind every host");
        return;
    }
    if (!plan_.lab.services.empty())
        error(plan_.lab.services.front().mark, "lab.services",
              "a plan whose hosts are bound to what exists has no lab services (the tool builds no lab for it)");
    for (size_t i = 0; i < hosts.size(); ++i) {
        if (!hosts[i].addresses.empty()) continue;
        error(hosts[i].mark, host_path(i),
              "host '" + hosts[i].name + "' is bound to " + hosts[i].binding.describe() +
                  ": give the addresses its interfaces carry (addresses: [...]); packets are judged by address");
    }
}

}  // namespace inj::plan::load
