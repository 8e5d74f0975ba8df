// `injector plan PLAN [--hosts]`: the dry run. Prints the plan's topology (per zone and power
// domain, counts and ranges at any size), the timeline with what each fault does, the
// mechanisms, the blast radius of every moment and what preflight would refuse; changes nothing
// on the machine. The rendering is report::print_plan_preview.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/plan_targets.hpp"
#include "common/exit_codes.hpp"
#include "fleet/fleet_engine.hpp"
#include "net/compile.hpp"
#include "report/plan_preview.hpp"

namespace inj::cli {

po::options_description plan_options() {
    po::options_description d;
    d.add_options()("hosts", po::bool_switch(), "list every host by name");
    return d;
}

int cmd_plan(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto files = positional_after(args, plan_options(), vm);
    if (files.size() != 1) throw UsageError("plan needs exactly one PLAN");
    auto p = load_plan(files[0]);
    if (!p) return kExitUsage;
    auto tables = net::compile(*p);
    if (!tables) {
        std::cerr << files[0] << ": " << tables.error().message() << "\n";
        return kExitUsage;
    }
    bool passes = report::print_plan_preview(std::cout, *p, *tables,
                                             {vm["hosts"].as<bool>(), fleet::agents_needed_line(*p, *tables)});
    passes = print_bound_targets(std::cout, *p, *tables) && passes;
    return passes ? kExitHeld : kExitNotApplied;
}

}  // namespace inj::cli
