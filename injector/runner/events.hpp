// Payloads of the journal events that describe a run rather than a step of it: the environment
// it ran in, the blast-radius preview preflight computed, the guards that watched it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/compile.hpp"
#include "plan/model.hpp"

namespace inj::runner {

// Host name, kernel, OS, CPUs, memory, uid, injector version.
nlohmann::json environment_json();

// For every moment of the timeline: the faults in force, the hosts cut off from the connected
// majority, their zones and power domains, and each safety.blast_radius bound measured.
nlohmann::json preflight_json(const plan::Plan& plan, const net::Tables& tables);

// The guards watching the timeline, by the names their abort reasons start with ("name: why"),
// each with one line saying what it watches.
nlohmann::json guards_json(const plan::Plan& plan, const std::vector<std::string>& guard_names, bool signals);

}  // namespace inj::runner
