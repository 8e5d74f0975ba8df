// Rebuilding a run from its journal events (see model.hpp).
#include "report/model.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

namespace inj::report {
namespace {

double num(const nlohmann::json& j, const char* key, double dflt = 0) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : dflt;
}
std::string str(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::optional<double> opt_num(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it != j.end() && it->is_number()) return it->get<double>();
    return std::nullopt;
}

// The event's own fields, without the envelope every line carries.
nlohmann::json fields(const nlohmann::json& ev) {
    nlohmann::json f = ev;
    for (auto k : {"t", "mono_ns", "run"}) f.erase(k);
    return f;
}

const std::set<std::string> kSetup = {"lab_reused", "lab_up_begin", "lab_up", "lab_up_failed", "engine_prepared",
                                      "steady_before", "timeline_start"};
const std::set<std::string> kCleanup = {"heal_all", "engine_released", "lab_down", "lab_kept", "steady_after",
                                        "recovered"};

}  // namespace

std::optional<double> ProbeView::slo_rate() const {
    if (spec.is_object() && spec.contains("slo") && spec["slo"].is_object()) return opt_num(spec["slo"], "success_rate");
    return std::nullopt;
}
double ProbeView::window_ms() const {
    if (spec.is_object() && spec.contains("slo") && spec["slo"].is_object()) return num(spec["slo"], "window_ms", 10000);
    return 10000;
}

double RunView::at_ms(const nlohmann::json& ev) const {
    if (auto a = opt_num(ev, "at_ms")) return *a;
    auto it = ev.find("mono_ns");
    if (it == ev.end() || !it->is_number()) return 0;
    uint64_t m = it->get<uint64_t>();
    uint64_t base = t0_mono_ns ? t0_mono_ns : first_mono_ns;
    return (static_cast<double>(m) - static_cast<double>(base)) / 1e6;
}

const FaultView* RunView::fault(const std::string& name) const {
    for (auto& f : faults)
        if (f.name == name) return &f;
    return nullptr;
}

std::vector<std::string> RunView::cleanup_problems() const {
    std::vector<std::string> out;
    for (auto& c : cleanup)
        if (c.contains("ok") && c["ok"].is_boolean() && !c["ok"].get<bool>() && str(c, "event") != "steady_after") {
            std::string what = str(c, "event");
            for (auto k : {"engine", "lab"})
                if (c.contains(k)) what += " " + str(c, k);
            if (!str(c, "error").empty()) what += ": " + str(c, "error");
            out.push_back(what);
        }
    return out;
}

RunView build_view(const std::vector<nlohmann::json>& events) {
    RunView v;
    v.events = events.size();
    auto fault_of = [&](const std::string& name, const std::string& kind) -> FaultView& {
        for (auto& f : v.faults)
            if (f.name == name) return f;
        FaultView f;
        f.name = name;
        f.kind = kind;
        v.faults.push_back(f);
        return v.faults.back();
    };
    auto probe_of = [&](const std::string& name) -> ProbeView& {
        for (auto& p : v.probes)
            if (p.name == name) return p;
        v.probes.push_back(ProbeView{name, nullptr, {}, nullptr});
        return v.probes.back();
    };
    double last_ms = 0;
    for (auto& ev : events) {
        if (!ev.is_object()) continue;
        const std::string type = str(ev, "event");
        if (v.run_id.empty()) v.run_id = str(ev, "run");
        if (v.started.empty()) v.started = str(ev, "t");
        if (!str(ev, "t").empty()) v.finished = str(ev, "t");
        if (!v.first_mono_ns && ev.contains("mono_ns") && ev["mono_ns"].is_number())
            v.first_mono_ns = ev["mono_ns"].get<uint64_t>();
        if (type == "run_start") {
            v.plan_name = str(ev, "plan");
            v.plan_file = str(ev, "plan_file");
            v.max_duration_ms = opt_num(ev, "max_duration_ms");
        } else if (type == "plan") {
            v.plan = fields(ev);
            if (v.plan_name.empty()) v.plan_name = str(ev, "name");
            v.description = str(ev, "description");
            if (auto m = opt_num(ev, "max_duration_ms")) v.max_duration_ms = m;
            if (ev.contains("faults") && ev["faults"].is_array())
                for (auto& f : ev["faults"]) {
                    auto& fv = fault_of(str(f, "name"), str(f, "kind"));
                    fv.planned_at_ms = opt_num(f, "at_ms");
                    fv.planned_duration_ms = opt_num(f, "duration_ms");
                    fv.target = str(f, "target");
                    fv.peer = str(f, "peer");
                    fv.line = str(f, "line");
                    if (f.contains("params") && f["params"].is_object()) fv.params = f["params"];
                }
            if (ev.contains("probes") && ev["probes"].is_array())
                for (auto& p : ev["probes"]) probe_of(str(p, "name")).spec = p;
        } else if (type == "environment") {
            v.environment = fields(ev);
        } else if (type == "preflight") {
            v.preflight = fields(ev);
        } else if (type == "refused") {
            v.refusals.push_back(fields(ev));
        } else if (type == "timeline_start") {
            v.timeline_started = true;
            v.t0_mono_ns = ev.contains("t0_mono_ns") && ev["t0_mono_ns"].is_number() ? ev["t0_mono_ns"].get<uint64_t>()
                                                                                        : ev.value("mono_ns", uint64_t{0});
            v.setup.push_back(fields(ev));
        } else if (kSetup.count(type)) {
            v.setup.push_back(fields(ev));
        } else if (type == "guards") {
            if (ev.contains("guards") && ev["guards"].is_array())
                for (auto& g : ev["guards"]) v.guards.push_back({str(g, "name"), str(g, "watches"), str(g, "probe")});
        } else if (type == "probe") {
            auto& p = probe_of(str(ev, "probe"));
            Sample s{num(ev, "at_ms"), ev.value("ok", false), num(ev, "latency_ms"), str(ev, "detail"),
                     ev.value("seq", uint64_t{0})};
            p.samples.push_back(s);
            last_ms = std::max(last_ms, s.at_ms + s.latency_ms);
        } else if (type == "inject") {
            auto& f = fault_of(str(ev, "fault"), str(ev, "kind"));
            if (f.kind.empty()) f.kind = str(ev, "kind");
            f.injected_at_ms = v.at_ms(ev);
            f.inject_cost_us = num(ev, "cost_us");
            f.inject_ok = ev.value("ok", true);
            if (!str(ev, "error").empty()) f.error = str(ev, "error");
            last_ms = std::max(last_ms, *f.injected_at_ms);
        } else if (type == "heal") {
            auto& f = fault_of(str(ev, "fault"), str(ev, "kind"));
            f.healed_at_ms = v.at_ms(ev);
            f.heal_cost_us = num(ev, "cost_us");
            if (ev.contains("recoveries") && ev["recoveries"].is_array()) f.recoveries = ev["recoveries"];
            if (!str(ev, "error").empty()) f.error = str(ev, "error");
            last_ms = std::max(last_ms, *f.healed_at_ms + f.heal_cost_us / 1000.0);
        } else if (type == "counters") {
            double at = v.at_ms(ev);
            if (ev.contains("counters") && ev["counters"].is_array())
                for (auto& c : ev["counters"]) {
                    auto& f = fault_of(str(c, "fault"), "");
                    f.dropped = c.value("dropped", uint64_t{0});
                    f.passed = c.value("passed", uint64_t{0});
                    f.expired = c.value("expired", uint64_t{0});
                    if (v.timeline_started && !ev.value("final", false)) f.drops.emplace_back(at, f.dropped);
                }
        } else if (type == "abort") {
            AbortView a{v.at_ms(ev), str(ev, "guard"), str(ev, "reason")};
            if (a.guard.empty()) a.guard = a.reason.substr(0, a.reason.find(':'));
            v.abort = a;
            last_ms = std::max(last_ms, a.at_ms);
        } else if (type == "slo") {
            probe_of(str(ev, "probe")).result = fields(ev);
            if (v.timeline_started) v.end_ms = std::max(v.end_ms, v.at_ms(ev));
        } else if (type == "expectation") {
            v.expectations.push_back(fields(ev));
        } else if (type == "recovery") {
            // Written when a background restore is done, after the fault's heal event.
            auto& f = fault_of(str(ev, "fault"), "");
            nlohmann::json r = fields(ev);
            r.erase("event");
            r.erase("fault");
            f.recoveries.push_back(r);
        } else if (kCleanup.count(type)) {
            v.cleanup.push_back(fields(ev));
        } else if (type == "verdict") {
            v.has_verdict = true;
            v.verdict = str(ev, "verdict");
            v.reason = str(ev, "reason");
            v.exit_code = ev.value("exit_code", -1);
        } else if (type == "run_end") {
            v.complete = true;
        } else {
            nlohmann::json o = ev;  // keeps t and mono_ns: the report places it on the timeline
            o.erase("run");
            v.other.push_back(o);
        }
    }
    // Journals of refused runs written before every run ended with a verdict.
    if (!v.has_verdict && !v.refusals.empty()) {
        v.has_verdict = true;
        v.verdict = "not_applied";
        v.exit_code = 3;
        v.reason = str(v.refusals.back(), "reason");
    }
    if (v.end_ms <= 0) v.end_ms = last_ms;
    v.end_ms = std::max(v.end_ms, last_ms);
    // Which guard stopped the run: abort_when guards are told apart by their probe.
    if (v.abort) {
        bool matched = false;
        for (auto& g : v.guards) {
            if (g.name != v.abort->guard) continue;
            if (!g.probe.empty() && v.abort->reason.find("probe " + g.probe + " ") == std::string::npos) continue;
            g.tripped = true;
            g.at_ms = v.abort->at_ms;
            g.reason = v.abort->reason;
            matched = true;
            break;
        }
        if (!matched) v.guards.push_back({v.abort->guard, "", "", true, v.abort->at_ms, v.abort->reason});
        // An abort heals everything at once (heal_all), not fault by fault.
        for (auto& f : v.faults)
            if (f.injected_at_ms && !f.healed_at_ms) f.healed_at_ms = v.abort->at_ms;
    }
    return v;
}

std::optional<RunView> load_journal(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::vector<nlohmann::json> events;
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object()) events.push_back(std::move(j));
    }
    if (events.empty()) return std::nullopt;
    return build_view(events);
}

std::string fmt_ms(double ms) {
    char buf[32];
    double a = std::fabs(ms);
    if (a < 1) std::snprintf(buf, sizeof buf, "%.0fus", ms * 1000);
    else if (a < 1000) std::snprintf(buf, sizeof buf, "%.0fms", ms);
    else if (a < 60000) std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000);
    else std::snprintf(buf, sizeof buf, "%dm%02.0fs", static_cast<int>(ms / 60000), std::fmod(ms, 60000) / 1000);
    return buf;
}

std::string fmt_t(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "T+%.1fs", ms / 1000);
    return buf;
}

std::string scalar_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace inj::report
