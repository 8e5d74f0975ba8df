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

const std::set<std::string> kSetup = {"lab_reused",      "lab_up_begin",  "lab_up",        "lab_up_failed",
                                      "engine_prepared", "steady_before", "timeline_start"};
const std::set<std::string> kCleanup = {"heal_all", "engine_released", "lab_down",
                                        "lab_kept", "steady_after",    "recovered"};

}  // namespace

std::optional<double> ProbeView::slo_rate() const {
    if (spec.is_object() && spec.contains("slo") && spec["slo"].is_object())
        return opt_num(spec["slo"], "success_rate");
    return std::nullopt;
}
double ProbeView::window_ms() const {
    if (spec.is_object() && spec.contains("slo") && spec["slo"].is_object())
        return num(spec["slo"], "window_ms", 10000);
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

namespace {

// Folds journal events into a RunView one at a time; what only the whole journal can tell
// (the verdict of an old refused run, the end of observation, which guard aborted) is settled
// in finish().
class ViewBuilder {
public:
    explicit ViewBuilder(size_t events) { v_.events = events; }

    void add(const nlohmann::json& ev) {
        if (!ev.is_object()) return;
        const std::string type = str(ev, "event");
        envelope(ev);
        if (type == "run_start") {
            v_.plan_name = str(ev, "plan");
            v_.plan_file = str(ev, "plan_file");
            v_.max_duration_ms = opt_num(ev, "max_duration_ms");
        } else if (type == "plan") {
            plan(ev);
        } else if (type == "environment") {
            v_.environment = fields(ev);
        } else if (type == "preflight") {
            v_.preflight = fields(ev);
        } else if (type == "refused") {
            v_.refusals.push_back(fields(ev));
        } else if (type == "timeline_start") {
            timeline_start(ev);
        } else if (kSetup.count(type)) {
            v_.setup.push_back(fields(ev));
        } else if (type == "guards") {
            if (ev.contains("guards") && ev["guards"].is_array())
                for (auto& g : ev["guards"]) v_.guards.push_back({str(g, "name"), str(g, "watches"), str(g, "probe")});
        } else if (type == "probe") {
            probe(ev);
        } else if (type == "inject") {
            inject(ev);
        } else if (type == "heal") {
            heal(ev);
        } else if (type == "counters") {
            counters(ev);
        } else if (type == "abort") {
            aborted(ev);
        } else if (type == "slo") {
            probe_of(str(ev, "probe")).result = fields(ev);
            if (v_.timeline_started) v_.end_ms = std::max(v_.end_ms, v_.at_ms(ev));
        } else if (type == "expectation") {
            v_.expectations.push_back(fields(ev));
        } else if (type == "recovery") {
            recovery(ev);
        } else if (kCleanup.count(type)) {
            v_.cleanup.push_back(fields(ev));
        } else if (type == "verdict") {
            v_.has_verdict = true;
            v_.verdict = str(ev, "verdict");
            v_.reason = str(ev, "reason");
            v_.exit_code = ev.value("exit_code", -1);
        } else if (type == "run_end") {
            v_.complete = true;
        } else {
            nlohmann::json o = ev;  // keeps t and mono_ns: the report places it on the timeline
            o.erase("run");
            v_.other.push_back(o);
        }
    }

    RunView finish() {
        // Journals of refused runs written before every run ended with a verdict.
        if (!v_.has_verdict && !v_.refusals.empty()) {
            v_.has_verdict = true;
            v_.verdict = "not_applied";
            v_.exit_code = 3;
            v_.reason = str(v_.refusals.back(), "reason");
        }
        if (v_.end_ms <= 0) v_.end_ms = last_ms_;
        v_.end_ms = std::max(v_.end_ms, last_ms_);
        if (v_.abort) attribute_abort();
        return std::move(v_);
    }

private:
    RunView v_;
    double last_ms_ = 0;  // T+ of the latest thing observed (attempt end, inject, heal, abort)

    FaultView& fault_of(const std::string& name, const std::string& kind) {
        for (auto& f : v_.faults)
            if (f.name == name) return f;
        FaultView f;
        f.name = name;
        f.kind = kind;
        v_.faults.push_back(f);
        return v_.faults.back();
    }
    ProbeView& probe_of(const std::string& name) {
        for (auto& p : v_.probes)
            if (p.name == name) return p;
        v_.probes.push_back(ProbeView{name, nullptr, {}, nullptr});
        return v_.probes.back();
    }

    // Run id, wall-clock span and first monotonic time, from whichever events carry them.
    void envelope(const nlohmann::json& ev) {
        if (v_.run_id.empty()) v_.run_id = str(ev, "run");
        if (v_.started.empty()) v_.started = str(ev, "t");
        if (!str(ev, "t").empty()) v_.finished = str(ev, "t");
        if (!v_.first_mono_ns && ev.contains("mono_ns") && ev["mono_ns"].is_number())
            v_.first_mono_ns = ev["mono_ns"].get<uint64_t>();
    }
    void plan(const nlohmann::json& ev) {
        v_.plan = fields(ev);
        if (v_.plan_name.empty()) v_.plan_name = str(ev, "name");
        v_.description = str(ev, "description");
        if (auto m = opt_num(ev, "max_duration_ms")) v_.max_duration_ms = m;
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
    }
    void timeline_start(const nlohmann::json& ev) {
        v_.timeline_started = true;
        v_.t0_mono_ns = ev.contains("t0_mono_ns") && ev["t0_mono_ns"].is_number() ? ev["t0_mono_ns"].get<uint64_t>()
                                                                                  : ev.value("mono_ns", uint64_t{0});
        v_.setup.push_back(fields(ev));
    }
    void probe(const nlohmann::json& ev) {
        auto& p = probe_of(str(ev, "probe"));
        Sample s{num(ev, "at_ms"), ev.value("ok", false), num(ev, "latency_ms"), str(ev, "detail"),
                 ev.value("seq", uint64_t{0})};
        p.samples.push_back(s);
        last_ms_ = std::max(last_ms_, s.at_ms + s.latency_ms);
    }
    void inject(const nlohmann::json& ev) {
        auto& f = fault_of(str(ev, "fault"), str(ev, "kind"));
        if (f.kind.empty()) f.kind = str(ev, "kind");
        f.injected_at_ms = v_.at_ms(ev);
        f.inject_cost_us = num(ev, "cost_us");
        f.lead_ms = num(ev, "lead_ms");
        f.inject_ok = ev.value("ok", true);
        if (!str(ev, "error").empty()) f.error = str(ev, "error");
        last_ms_ = std::max(last_ms_, *f.injected_at_ms);
    }
    void heal(const nlohmann::json& ev) {
        auto& f = fault_of(str(ev, "fault"), str(ev, "kind"));
        f.healed_at_ms = v_.at_ms(ev);
        f.heal_cost_us = num(ev, "cost_us");
        if (ev.contains("recoveries") && ev["recoveries"].is_array()) f.recoveries = ev["recoveries"];
        if (!str(ev, "error").empty()) f.error = str(ev, "error");
        last_ms_ = std::max(last_ms_, *f.healed_at_ms + f.heal_cost_us / 1000.0);
    }
    void counters(const nlohmann::json& ev) {
        double at = v_.at_ms(ev);
        if (ev.contains("counters") && ev["counters"].is_array())
            for (auto& c : ev["counters"]) {
                auto& f = fault_of(str(c, "fault"), "");
                f.dropped = c.value("dropped", uint64_t{0});
                f.passed = c.value("passed", uint64_t{0});
                f.expired = c.value("expired", uint64_t{0});
                if (v_.timeline_started && !ev.value("final", false)) f.drops.emplace_back(at, f.dropped);
            }
    }
    void aborted(const nlohmann::json& ev) {
        AbortView a{v_.at_ms(ev), str(ev, "guard"), str(ev, "reason")};
        if (a.guard.empty()) a.guard = a.reason.substr(0, a.reason.find(':'));
        v_.abort = a;
        last_ms_ = std::max(last_ms_, a.at_ms);
    }
    // Written when a background restore is done, after the fault's heal event.
    void recovery(const nlohmann::json& ev) {
        auto& f = fault_of(str(ev, "fault"), "");
        nlohmann::json r = fields(ev);
        r.erase("event");
        r.erase("fault");
        f.recoveries.push_back(r);
    }
    // Which guard stopped the run: abort_when guards are told apart by their probe.
    void attribute_abort() {
        bool matched = false;
        for (auto& g : v_.guards) {
            if (g.name != v_.abort->guard) continue;
            if (!g.probe.empty() && v_.abort->reason.find("probe " + g.probe + " ") == std::string::npos) continue;
            g.tripped = true;
            g.at_ms = v_.abort->at_ms;
            g.reason = v_.abort->reason;
            matched = true;
            break;
        }
        if (!matched) v_.guards.push_back({v_.abort->guard, "", "", true, v_.abort->at_ms, v_.abort->reason});
        // An abort heals everything at once (heal_all), not fault by fault.
        for (auto& f : v_.faults)
            if (f.injected_at_ms && !f.healed_at_ms) f.healed_at_ms = v_.abort->at_ms;
    }
};

}  // namespace

RunView build_view(const std::vector<nlohmann::json>& events) {
    ViewBuilder b(events.size());
    for (auto& ev : events) b.add(ev);
    return b.finish();
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
    if (a < 1)
        std::snprintf(buf, sizeof buf, "%.0fus", ms * 1000);
    else if (a < 1000)
        std::snprintf(buf, sizeof buf, "%.0fms", ms);
    else if (a < 60000)
        std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000);
    else
        std::snprintf(buf, sizeof buf, "%dm%02.0fs", static_cast<int>(ms / 60000), std::fmod(ms, 60000) / 1000);
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
