// The run's outcome as JSON: report.json, the journal's verify and recovery events, the CLI's
// summary. One shape everywhere, so a report read later says what the run printed.
#include "runner/outcome_json.hpp"

namespace inj::runner {
namespace {

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

nlohmann::json fault_json(const FaultRecord& f) {
    nlohmann::json j = {{"name", f.name},
                        {"kind", f.kind},
                        {"planned_at_ms", ms(f.planned_at)},
                        {"planned_duration_ms", ms(f.planned_duration)},
                        {"inject_cost_us", f.inject_cost.count() / 1000.0},
                        {"heal_cost_us", f.heal_cost.count() / 1000.0},
                        {"dropped", f.counters.dropped},
                        {"passed", f.counters.passed},
                        {"expired", f.counters.expired}};
    if (f.injected_at) j["injected_at_ms"] = ms(*f.injected_at);
    if (f.healed_at) j["healed_at_ms"] = ms(*f.healed_at);
    if (!f.error.empty()) j["error"] = f.error;
    if (!f.recoveries.empty()) j["recoveries"] = recoveries_json(f.recoveries);
    if (!f.engine_report.is_null()) j["engine"] = f.engine_report;
    return j;
}

}  // namespace

nlohmann::json recoveries_json(const std::vector<ServiceRecovery>& rs) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& r : rs) {
        nlohmann::json j = {
            {"service", r.service}, {"host", r.host}, {"pid", r.pid}, {"ready", r.ready}, {"rto_ms", ms(r.rto)}};
        if (!r.error.empty()) j["error"] = r.error;
        out.push_back(j);
    }
    return out;
}

nlohmann::json verify_json(const VerifyResult& v) {
    nlohmann::json missing = nlohmann::json::array();
    for (auto& m : v.missing) missing.push_back({{"record", m.record}, {"acknowledged_at_ms", ms(m.at)}});
    nlohmann::json j = {{"name", v.name},
                        {"probe", v.probe},
                        {"acknowledged", v.acknowledged},
                        {"missing", missing},
                        {"cost_ms", ms(v.cost)}};
    if (!v.error.empty()) j["error"] = v.error;
    return j;
}

nlohmann::json outcome_json(const RunOutcome& o) {
    nlohmann::json faults = nlohmann::json::array();
    for (auto& f : o.faults) faults.push_back(fault_json(f));
    nlohmann::json probes = nlohmann::json::array();
    for (auto& p : o.probes) {
        nlohmann::json j = {{"name", p.probe},     {"attempts", p.attempts},    {"successes", p.successes},
                            {"p50_ms", ms(p.p50)}, {"p99_ms", ms(p.p99)},       {"max_ms", ms(p.max)},
                            {"held", p.held},      {"worst_rate", p.worst_rate}};
        if (p.violated_at) j["violated_at_ms"] = ms(*p.violated_at);
        if (!p.violation.empty()) j["violation"] = p.violation;
        probes.push_back(j);
    }
    nlohmann::json verifies = nlohmann::json::array();
    for (auto& v : o.verifies) verifies.push_back(verify_json(v));
    nlohmann::json expectations = nlohmann::json::array();
    for (auto& e : o.expectations) expectations.push_back({{"name", e.name}, {"held", e.held}, {"message", e.message}});
    return {{"run", o.run_id},
            {"plan", o.plan_name},
            {"plan_file", o.plan_file},
            {"verdict", o.verdict},
            {"exit_code", o.exit_code},
            {"reason", o.reason},
            {"elapsed_ms", ms(o.elapsed)},
            {"faults", faults},
            {"probes", probes},
            {"verify", verifies},
            {"expectations", expectations},
            {"cleanup_errors", o.cleanup_errors},
            {"journal", o.journal},
            {"lab", o.lab_id}};
}

}  // namespace inj::runner
