// Lookups and names for the plan model.
#include "plan/model.hpp"

#include <algorithm>

namespace inj::plan {

const Zone* Topology::zone(const std::string& n) const {
    for (auto& z : zones) if (z.name == n) return &z;
    return nullptr;
}
const PowerDomain* Topology::power_domain(const std::string& n) const {
    for (auto& p : power_domains) if (p.name == n) return &p;
    return nullptr;
}
const Host* Topology::host(const std::string& n) const {
    for (auto& h : hosts) if (h.name == n) return &h;
    return nullptr;
}
int Topology::host_index(const std::string& n) const {
    for (size_t i = 0; i < hosts.size(); ++i) if (hosts[i].name == n) return static_cast<int>(i);
    return -1;
}

const char* to_string(FaultKind k) {
    switch (k) {
        case FaultKind::sever: return "sever";
        case FaultKind::degrade_link: return "degrade_link";
        case FaultKind::power_loss: return "power_loss";
        case FaultKind::degrade_storage: return "degrade_storage";
    }
    return "?";
}
const char* to_string(Direction d) {
    switch (d) {
        case Direction::both: return "both";
        case Direction::from: return "from";
        case Direction::to: return "to";
    }
    return "?";
}
const char* to_string(PowerMode m) {
    switch (m) {
        case PowerMode::kill: return "kill";
        case PowerMode::freeze: return "freeze";
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
