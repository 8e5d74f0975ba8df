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
    d.add_options()("etcd", po::value<std::string>()->default_value(""), "etcd endpoints")(
        "host", po::value<std::string>()->default_value(""), "the plan host this agent stands for")(
        "interface", po::value<std::string>()->default_value("eth0"), "interface to attach to (tcx egress)")(
        "lease-ttl", po::value<int>()->default_value(2), "the agent's registration lease, seconds");
    return d;
}

int cmd_agent(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto rest = positional_after(args, agent_options(), vm);
    if (!rest.empty()) throw UsageError("agent takes no positional arguments");
    fleet::AgentOptions o;
    o.endpoints = vm["etcd"].as<std::string>();
    o.host = vm["host"].as<std::string>();
    o.interface = vm["interface"].as<std::string>();
    o.lease_ttl_s = vm["lease-ttl"].as<int>();
    if (o.endpoints.empty() || o.host.empty()) throw UsageError("agent needs --etcd ENDPOINTS and --host NAME");
    if (o.lease_ttl_s < 2) throw UsageError("--lease-ttl must be at least 2 seconds");
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
