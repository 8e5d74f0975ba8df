// The canaries of a run: one TCP connect per fault that should stop traffic, from a host of this
// machine across the cut, so the run itself notices a fault that is planned but not in force
// (safety::CutEffectGuard).
#pragma once

#include <vector>

#include "net/compile.hpp"
#include "plan/model.hpp"
#include "safety/run_guards.hpp"
#include "targets/targets.hpp"

namespace inj::runner {

// A sever that cuts whole flows: the first pair of its cut set. A power loss of whole hosts: from
// the first host it leaves lit to the first it darkens. Only pairs whose source has a namespace on
// this machine (a fleet's hosts are judged by their agents).
std::vector<safety::Canary> plan_canaries(const plan::Plan& plan, const net::Tables& tables,
                                          const targets::Targets& targets);

}  // namespace inj::runner
