// A run as the reports see it, rebuilt from its journal alone (so `injector report` regenerates
// any report from a journal, also one of a crashed run). Driven by event types, not by fault
// kinds: a fault is its name, kind, timing and parameters, whatever the kind, and events this
// version does not know are kept (and listed by every report) rather than dropped.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace inj::report {

struct Sample {
    double at_ms = 0;  // attempt start, from T+0
    bool ok = false;
    double latency_ms = 0;
    std::string detail;
    uint64_t seq = 0;
};

struct ProbeView {
    std::string name;
    nlohmann::json spec;  // from the plan event: kind, every_ms, timeout_ms, slo {...}
    std::vector<Sample> samples;
    nlohmann::json result;                   // the `slo` event: attempts, held, violation, ... (null if none)
    std::optional<double> slo_rate() const;  // spec.slo.success_rate
    double window_ms() const;                // spec.slo.window_ms (10 s if absent)
};

struct FaultView {
    std::string name, kind, target, peer, line;
    nlohmann::json params = nlohmann::json::object();  // plan fields beyond name/kind/timing/target
    std::optional<double> planned_at_ms, planned_duration_ms;
    std::optional<double> injected_at_ms, healed_at_ms;
    bool inject_ok = true;
    std::string error;
    double inject_cost_us = 0, heal_cost_us = 0;
    double lead_ms = 0;  // asked this long before it took hold (fleet: the agents' activation lead)
    uint64_t dropped = 0, passed = 0, expired = 0;
    std::vector<std::pair<double, uint64_t>> drops;       // (T+ms, dropped so far)
    nlohmann::json recoveries = nlohmann::json::array();  // from the heal event
};

struct GuardView {
    std::string name, watches, probe;
    bool tripped = false;
    double at_ms = 0;
    std::string reason;
};

struct AbortView {
    double at_ms = 0;
    std::string guard, reason;
};

struct RunView {
    std::string run_id, plan_name, plan_file, description;
    std::string started, finished;                // wall-clock ISO times of the first and last events
    nlohmann::json plan, environment, preflight;  // the events' payloads (null if absent)
    std::optional<double> max_duration_ms;
    bool timeline_started = false;
    double end_ms = 0;  // T+ of the end of observation (or of the last event)
    bool has_verdict = false;
    std::string verdict, reason;
    int exit_code = -1;
    bool complete = false;  // run_end seen
    std::vector<FaultView> faults;
    std::vector<ProbeView> probes;
    std::vector<GuardView> guards;
    std::optional<AbortView> abort;
    std::vector<nlohmann::json> expectations;  // `expectation` events (RTO, RPO, ...)
    std::vector<nlohmann::json> refusals;      // `refused` events
    std::vector<nlohmann::json> setup;         // lab_up, engine_prepared, steady_before ...
    std::vector<nlohmann::json> cleanup;       // heal_all, engine_released, lab_down ... steady_after
    std::vector<nlohmann::json> other;         // events this version does not know, in order
    size_t events = 0;

    // T+ms of an event: its at_ms, else its monotonic time against the timeline's start.
    double at_ms(const nlohmann::json& ev) const;
    const FaultView* fault(const std::string& name) const;
    std::vector<std::string> cleanup_problems() const;  // cleanup events that report ok=false
    uint64_t t0_mono_ns = 0;
    uint64_t first_mono_ns = 0;
};

RunView build_view(const std::vector<nlohmann::json>& events);
// Reads a journal file (JSON lines; a torn last line is skipped). Empty events: nullopt.
std::optional<RunView> load_journal(const std::string& path);

// Formatting shared by the renderers.
std::string fmt_ms(double ms);                     // 1234.5 -> "1.2s", 45 -> "45ms", 0.04 -> "40us"
std::string fmt_t(double ms);                      // "T+12.3s"
std::string scalar_text(const nlohmann::json& v);  // strings unquoted, others dumped

}  // namespace inj::report
