// The lab's Targets view (targets.hpp).
#include "lab/targets.hpp"

#include <algorithm>

#include "common/netns.hpp"

namespace inj::lab {

LabTargets::LabTargets(const plan::Plan& plan, LabState lab) : plan_(plan), id_(lab.id), lab_(std::move(lab)) {
    for (auto& h : lab_.hosts) {
        targets::Host t;
        t.name = h.name;
        if (const plan::Host* ph = plan.topology.host(h.name)) {
            t.zone = ph->zone;
            t.power_domain = ph->power_domain;
        }
        t.netns = netns_path(h.netns);
        t.interface = "eth0";
        t.judges = {{netns_path(lab_.fabric_netns), h.fabric_port, true}};
        t.cgroup = h.cgroup;
        for (auto& svc : plan.lab.services) {
            if (!svc.volume || std::find(svc.hosts.begin(), svc.hosts.end(), h.name) == svc.hosts.end()) continue;
            bool seen = false;
            for (auto& v : t.volumes) seen = seen || v.name == *svc.volume;
            if (seen) continue;
            targets::Volume v{*svc.volume, lab_.volume_path(h.name, *svc.volume), {}, 0};
            if (const FaultfsMount* m = lab_.faultfs_of(h.name, *svc.volume)) {
                v.faultfs_control = m->control;
                v.faultfs_pid = m->pid;
            }
            t.volumes.push_back(std::move(v));
        }
        hosts_.push_back(std::move(t));
    }
}

std::optional<std::string> LabTargets::power_domain_cgroup(const std::string& pd) const {
    return lab_.power_domain_cgroup(pd);  // cgroup_root never changes after up()
}

std::vector<targets::ServiceInstance> LabTargets::services() const {
    std::lock_guard lk(mu_);
    std::vector<targets::ServiceInstance> out;
    for (auto& p : lab_.services) out.push_back({p.service, p.host, p.pid});
    return out;
}

Result<std::vector<targets::ServiceInstance>> LabTargets::restart(const std::vector<std::string>& hosts,
                                                                  const std::string& service) {
    std::lock_guard lk(mu_);
    auto started = restart_services(plan_, lab_, hosts, service);
    if (!started) return started.error();
    std::vector<targets::ServiceInstance> out;
    for (auto& p : *started) out.push_back({p.service, p.host, p.pid});
    return out;
}

Result<void> LabTargets::await_ready(const targets::ServiceInstance& s, std::chrono::steady_clock::time_point deadline,
                                     const std::atomic<bool>* cancel) const {
    // A snapshot: the wait is long, and restarts of other hosts rewrite lab_ meanwhile.
    LabState snapshot = state();
    for (auto& p : snapshot.services)
        if (p.service == s.service && p.host == s.host && p.pid == s.pid)
            return lab::await_ready(plan_, snapshot, p, deadline, cancel);
    return plain_error("lab " + id_, "service " + s.service + " on " + s.host + " pid " + std::to_string(s.pid) +
                                         " is not one the lab started");
}

LabState LabTargets::state() const {
    std::lock_guard lk(mu_);
    return lab_;
}

}  // namespace inj::lab
