// The dry-run preview `injector plan` prints: topology, services, probes, the timeline with each
// fault's cut set, the blast radius of every moment and preflight's verdict. Readable at any
// size: zones and power domains as counts and ranges, cut sets as domain pairs with host counts;
// every host name only when asked (list_hosts) or when a list is short.
#pragma once

#include <ostream>
#include <string>

#include "net/compile.hpp"
#include "plan/model.hpp"

namespace inj::report {

struct PreviewOptions {
    bool list_hosts = false;  // `--hosts`: every host of every list, by name
    std::string fleet;        // the line about fleet mode's agents (the cli's; empty: none)
};

// Writes the preview of `plan` (compiled to `t`) and returns whether preflight passes it.
bool print_plan_preview(std::ostream& out, const plan::Plan& plan, const net::Tables& t, const PreviewOptions& o);

}  // namespace inj::report
