// `injector agent`: applies the faults a fleet controller (a `run --fleet`) assigns to one host,
// until SIGINT, SIGTERM or SIGHUP.
#include <atomic>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "fleet/agent.hpp"

namespace inj::cli {

po::options_description agent_options() {
    po::options_description d;
    fleet::add_agent_options(d);
    return d;
}

int cmd_agent(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto rest = positional_after(args, agent_options(), vm);
    if (!rest.empty()) throw UsageError("agent takes no positional arguments");
    auto opts = fleet::agent_options_from(vm);
    if (!opts) throw UsageError(opts.error().message());
    const fleet::AgentOptions& o = *opts;
    sigset_t set = block_stop_signals();
    static std::atomic<bool> stop{false};
    std::thread waiter([set] {
        int sig = 0;
        sigwait(&set, &sig);
        stop = true;
    });
    waiter.detach();
    auto r = fleet::run_agent(o, stop);
    if (!r) {
        std::cerr << "injector agent: " << r.error().message() << "\n";
        return kExitNotApplied;
    }
    return *r;
}

}  // namespace inj::cli
