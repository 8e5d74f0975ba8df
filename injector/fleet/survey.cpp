#include "fleet/survey.hpp"

#include "fleet/fleet_engine.hpp"

namespace inj::fleet {

Survey survey_of(const std::vector<KeyValue>& agents, const std::vector<KeyValue>& statuses,
                 const std::vector<KeyValue>& desired) {
    Survey s;
    for (auto& kv : agents)
        if (auto a = agent_info_from_json(kv.value); a && kv.key == agent_key(a->host)) s.agents[a->host].info = *a;
    for (auto& [host, st] : trusted_statuses(statuses, agents))
        if (auto it = s.agents.find(host); it != s.agents.end()) it->second.status = st;
    for (auto& kv : desired)
        if (kv.key.rfind(kDesiredPrefix, 0) == 0)
            if (auto d = desired_from_json(kv.value)) s.driven_by[kv.key.substr(kDesiredPrefix.size())] = d->run;
    return s;
}

Result<Survey> survey(EtcdClient& c) {
    auto agents = c.get_prefix(kAgentsPrefix);
    if (!agents) return agents.error();
    auto statuses = c.get_prefix(kStatusPrefix);
    if (!statuses) return statuses.error();
    auto desired = c.get_prefix(kDesiredPrefix);
    if (!desired) return desired.error();
    return survey_of(*agents, *statuses, *desired);
}

Readiness readiness(const Survey& s, const std::vector<std::string>& needed) {
    Readiness r;
    for (auto& h : needed) {
        if (auto it = s.agents.find(h); it == s.agents.end())
            r.missing.push_back(h);
        else if (!it->second.info.healthy)
            r.unhealthy.push_back(h + " (" + it->second.info.error + ")");
        if (auto d = s.driven_by.find(h); d != s.driven_by.end()) r.busy.push_back(h + " (run " + d->second + ")");
    }
    return r;
}

}  // namespace inj::fleet
