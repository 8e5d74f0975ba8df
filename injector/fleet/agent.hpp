// `injector agent`: runs on one host (in a lab: inside the host's namespace), registers under
// /injector/agents/<host>, watches /injector/desired/<host> and applies it with the netfault
// classifier attached at tcx egress of the host's own interface (every packet judged once, at
// its source, exactly as the fabric attachment of local mode does). It reports what it applied,
// when, and its counters under /injector/status/<host>.
//
// It reverts (disarms and detaches everything) on its own when
//   - the desired key disappears (run ended, or the controller's lease lapsed: it died),
//   - it has not reached etcd for longer than the run's lease TTL (a local timer),
// and each rule also carries the BPF deadline. On start it reconciles to the desired state, or
// stays clean when there is none (its links died with the previous process).
//
// It refuses (status "refused" with the reason, nothing applied, still serving) a desired state
// that is malformed, not bound to a live lease, past its deadline limit or lease TTL range, whose
// plan's hash differs from the one the controller wrote, or whose rules would cut this machine
// from etcd, its default route or its SSH peers (agent_checks.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "common/result.hpp"
#include "fleet/etcd_security.hpp"
#include "report/http_server.hpp"

namespace inj::fleet {

struct AgentOptions {
    std::string endpoints;                                                // etcd endpoints, comma-separated
    std::string host;                                                     // plan host name this agent stands for
    std::string interface = "eth0";                                       // where the classifier goes (tcx egress)
    int lease_ttl_s = 2;                                                  // the agent's registration lease
    std::chrono::milliseconds status_every{1000};                         // counters refresh while a run is loaded
    EtcdSecurity security;                                                // TLS and etcd authentication
    std::chrono::milliseconds max_fault_duration{std::chrono::hours(1)};  // no deadline further away
    std::optional<report::LoopbackHttp::Address> metrics;                 // Prometheus endpoint (loopback)
};

// The agent command's options (--etcd, --host, --interface, --lease-ttl, --max-fault-duration,
// --metrics and the etcd security options) and reading them back; a usage problem is an Error.
void add_agent_options(boost::program_options::options_description& d);
Result<AgentOptions> agent_options_from(const boost::program_options::variables_map& vm);

// Runs until `stop` becomes true (a signal); returns the process exit code. Errors before the
// agent could register (etcd unreachable, bad options) are returned as an Error.
Result<int> run_agent(const AgentOptions& opts, const std::atomic<bool>& stop);

}  // namespace inj::fleet
