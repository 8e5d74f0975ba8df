// Fleet mode's etcd key layout and the documents stored there. The controller (`injector run
// --fleet`) and the agents (`injector agent`) talk only through these keys:
//
//   /injector/agents/<host>        an agent's registration (AgentInfo), bound to the agent's own
//                                  lease: it vanishes when the agent dies or loses etcd
//   /injector/runs/<run>/plan      the plan's YAML text, bound to the run lease; every agent
//                                  compiles the same classifier tables from it
//   /injector/desired/<host>       what the host must have in force (Desired), bound to the run
//                                  lease the controller keeps alive. Claimed by a transaction
//                                  (absent -> put), so two runs never drive one host. When the
//                                  lease lapses (the controller died) etcd deletes it and the
//                                  agent reverts: the dead man's switch.
//   /injector/status/<host>        what the agent actually did (Status), bound to the agent lease
//
// Instants are CLOCK_REALTIME ns (the clock hosts share through NTP); an agent converts a
// deadline to its own CLOCK_MONOTONIC for the BPF rule, which stays the last layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inj::fleet {

inline const std::string kAgentsPrefix = "/injector/agents/";
inline const std::string kDesiredPrefix = "/injector/desired/";
inline const std::string kStatusPrefix = "/injector/status/";
inline std::string agent_key(const std::string& host) { return kAgentsPrefix + host; }
inline std::string desired_key(const std::string& host) { return kDesiredPrefix + host; }
inline std::string status_key(const std::string& host) { return kStatusPrefix + host; }
inline std::string plan_key(const std::string& run) { return "/injector/runs/" + run + "/plan"; }

struct AgentInfo {
    std::string host;
    int pid = 0;
    std::string interface;    // where it attaches the classifier
    bool healthy = false;     // it could load the classifier here
    std::string error;        // why not
    uint64_t started_ns = 0;  // realtime
};

// The state of one fault on a host.
struct FaultState {
    size_t index = 0;  // plan.method index
    bool armed = false;
    uint64_t at_ns = 0;        // realtime instant to apply this state (activation time)
    uint64_t deadline_ns = 0;  // realtime; the rule is inert past it
};

struct Desired {
    std::string run;
    uint64_t generation = 0;       // grows with every change the controller publishes
    int lease_ttl_ms = 0;          // agents revert on their own after losing etcd this long
    uint64_t run_deadline_ns = 0;  // realtime; nothing stays in force past it
    std::string plan_sha256;       // of the plan bytes the controller validated and published
    std::vector<FaultState> faults;
};

// A service the agent brought back after a fault (a power restore, a restarted service).
struct Recovery {
    std::string service;
    int pid = 0;
    uint64_t rto_ns = 0;  // from the start of the agent's restore to ready
    bool ready = false;
    std::string error;
};

// An agent's engine report of one fault (Engine::fault_report) is at most this long as JSON text:
// the agent cuts its own down to it (bounded_report), the controller ignores a longer one.
inline constexpr size_t kMaxFaultReportBytes = 4096;

struct AppliedFault {
    size_t index = 0;
    bool armed = false;
    uint64_t applied_ns = 0;  // realtime of the step (the map write, the kill, the restore's start)
    uint64_t dropped = 0, passed = 0, expired = 0;
    std::vector<Recovery> recoveries;  // what its last heal brought back (complete once settled)
    nlohmann::json report;             // its engine's fault_report on this host (an object; null: none)
    std::string report_error;          // set by the parser: why the document's report was ignored
};

struct Status {
    std::string host;
    std::string run;          // empty: clean (nothing loaded)
    uint64_t generation = 0;  // the Desired generation applied
    std::string state;        // ready | reverted | clean | error | refused (a check failed)
    std::string reason;       // why reverted / the error
    uint64_t updated_ns = 0;
    // When this agent first read the desired state of `generation` (realtime; 0: not known). Its
    // distance from the controller's publish is the delivery the next activation lead must cover.
    uint64_t received_ns = 0;
    // False while work a heal started goes on (services restarting, readiness awaited): the
    // controller waits for every agent's before it judges the run.
    bool settled = true;
    std::vector<AppliedFault> faults;
};

std::string to_json(const AgentInfo& a);
std::string to_json(const Desired& d);
std::string to_json(const Status& s);
std::optional<AgentInfo> agent_info_from_json(const std::string& s);
std::optional<Desired> desired_from_json(const std::string& s);
std::optional<Status> status_from_json(const std::string& s);

// An engine report as an agent writes it: at most `max` bytes of JSON text (valid UTF-8). A
// longer one keeps what fits, the smallest members of each object first (the fields that say
// what happened outlive the long accounts), and says how long it was (`truncated_from_bytes`).
nlohmann::json bounded_report(const nlohmann::json& report, size_t max = kMaxFaultReportBytes);

uint64_t realtime_ns();

}  // namespace inj::fleet
