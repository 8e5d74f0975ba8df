// The controller side of fleet mode: an Engine, so `injector run --fleet` keeps the runner's
// timeline, probes, guards and journal unchanged. Instead of map writes it publishes each host's
// desired state to etcd (protocol.hpp) under a run lease it keeps alive, and each step carries
// one activation instant shared by every agent; inject/heal return once every agent has
// confirmed the step, and the report gives the spread of their applied-at times.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"
#include "net/compile.hpp"
#include "runner/engine.hpp"

namespace inj::fleet {

struct FleetOptions {
    std::string endpoints;
    EtcdSecurity security;  // TLS and etcd authentication
    // The plan's bytes exactly as the loader read and validated them: published as they are,
    // with their SHA-256 in every desired state (the file is never read again).
    std::string plan_text;
    std::string run_id;   // names the plan key; empty: audit::run()
    int lease_ttl_s = 3;  // the run lease (dead man's switch)
    // A step's activation instant is its publish + a lead: at least activation_lead; with
    // adaptive_lead, also twice the slowest delivery the agents reported over the last steps
    // (choose_lead), never more than max_activation_lead. Without it the lead is activation_lead.
    std::chrono::milliseconds activation_lead{150};
    bool adaptive_lead = true;
    std::chrono::milliseconds max_activation_lead{5000};
    std::chrono::milliseconds confirm_timeout{3000};   // agents must confirm a step within this
    std::chrono::milliseconds prepare_timeout{15000};  // agents must load the plan within this
};

// Plan hosts that need an agent: both ends of every cut or degraded pair (packets are judged
// where they are sent), and the target hosts of every fault that acts on processes or disks or
// darkens hosts (a dark host's egress drops everything, enforced by its agent alone; hosts with
// an agent for another fault of the plan also drop what they send to it).
std::vector<std::string> hosts_needing_agents(const plan::Plan& plan, const net::Tables& tables);

// `injector plan`'s line for fleet mode: which hosts need a registered, healthy agent before
// `run --fleet` starts (at most 12 named, then how many more).
std::string agents_needed_line(const plan::Plan& plan, const net::Tables& tables);

// Preflight for fleet mode: etcd answers, and no fault of the plan cuts any agent host from any
// etcd endpoint that lies in the topology (the tool's own control traffic). Returns one message
// per problem; empty means the control path is safe.
std::vector<std::string> check_control_path(const plan::Plan& plan, const net::Tables& tables,
                                            const std::string& endpoints);

// The statuses the controller believes: the document's host names the key it sits under, and
// the key is bound to the lease of that host's registration (a key written by anyone else, or
// left from an agent that is gone, is ignored). Keyed by host.
std::map<std::string, Status> trusted_statuses(const std::vector<KeyValue>& statuses,
                                               const std::vector<KeyValue>& registrations);

// Activation spread of one step: applied-at times of every agent, against the agreed instant.
struct StepSpread {
    uint64_t planned_ns = 0;  // the activation instant (realtime)
    size_t agents = 0;
    double spread_ms = 0;        // max - min of applied-at
    double late_max_ms = 0;      // max(applied - planned)
    double lead_ms = 0;          // planned - publish
    double delivery_max_ms = 0;  // the slowest agent's receipt of the step after its publish
    double clock_skew_ms = 0;    // the largest clock offset an agent's receipt proves (clock_skews)
};

// The lead of the next step from the slowest delivery of each recent step (ms): twice the
// largest + 10 ms (a watch that was slow once may be as slow again, and the agent still has to
// wake and act), at least `floor`, at most `cap`.
std::chrono::milliseconds choose_lead(const std::deque<double>& delivery_ms, std::chrono::milliseconds floor,
                                      std::chrono::milliseconds cap);

// The slowest delivery of one step: the largest received_ns - publish_ns (ms) over the statuses
// of that run and generation (an agent's clock behind the controller's counts as 0).
double slowest_delivery(const std::map<std::string, Status>& st, const std::string& run, uint64_t generation,
                        uint64_t publish_ns);

// The agreed instant assumes one clock (NTP). An agent read the step after the controller
// published it and before the controller read its status: a receipt stamped before publish_ns
// proves the agent's clock is behind by at least the difference (negative ms), one after read_ns
// that it is ahead (positive). Per host of that run and step, only the offsets proven (not 0).
std::map<std::string, double> clock_skews(const std::map<std::string, Status>& st, const std::string& run,
                                          uint64_t generation, uint64_t publish_ns, uint64_t read_ns);

// The engines of a fleet run: one FleetEngine applies every fault, of every kind: each agent
// runs the kind's own engine on its host (agent.hpp), so the runner's timeline, guards and
// verdict are the same as in local mode.
EngineSet fleet_engines(const plan::Plan& plan, FleetOptions o);

class FleetEngine : public Engine {
public:
    explicit FleetEngine(FleetOptions o) : opts_(std::move(o)) {}
    ~FleetEngine() override { release(); }

    std::string_view name() const override { return "fleet"; }
    Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) override;
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    // The lead the next inject will give its agents (FleetOptions): the runner asks that early.
    std::chrono::nanoseconds activation_lead(size_t /*index*/) const override { return next_lead(); }
    Result<void> heal(size_t index) override;
    Result<void> heal_all() noexcept override;
    std::vector<FaultCounters> counters() const override;
    // What the agents' restores brought back, with the RTO each agent measured.
    std::vector<ServiceRecovery> recoveries(size_t index) const override;
    // Every agent reports its restores done (an agent that is gone counts as done).
    bool settled() const override;
    // The activation and heal spread, each agent's own report of the fault (`hosts`), and the
    // kind's summary of those (faults::Kind::merge_reports: the fields a local report has).
    nlohmann::json fault_report(size_t index) const override;
    void release() noexcept override;

    const std::vector<std::string>& hosts() const { return hosts_; }
    std::optional<StepSpread> last_inject_spread(size_t index) const;

private:
    // Publishes the desired state (generation + 1) to every host in transactions, then waits
    // until every agent reports that generation (or the timeout). Returns the statuses.
    Result<std::map<std::string, Status>> publish_and_wait(std::chrono::milliseconds timeout);
    Result<std::map<std::string, Status>> read_statuses() const;
    // The lead the next inject uses (FleetOptions), and the delivery of a confirmed step noted.
    std::chrono::milliseconds next_lead() const;
    void note_delivery(const std::map<std::string, Status>& st, uint64_t publish_ns);
    // last_status_ from etcd, at most every 100 ms; mu_ held.
    void refresh_statuses() const;
    Desired desired_now() const;
    // Each agent's report of the fault, by host (an ignored one: why, with a warning); mu_ held.
    std::map<std::string, nlohmann::json> host_reports(size_t index) const;

    FleetOptions opts_;
    std::string run_;
    std::vector<std::string> hosts_;
    std::vector<std::string> fault_names_;
    std::vector<nlohmann::json (*)(const std::map<std::string, nlohmann::json>&)> merge_of_;  // per fault: its kind's
    std::map<size_t, FaultState> state_;                                                      // per sever fault
    uint64_t generation_ = 0;
    uint64_t run_deadline_real_ = 0;
    std::string plan_sha256_;
    mutable std::optional<EtcdClient> client_;  // its calls are serialised inside
    int64_t lease_ = 0;
    std::atomic<bool> keepalive_stop_{false};
    std::atomic<bool> lease_lost_{false};
    std::thread keepalive_;
    std::map<size_t, StepSpread> inject_spread_, heal_spread_;
    std::deque<double> deliveries_;      // the slowest delivery of each of the last steps (ms), newest last
    double last_skew_ms_ = 0;            // the largest |clock skew| the last step proved
    std::set<std::string> skew_warned_;  // hosts whose skew was logged

    mutable std::mutex mu_;  // counters() comes from the guards
    mutable std::map<std::string, Status> last_status_;
    mutable std::chrono::steady_clock::time_point status_read_{};
};

}  // namespace inj::fleet
