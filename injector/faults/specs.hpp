// The registry's list of fault kinds as plan data: one spec type per kind. A plan::Fault holds
// one of these (its kind's own keys); adding a kind adds its spec here and its row to
// faults/registry.cpp, nothing else outside its module.
#pragma once

#include <variant>

#include "faults/degrade_link/spec.hpp"
#include "faults/degrade_storage/spec.hpp"
#include "faults/power_loss/spec.hpp"
#include "faults/sever/spec.hpp"
#include "faults/stop_service/spec.hpp"

namespace inj::plan {

using FaultSpec = std::variant<SeverSpec, DegradeLinkSpec, PowerLossSpec, DegradeStorageSpec, StopServiceSpec>;

}  // namespace inj::plan
