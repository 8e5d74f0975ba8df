// `injector lab up|down|status PLAN`: builds, removes or shows a plan's namespace lab by hand.
#include <signal.h>

#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "lab/lab.hpp"
#include "safety/preflight.hpp"

namespace inj::cli {

namespace {

int lab_up(const plan::Plan& p) {
    auto lk = safety::RunLock::acquire("lab-" + lab::id_for(p));
    if (!lk) {
        std::cerr << "injector: " << lk.error().message() << "\n";
        return kExitNotApplied;
    }
    auto st = lab::up(p);
    if (!st) {
        std::cerr << "injector: lab up: " << st.error().message() << "\n";
        return kExitNotApplied;
    }
    std::cout << "lab " << st->id << " is up: " << st->hosts.size() << " hosts, " << st->services.size()
              << " service processes; state " << st->dir << "\n";
    // Hosts with a namespace of their own one by one; pooled hosts (lab.pool_idle_hosts) per pool.
    std::map<std::string, std::vector<const lab::HostRuntime*>> pools;
    for (auto& h : st->hosts)
        if (h.pooled)
            pools[h.netns].push_back(&h);
        else
            std::cout << "  " << h.name << "  " << h.addresses.at(0).str() << "  (ip netns exec " << h.netns
                      << " ...)\n";
    for (auto& [ns, members] : pools)
        std::cout << "  " << members.size() << " idle hosts " << members.front()->name << " .. " << members.back()->name
                  << "  " << members.front()->addresses.at(0).str() << " .. " << members.back()->addresses.at(0).str()
                  << "  (pooled: ip netns exec " << ns << " ...)\n";
    return kExitHeld;
}

int lab_down(const plan::Plan& p) {
    auto st = lab::load(lab::id_for(p));
    if (!st) {
        std::cout << "lab " << lab::id_for(p) << " is not up\n";
        return kExitHeld;
    }
    auto r = lab::down(*st);
    if (!r) {
        std::cerr << "injector: lab down: " << r.error().message() << "\n";
        return kExitCleanup;
    }
    std::cout << "lab " << st->id << " is down\n";
    return kExitHeld;
}

int lab_status(const plan::Plan& p) {
    auto st = lab::load(lab::id_for(p));
    if (!st) {
        std::cout << "lab " << lab::id_for(p) << " (" << p.name << ") is down\n";
        return kExitHeld;
    }
    std::cout << "lab " << st->id << " (" << st->plan_name << ") is up: " << st->hosts.size() << " hosts\n";
    for (auto& s : st->services)
        std::cout << "  service " << s.service << " on " << s.host << ": pid " << s.pid
                  << (kill(s.pid, 0) == 0 ? " running" : " NOT RUNNING") << ", log " << s.log << "\n";
    return kExitHeld;
}

}  // namespace

po::options_description lab_options() { return po::options_description{}; }

int cmd_lab(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto rest = positional_after(args, lab_options(), vm);
    if (rest.size() != 2) throw UsageError("lab needs up|down|status and a PLAN");
    auto p = load_plan(rest[1]);
    if (!p) return kExitUsage;
    const std::string& verb = rest[0];
    if (verb == "up") return lab_up(*p);
    if (verb == "down") return lab_down(*p);
    if (verb == "status") return lab_status(*p);
    throw UsageError("lab verbs are up, down and status");
}

}  // namespace inj::cli
