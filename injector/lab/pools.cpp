// Pooled hosts (pools.hpp).
#include "lab/pools.hpp"

#include <unordered_set>

#include "lab/lab.hpp"

namespace inj::lab {

namespace {
void mark_named(const plan::Plan& plan, const std::vector<std::string>& hosts, std::vector<bool>& idle) {
    for (auto& n : hosts)
        if (const plan::Host* h = plan.topology.host(n))
            idle[static_cast<size_t>(h - plan.topology.hosts.data())] = false;
}
}  // namespace

std::vector<bool> idle_hosts(const plan::Plan& plan) {
    const auto& hosts = plan.topology.hosts;
    std::vector<bool> idle(hosts.size(), plan.lab.pool_idle_hosts);
    if (!plan.lab.pool_idle_hosts) return idle;
    for (size_t i = 0; i < hosts.size(); ++i)
        if (hosts[i].binding.bound() || !hosts[i].cidrs.empty()) idle[i] = false;
    for (auto& s : plan.lab.services) mark_named(plan, s.hosts, idle);
    for (auto& p : plan.probes) mark_named(plan, {p.in}, idle);
    for (auto& v : plan.verify) mark_named(plan, {v.in}, idle);
    for (auto& f : plan.method) {
        mark_named(plan, f.target.hosts, idle);
        mark_named(plan, f.peer.hosts, idle);
        // A prefix may split a pool: whoever it covers is judged apart from its pool mates (and
        // a canary sent from the pool leaves from its first address), so it keeps its own.
        for (const auto* sel : {&f.target, &f.peer})
            for (auto& c : sel->cidrs)
                for (size_t i = 0; i < hosts.size(); ++i)
                    for (auto& a : hosts[i].addresses)
                        if (c.contains(a.addr)) idle[i] = false;
    }
    return idle;
}

std::string pool_netns(const std::string& lab_id, int pool) { return "inj-" + lab_id + "--p" + std::to_string(pool); }
std::string pool_port(int pool) { return "p" + std::to_string(pool); }

std::vector<const HostRuntime*> distinct_namespaces(const LabState& lab) {
    std::vector<const HostRuntime*> out;
    std::unordered_set<std::string> seen;
    for (auto& h : lab.hosts)
        if (seen.insert(h.netns).second) out.push_back(&h);
    return out;
}

std::vector<std::string> distinct_cgroups(const LabState& lab) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (auto& h : lab.hosts)
        if (seen.insert(h.cgroup).second) out.push_back(h.cgroup);
    return out;
}

}  // namespace inj::lab
