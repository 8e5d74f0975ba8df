// What etcd says of the fleet before a run (`injector agents`): every registered agent, what it
// drives now, and for a plan whether every host it needs an agent on is ready: the controller's
// own preflight, read-only (nothing is published, nothing claimed).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"

namespace inj::fleet {

struct AgentView {
    AgentInfo info;
    std::optional<Status> status;  // only a status the controller would believe (trusted_statuses)
};

struct Survey {
    std::map<std::string, AgentView> agents;       // registered, by host
    std::map<std::string, std::string> driven_by;  // host -> the run whose desired state names it
};

// From the three prefixes as read (agents, statuses, desired states); a registration under
// another host's key, or a document that does not parse, is left out.
Survey survey_of(const std::vector<KeyValue>& agents, const std::vector<KeyValue>& statuses,
                 const std::vector<KeyValue>& desired);
Result<Survey> survey(EtcdClient& c);

struct Readiness {
    std::vector<std::string> missing;    // no agent registered
    std::vector<std::string> unhealthy;  // "host (why)"
    std::vector<std::string> busy;       // "host (run R)": another run drives it
    bool ready() const { return missing.empty() && unhealthy.empty() && busy.empty(); }
};

// Whether `run --fleet` would find every needed host ready, as the controller's prepare judges.
Readiness readiness(const Survey& s, const std::vector<std::string>& needed);

}  // namespace inj::fleet
