// `injector recover`: removes everything any run or lab left on this machine, under the run lock.
#include <signal.h>

#include <iostream>

#include "cli/commands.hpp"
#include "common/audit.hpp"
#include "common/exit_codes.hpp"
#include "runner/recover.hpp"
#include "safety/preflight.hpp"

namespace inj::cli {

po::options_description recover_options() { return po::options_description{}; }

int cmd_recover(const std::vector<std::string>& args) {
    po::variables_map vm;
    if (!positional_after(args, recover_options(), vm).empty()) throw UsageError("recover takes no arguments");
    if (auto h = safety::RunLock::holder(); h && kill(h->pid, 0) == 0) {
        std::cerr << "injector: run " << h->run_id << " (pid " << h->pid
                  << ") is in progress; abort it first (injector abort)\n";
        return kExitNotApplied;
    }
    // Held while recovering: no run may start on a machine being cleaned.
    auto lk = safety::RunLock::acquire("recover");
    if (!lk) {
        std::cerr << "injector: " << lk.error().message() << "\n";
        return kExitNotApplied;
    }
    auto rep = runner::recover();
    for (auto& l : rep.removed) std::cout << l << "\n";
    for (auto& f : rep.failed) std::cerr << "recover: could not remove " << f << "\n";
    if (rep.nothing()) std::cout << "nothing to recover: the machine holds nothing of the injector\n";
    if (!rep.failed.empty()) {
        std::cerr << "recover: " << rep.failed.size() << " thing(s) left on this machine (listed above); "
                  << "every action is in the audit log " << audit::log_path() << "\n";
        return kExitCleanup;
    }
    return kExitHeld;
}

}  // namespace inj::cli
