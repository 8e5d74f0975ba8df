// The canaries of a run: one TCP connect per fault that should stop or slow traffic, from a host
// of this machine across the cut or the slowed link, so the run itself notices a fault that is
// planned but not in force (safety::EffectGuard).
#pragma once

#include <vector>

#include "net/compile.hpp"
#include "plan/model.hpp"
#include "safety/run_guards.hpp"
#include "targets/targets.hpp"

namespace inj::runner {

// A sever that cuts whole flows: the first pair of its cut set. A power loss of whole hosts: from
// the first host it leaves lit to the first it darkens. A degrade_link adding latency to every
// flow: the first pair it slows, which must answer no sooner than the latency allows. Only pairs whose source has a
// namespace on this machine (a fleet's hosts are judged by their agents).
std::vector<safety::Canary> plan_canaries(const plan::Plan& plan, const net::Tables& tables,
                                          const targets::Targets& targets);

}  // namespace inj::runner
