// Preflight for plans bound to what exists: no fault may cut what an operator needs to reach
// this machine. Hosts bound to this machine's own network namespace (`local: true`, or a
// container on the host network) carry its real interfaces; a power loss of one cuts every one
// of them, a sever or degrade cuts what they exchange with the other side. Either is refused
// when it hits the default route's interface or gateway, a listening sshd's port, or an
// `interface:` / `port:` entry of the plan's `protected:` list.
#pragma once

#include <string>
#include <vector>

#include "net/compile.hpp"
#include "plan/model.hpp"
#include "safety/protected_local.hpp"
#include "targets/targets.hpp"

namespace inj::safety {

// The plan's own interface and port entries, as protected things of this machine.
ProtectedList plan_protected(const plan::Plan& plan);

// One message per fault that would cut a protected thing; empty when none does. `machine` is
// what this machine protects by default (local_protected()); `own_netns` the runner's namespace
// path, to tell which bound hosts are this machine.
std::vector<std::string> check_real_targets(const plan::Plan& plan, const net::Tables& tables,
                                            const targets::Targets& targets, const ProtectedList& machine,
                                            const std::string& own_netns);

}  // namespace inj::safety
