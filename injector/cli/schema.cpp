// `injector schema`: the plan's JSON Schema, generated from the fault kinds' registry rows, for
// an editor's YAML language server (docs/plan.schema.json is a copy of it).
#include <iostream>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "plan/load/schema.hpp"

namespace inj::cli {

po::options_description schema_options() { return po::options_description{}; }

int cmd_schema(const std::vector<std::string>& args) {
    po::variables_map vm;
    if (!positional_after(args, schema_options(), vm).empty()) throw UsageError("schema takes no arguments");
    std::cout << plan::plan_schema().dump(2) << "\n";
    return kExitHeld;
}

}  // namespace inj::cli
