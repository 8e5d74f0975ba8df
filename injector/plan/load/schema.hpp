// The plan's JSON Schema, generated from the common sections and the fault kinds' registry rows
// (see schema.cpp). `injector schema` prints it; docs/plan.schema.json is a copy.
#pragma once

#include <nlohmann/json.hpp>

namespace inj::plan {

nlohmann::json plan_schema();

}  // namespace inj::plan
