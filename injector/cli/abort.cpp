// `injector abort`: asks the run in progress to stop; the run heals every fault and exits 2.
#include <iostream>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "common/paths.hpp"
#include "common/safe_file.hpp"
#include "safety/preflight.hpp"

namespace inj::cli {

po::options_description abort_options() {
    po::options_description d;
    d.add_options()("reason", po::value<std::string>()->default_value("operator request"), "why");
    return d;
}

int cmd_abort(const std::vector<std::string>& args) {
    po::variables_map vm;
    positional_after(args, abort_options(), vm);
    auto h = safety::RunLock::holder();
    if (!h || h->run_id.empty()) {
        std::cerr << "injector: no run in progress\n";
        return kExitNotApplied;
    }
    std::string path = runs_root() + "/" + h->run_id + "/abort";
    // Written under a temporary name and renamed: the run's guard never reads half a reason.
    if (auto w = write_file_nofollow(path, vm["reason"].as<std::string>() + "\n", 0600); !w) {
        std::cerr << "injector: " << w.error().message() << "\n";
        return kExitNotApplied;
    }
    std::cout << "asked run " << h->run_id << " (pid " << h->pid << ") to abort\n";
    return kExitHeld;
}

}  // namespace inj::cli
