// The plan as the run journal records it: what the report needs resolved (times in ms, selectors
// described, SLOs), and the plan file as written (YAML turned into JSON), so fault kinds and fields
// added later reach the report without code here changing.
#pragma once

#include <nlohmann/json.hpp>

#include "plan/model.hpp"

namespace inj::plan {

// "zone pangyo, host kv-3" / "the rest of the lab".
std::string describe(const Selector& s);

// The `plan` event of the journal (see injector/report/journal.schema.json).
nlohmann::json plan_json(const Plan& plan);

// A YAML document as JSON: maps, sequences, and scalars as numbers, booleans, null or strings.
nlohmann::json yaml_file_json(const std::string& path);

}  // namespace inj::plan
