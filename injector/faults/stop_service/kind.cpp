// stop_service: one service on the target hosts is killed (SIGKILL), terminated (SIGTERM) or
// frozen in place (SIGSTOP); at heal a stopped one continues and a killed one starts again when
// `restart: true`, its time to ready measured like a power restore's (RTO).
#include <signal.h>

#include <algorithm>
#include <ostream>

#include "faults/facilities.hpp"
#include "faults/registry.hpp"
#include "faults/stop_service/stop_engine.hpp"
#include "plan/json.hpp"

namespace inj::faults {
namespace {
using namespace plan;

void check_lab_service(FaultContext& ctx, const Field& sf, const Plan& p, const Fault& fault, const std::string& v) {
    const Service* svc = nullptr;
    for (auto& s : p.lab.services)
        if (s.name == v) svc = &s;
    if (!svc) {
        std::vector<std::string> names;
        for (auto& s : p.lab.services) names.push_back(s.name);
        ctx.error(sf, "unknown service '" + v + "' (services: " + (names.empty() ? "none" : join(names)) + ")");
        return;
    }
    for (auto& h : selected_hosts(p.topology, fault.target))
        if (std::find(svc->hosts.begin(), svc->hosts.end(), h) == svc->hosts.end())
            ctx.error(sf, "host '" + h + "' of the target does not run service '" + v + "'");
}

void load(FaultContext& ctx, MapView& m, const Field&, Fault& fault) {
    auto& spec = fault.spec.emplace<StopServiceSpec>();
    const Plan& p = ctx.plan();
    if (auto sf = m.require("service", "the service to stop, one the target hosts run"))
        if (auto v = ctx.name(*sf)) {
            spec.service = *v;
            if (p.topology.bound()) {  // a bound host runs one service: its container, or itself
                for (auto& hn : selected_hosts(p.topology, fault.target))
                    if (const Host* h = p.topology.host(hn); h && h->binding.service_name(hn) != *v)
                        ctx.error(*sf, "host '" + hn + "' is bound to " + h->binding.describe() + ": its service is '" +
                                           h->binding.service_name(hn) + "', not '" + *v + "'");
            } else {
                check_lab_service(ctx, *sf, p, fault, *v);
            }
        }
    if (auto sg = m.get("signal"))
        if (auto v = ctx.str(*sg)) {
            std::string s = v->rfind("SIG", 0) == 0 ? v->substr(3) : *v;
            if (s == "KILL")
                spec.signal = SIGKILL;
            else if (s == "TERM")
                spec.signal = SIGTERM;
            else if (s == "STOP")
                spec.signal = SIGSTOP;
            else
                ctx.error(*sg, "unknown signal '" + *v + "' (use KILL, TERM or STOP)");
            spec.signal_name = s;
        }
    if (auto rf = m.get("restart"))
        if (auto b = ctx.boolean(*rf)) {
            if (*b && spec.signal == SIGSTOP)
                ctx.error(*rf, "a stopped service continues at heal (SIGCONT); restart applies to KILL and TERM");
            else
                spec.restart = *b;
        }
}

void describe(std::ostream& out, const DescribeContext& c) {
    const Fault& f = c.fault();
    const auto& s = *f.as<StopServiceSpec>();
    auto hosts = selected_hosts(c.plan.topology, f.target);
    out << headline(f) << "stop_service " << s.service << " on " << plan::describe(f.target) << " (SIG" << s.signal_name
        << ") for " << format_duration(f.duration) << ", healed at T+" << format_duration(f.at + f.duration) << "  ["
        << f.mark.str() << "]\n";
    out << "      " << hosts.size() << (hosts.size() == 1 ? " host: " : " hosts: ") << c.names(hosts) << "; at heal: "
        << (s.signal == SIGSTOP ? "SIGCONT"
            : s.restart         ? "started again, readiness awaited (RTO in the report)"
                                : "left stopped")
        << "\n";
}

std::vector<Key> keys() {
    return {{"service", "the service to stop (a lab service every target host runs)", {{"type", "string"}}},
            {"signal",
             "KILL (default), TERM or STOP (also with a SIG prefix)",
             {{"enum", {"KILL", "TERM", "STOP", "SIGKILL", "SIGTERM", "SIGSTOP"}}}},
            {"restart", "start it again at heal (KILL, TERM); its time to ready is its RTO", {{"type", "boolean"}}}};
}

}  // namespace

extern const Kind kStopService{
    "stop_service",
    "a service on the target hosts is killed, terminated or stopped; optionally started again at heal",
    StopServiceSpec::takes_peer,
    StopServiceSpec::host_target,
    keys(),
    load,
    describe,
    nullptr,
    [](Facilities& f) -> Engine* {
        return &f.own("stop_service", [] { return std::make_unique<StopServiceEngine>(); });
    },
};

}  // namespace inj::faults
