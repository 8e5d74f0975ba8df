// `injector agents --etcd EPS [--plan PLAN] [--json]`: the fleet as etcd sees it, before a game
// day: each registered agent (pid, health, interface, how long it has been up) and what it drives
// now (run, state, step). With --plan, whether every host the plan needs an agent on has a
// registered, healthy one that no other run drives: what `run --fleet` checks first, without
// publishing or claiming anything. Exit 0 ready (or no plan), 3 not ready or etcd unreachable.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "common/duration.hpp"
#include "common/exit_codes.hpp"
#include "fleet/etcd_security.hpp"
#include "fleet/fleet_engine.hpp"
#include "fleet/survey.hpp"
#include "net/compile.hpp"
#include "plan/reader.hpp"

namespace inj::cli {

po::options_description agents_options() {
    po::options_description d;
    d.add_options()("etcd", po::value<std::string>()->default_value(""), "etcd endpoints")(
        "plan", po::value<std::string>()->default_value(""), "check that the agents this plan needs are ready")(
        "json", po::bool_switch(), "print JSON instead of the table");
    fleet::add_etcd_options(d);
    return d;
}

namespace {

std::string up_for(uint64_t started_ns) {
    const uint64_t now = fleet::realtime_ns();
    if (!started_ns || started_ns > now) return "-";
    return format_duration(std::chrono::seconds((now - started_ns) / 1'000'000'000ull));
}

nlohmann::json to_json(const fleet::Survey& s) {
    auto out = nlohmann::json::array();
    for (auto& [h, a] : s.agents) {
        nlohmann::json j = {{"host", h},
                            {"pid", a.info.pid},
                            {"healthy", a.info.healthy},
                            {"interface", a.info.interface},
                            {"started_ns", a.info.started_ns}};
        if (!a.info.error.empty()) j["error"] = a.info.error;
        if (a.status)
            j["status"] = {{"run", a.status->run}, {"state", a.status->state}, {"step", a.status->generation}};
        if (auto d = s.driven_by.find(h); d != s.driven_by.end()) j["driven_by"] = d->second;
        out.push_back(std::move(j));
    }
    return out;
}

void print_table(const fleet::Survey& s, const std::string& eps) {
    std::cout << s.agents.size() << (s.agents.size() == 1 ? " agent" : " agents") << " registered at " << eps << "\n";
    if (s.agents.empty()) return;
    size_t w = 4;
    for (auto& [h, a] : s.agents) w = std::max(w, h.size());
    std::cout << "  " << std::left << std::setw(static_cast<int>(w)) << "HOST"
              << "  " << std::setw(8) << "PID" << std::setw(10) << "HEALTH" << std::setw(12) << "INTERFACE"
              << std::setw(10) << "UP"
              << "NOW\n";
    for (auto& [h, a] : s.agents) {
        std::string now = "idle";
        if (a.status && !a.status->run.empty())
            now = "run " + a.status->run + ": " + a.status->state + " (step " + std::to_string(a.status->generation) +
                  ")";
        else if (auto d = s.driven_by.find(h); d != s.driven_by.end())
            now = "run " + d->second + ": not yet loaded";
        std::cout << "  " << std::setw(static_cast<int>(w)) << h << "  " << std::setw(8) << a.info.pid << std::setw(10)
                  << (a.info.healthy ? "healthy" : "UNHEALTHY") << std::setw(12) << a.info.interface << std::setw(10)
                  << up_for(a.info.started_ns) << now << "\n";
        if (!a.info.healthy) std::cout << "  " << std::string(w, ' ') << "  why: " << a.info.error << "\n";
    }
}

}  // namespace

int cmd_agents(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto rest = positional_after(args, agents_options(), vm);
    if (!rest.empty()) throw UsageError("agents takes no positional arguments (the plan is --plan PLAN)");
    const std::string eps = vm["etcd"].as<std::string>();
    if (eps.empty()) throw UsageError("agents needs --etcd ENDPOINTS");
    auto sec = fleet::etcd_security_from(vm);
    if (!sec) throw UsageError(sec.error().message());
    // The plan first: a plan that does not load is a usage error, whatever etcd says.
    std::optional<plan::Plan> p;
    std::optional<net::Tables> tables;
    if (const auto& path = vm["plan"].as<std::string>(); !path.empty()) {
        p = load_plan(path);
        if (!p) return kExitUsage;
        auto t = net::compile(*p);
        if (!t) {
            std::cerr << path << ": " << t.error().message() << "\n";
            return kExitUsage;
        }
        tables = std::move(*t);
    }
    auto c = fleet::EtcdClient::connect(eps, std::chrono::milliseconds(2000), *sec);
    if (!c) {
        std::cerr << "injector agents: " << c.error().message() << "\n";
        return kExitNotApplied;
    }
    auto s = fleet::survey(*c);
    if (!s) {
        std::cerr << "injector agents: " << s.error().message() << "\n";
        return kExitNotApplied;
    }
    const bool json = vm["json"].as<bool>();
    nlohmann::json out = {{"agents", to_json(*s)}};
    if (!json) print_table(*s, eps);
    if (!p) {
        if (json) std::cout << out.dump(2) << "\n";
        return kExitHeld;
    }
    const auto needed = fleet::hosts_needing_agents(*p, *tables);
    const auto r = fleet::readiness(*s, needed);
    out["plan"] = {{"name", p->name},          {"needed", needed}, {"missing", r.missing},
                   {"unhealthy", r.unhealthy}, {"busy", r.busy},   {"ready", r.ready()}};
    if (json) {
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << "plan " << p->name << ": " << fleet::agents_needed_line(*p, *tables) << "\n";
        if (r.ready()) std::cout << "ready: each registered, healthy and driven by no other run\n";
        if (!r.missing.empty())
            std::cout << "NOT READY: no agent registered for " << plan::join_known(r.missing) << "\n";
        if (!r.unhealthy.empty()) std::cout << "NOT READY: unhealthy " << plan::join_known(r.unhealthy) << "\n";
        if (!r.busy.empty()) std::cout << "NOT READY: driven by another run: " << plan::join_known(r.busy) << "\n";
    }
    return r.ready() ? kExitHeld : kExitNotApplied;
}

}  // namespace inj::cli
