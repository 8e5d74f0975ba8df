// The real-targets part of `injector plan` (plan_targets.cpp).
#pragma once

#include <ostream>

#include "net/compile.hpp"
#include "plan/model.hpp"

namespace inj::cli {
// Prints what a bound plan's run would touch here; false when the run would be refused (a
// binding that does not resolve, a protected thing cut). True with nothing printed for a lab plan.
bool print_bound_targets(std::ostream& out, const plan::Plan& p, const net::Tables& t);
}  // namespace inj::cli
