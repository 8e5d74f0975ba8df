// The run's outcome as JSON (outcome_json.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include "runner/runner.hpp"

namespace inj::runner {

nlohmann::json recoveries_json(const std::vector<ServiceRecovery>& rs);
nlohmann::json verify_json(const VerifyResult& v);
nlohmann::json outcome_json(const RunOutcome& o);

}  // namespace inj::runner
