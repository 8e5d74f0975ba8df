// `injector validate PLAN...`: loads and checks plans; errors name file:line:col and the field.
#include <iostream>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"

namespace inj::cli {

po::options_description validate_options() { return po::options_description{}; }

int cmd_validate(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto files = positional_after(args, validate_options(), vm);
    if (files.empty()) throw UsageError("validate needs at least one PLAN");
    int rc = kExitHeld;
    for (auto& f : files) {
        auto p = load_plan(f);
        if (!p) {
            rc = kExitUsage;
            continue;
        }
        std::cout << f << ": ok (" << p->topology.zones.size() << " zones, " << p->topology.power_domains.size()
                  << " power domains, " << p->topology.hosts.size() << " hosts, " << p->method.size() << " faults, "
                  << p->probes.size() << " probes)\n";
    }
    return rc;
}

}  // namespace inj::cli
