// Lookups and names for the plan model.
#include "plan/model.hpp"

#include <algorithm>

namespace inj::plan {

const Zone* Topology::zone(const std::string& n) const {
    for (auto& z : zones)
        if (z.name == n) return &z;
    return nullptr;
}
const PowerDomain* Topology::power_domain(const std::string& n) const {
    for (auto& p : power_domains)
        if (p.name == n) return &p;
    return nullptr;
}
std::string Binding::describe() const {
    switch (kind) {
        case Kind::none: return "the lab";
        case Kind::container: return runtime + " container " + container;
        case Kind::local: return "this machine";
        case Kind::process:
            if (!cgroup.empty()) return "cgroup " + cgroup + (netns.empty() ? "" : " in netns " + netns);
            if (pid) return "pid " + std::to_string(*pid) + (netns.empty() ? "" : " in netns " + netns);
            return "pidfile " + pidfile + (netns.empty() ? "" : " in netns " + netns);
    }
    return "?";
}

const Host* Topology::host(const std::string& n) const { return by_name_.find(hosts, n); }
int Topology::host_index(const std::string& n) const {
    const Host* h = host(n);
    return h ? static_cast<int>(h - hosts.data()) : -1;
}

const char* to_string(Direction d) {
    switch (d) {
        case Direction::both: return "both";
        case Direction::from: return "from";
        case Direction::to: return "to";
    }
    return "?";
}
std::vector<std::string> selected_hosts(const Topology& t, const Selector& s) {
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    };
    std::vector<std::string> out;
    for (auto& h : t.hosts)
        if (has(s.zones, h.zone) || has(s.power_domains, h.power_domain) || has(s.hosts, h.name)) out.push_back(h.name);
    return out;
}

std::vector<std::string> darkened_power_domains(const Topology& t, const Selector& s) {
    std::vector<std::string> out;
    for (auto& pd : t.power_domains)
        if (std::find(s.zones.begin(), s.zones.end(), pd.zone) != s.zones.end() ||
            std::find(s.power_domains.begin(), s.power_domains.end(), pd.name) != s.power_domains.end())
            out.push_back(pd.name);
    return out;
}

std::string Cascade::str() const {
    if (kind == Kind::link) return "link " + a + "<->" + b + " (fed by " + power_domain + ")";
    return "switch of zone " + a + " (fed by " + power_domain + ")";
}

std::vector<Cascade> cascades(const Topology& t, const Selector& target) {
    std::vector<Cascade> out;
    auto dark = darkened_power_domains(t, target);
    auto is_dark = [&](const std::string& pd) { return std::find(dark.begin(), dark.end(), pd) != dark.end(); };
    for (auto& z : t.zones)
        if (z.switch_power_domain && is_dark(*z.switch_power_domain))
            out.push_back({Cascade::Kind::zone_switch, *z.switch_power_domain, z.name, {}});
    for (auto& l : t.links)
        if (is_dark(l.power_domain)) out.push_back({Cascade::Kind::link, l.power_domain, l.a, l.b});
    return out;
}

}  // namespace inj::plan

namespace inj::plan {

std::vector<std::pair<std::string, std::string>> faultfs_volumes(const Plan& plan) {
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const std::string& h, const std::string& v) {
        if (std::find(out.begin(), out.end(), std::make_pair(h, v)) == out.end()) out.emplace_back(h, v);
    };
    for (auto& s : plan.lab.services)
        if (s.volume && s.volume_volatile)
            for (auto& h : s.hosts) add(h, *s.volume);
    for (auto& h : plan.topology.hosts)
        for (auto& v : h.binding.volumes)
            if (v.is_volatile) add(h.name, v.name);
    for (auto& f : plan.method)
        if (const std::string* v = f.volume())
            for (auto& h : selected_hosts(plan.topology, f.target)) add(h, *v);
    return out;
}

const VolumeLoss* volume_loss(const Plan& plan, const std::string& host, const std::string& volume) {
    for (auto& s : plan.lab.services)
        if (s.volume && *s.volume == volume && s.volume_volatile &&
            std::find(s.hosts.begin(), s.hosts.end(), host) != s.hosts.end())
            return &s.volume_loss;
    if (const Host* h = plan.topology.host(host))
        for (auto& v : h->binding.volumes)
            if (v.name == volume && v.is_volatile) return &v.loss;
    return nullptr;
}

bool volume_volatile(const Plan& plan, const std::string& host, const std::string& volume) {
    return volume_loss(plan, host, volume) != nullptr;
}

std::vector<std::string> volumes_of(const Plan& plan, const std::string& host) {
    std::vector<std::string> out;
    for (auto& s : plan.lab.services)
        if (s.volume && std::find(s.hosts.begin(), s.hosts.end(), host) != s.hosts.end() &&
            std::find(out.begin(), out.end(), *s.volume) == out.end())
            out.push_back(*s.volume);
    if (const Host* h = plan.topology.host(host))
        for (auto& v : h->binding.volumes) out.push_back(v.name);
    return out;
}

}  // namespace inj::plan
