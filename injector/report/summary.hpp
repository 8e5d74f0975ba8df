// What a person reads at the end of a run, and the JSON a machine reads.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "runner/runner.hpp"

namespace inj::runner {
nlohmann::json outcome_json(const RunOutcome& o);
}

namespace inj::report {

// A short terminal summary: verdict first, then the timeline of faults and each probe's SLO.
void print_summary(std::ostream& os, const runner::RunOutcome& o, bool color);

}  // namespace inj::report
