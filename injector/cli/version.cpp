// `injector version` (and `injector --version`): the project version, the git revision the build
// was made from, and the ABI version of the netfault BPF program compiled into this binary.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "common/exit_codes.hpp"
#include "git_revision.h"
#include "netfault_abi.h"

#ifndef INJ_VERSION
#define INJ_VERSION "unknown"
#endif

namespace inj::cli {

void print_version(std::ostream& os) {
    os << "injector " << INJ_VERSION << "\n"
       << "git revision: " << INJ_GIT_REVISION << "\n"
       << "netfault BPF ABI: " << NF_ABI_VERSION << "\n";
}

po::options_description version_options() { return po::options_description{}; }

int cmd_version(const std::vector<std::string>& args) {
    po::variables_map vm;
    if (!positional_after(args, version_options(), vm).empty()) throw UsageError("version takes no arguments");
    print_version(std::cout);
    return kExitHeld;
}

}  // namespace inj::cli
