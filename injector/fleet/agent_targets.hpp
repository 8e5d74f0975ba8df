// What a fleet agent acts on: the one plan host it stands for, as a partial Targets view (the
// other hosts are other agents'), so the registry's engines run on the agent's machine exactly as
// they do in local mode. The plan says what the host is:
//   - bound (`container:`, `netns:`+`cgroup:`, `local: true`): resolved on this machine as in a
//     local run of a bound plan (targets/bound.hpp);
//   - a lab host, when the plan's lab is up on this machine (agents standing for machines in a
//     lab): the lab's namespace, cgroup, volumes and service commands of that host;
//   - otherwise the machine the agent runs on: its network namespace and --interface, and no
//     processes (power_loss and stop_service refuse at prepare, naming the host).
// Every host is judged at tcx egress of its own interface (a machine has no fabric), so a fault
// acts on the packets each host sends, and a dark host's egress drops everything it would send.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "plan/model.hpp"
#include "targets/targets.hpp"

namespace inj::fleet {

// The view of `host` (a plan host) on this machine; `interface` is the machine's interface for
// a host that is neither bound nor a lab host here. Refuses a host whose cgroup holds this
// agent when some fault would kill, stop or freeze that host's processes (the agent would take
// itself down with them and never restore them).
Result<std::unique_ptr<targets::Targets>> agent_targets(const plan::Plan& plan, const std::string& host,
                                                        const std::string& interface);

// The view of one host of `inner` (which it owns), judged at egress of its own interface.
std::unique_ptr<targets::Targets> one_host_view(std::unique_ptr<targets::Targets> inner, const std::string& host);

// The controller's view of a bound plan in fleet mode: the plan's hosts by name, zone and power
// domain only. What each one is (a container, a cgroup, a machine) lives on its agent's machine
// and is resolved there; the controller touches none of it.
std::unique_ptr<targets::Targets> controller_view(const plan::Plan& plan);

// Fleet mode runs probes and verify steps on the controller's machine: for a bound plan, one
// message per step placed `in:` a host (which lives on another machine); empty when all are
// `in: control`.
std::vector<std::string> check_probe_places(const plan::Plan& plan);

}  // namespace inj::fleet
