// The agent's Prometheus metrics (see agent_metrics.hpp).
#include "fleet/agent_metrics.hpp"

#include <sstream>

#include "report/http_server.hpp"

namespace inj::fleet {

using report::prom_family;
using report::prom_label;
using report::prom_num;

void AgentMetrics::started(const AgentInfo& info) {
    std::lock_guard lk(mu_);
    info_ = info;
}

void AgentMetrics::contact(bool reachable, int64_t last_contact_mono_ns) {
    std::lock_guard lk(mu_);
    reachable_ = reachable;
    last_contact_ns_ = last_contact_mono_ns;
}

void AgentMetrics::registered() {
    std::lock_guard lk(mu_);
    ++registrations_;
}

void AgentMetrics::written(const std::string& state, bool ok) {
    std::lock_guard lk(mu_);
    if (ok)
        ++statuses_[state];
    else
        ++write_failures_;
}

void AgentMetrics::published(const Status& st, std::map<size_t, FaultName> names) {
    std::lock_guard lk(mu_);
    last_ = st;
    if (!names.empty()) {
        names_ = std::move(names);
        names_run_ = st.run;
    } else if (st.run != names_run_) {
        names_.clear();
        names_run_.clear();
    }
}

void AgentMetrics::stepped() {
    std::lock_guard lk(mu_);
    ++steps_;
}

std::string AgentMetrics::render(int64_t now_mono_ns) const {
    static const char* kStates[] = {"idle", "ready", "reverted", "error", "refused"};
    std::lock_guard lk(mu_);
    std::ostringstream os;
    const std::string host = "host=\"" + prom_label(info_.host) + "\"";
    os << prom_family("injector_agent_info", "gauge", "This agent (value 1; host, interface and pid are labels).");
    os << "injector_agent_info{" << host << ",interface=\"" << prom_label(info_.interface) << "\",pid=\"" << info_.pid
       << "\"} 1\n";
    os << prom_family("injector_agent_healthy", "gauge", "1 if this host could load the classifier at start.");
    os << "injector_agent_healthy{" << host << "} " << info_.healthy << "\n";
    os << prom_family("injector_agent_etcd_reachable", "gauge", "1 while the agent's keepalives reach etcd.");
    os << "injector_agent_etcd_reachable{" << host << "} " << reachable_ << "\n";
    os << prom_family("injector_agent_etcd_last_contact_seconds", "gauge",
                      "Time since etcd last answered the agent (it reverts past the run's lease TTL).");
    os << "injector_agent_etcd_last_contact_seconds{" << host << "} "
       << prom_num(last_contact_ns_ && now_mono_ns > last_contact_ns_ ? double(now_mono_ns - last_contact_ns_) / 1e9
                                                                      : 0.0)
       << "\n";
    os << prom_family("injector_agent_registrations_total", "counter",
                      "Registration leases granted (more than 1: a lease lapsed and the agent registered again).");
    os << "injector_agent_registrations_total{" << host << "} " << registrations_ << "\n";
    os << prom_family("injector_agent_steps_total", "counter",
                      "Steps of a run (its load, each inject and each heal) applied and confirmed.");
    os << "injector_agent_steps_total{" << host << "} " << steps_ << "\n";
    os << prom_family(
        "injector_agent_status_writes_total", "counter",
        "Statuses written to etcd, by state (each revert writes one \"reverted\", each refusal one \"refused\").");
    for (auto& [state, n] : statuses_)
        os << "injector_agent_status_writes_total{" << host << ",state=\"" << prom_label(state) << "\"} " << n << "\n";
    os << prom_family("injector_agent_status_write_failures_total", "counter",
                      "Statuses etcd did not take (unreachable, or the agent's lease gone).");
    os << "injector_agent_status_write_failures_total{" << host << "} " << write_failures_ << "\n";

    const std::string run = host + ",run=\"" + prom_label(last_.run) + "\"";
    const std::string state = last_.state.empty() ? "idle" : last_.state;
    os << prom_family("injector_agent_state", "gauge", "1 for the state of the agent's last status, 0 for the others.");
    for (auto* s : kStates) os << "injector_agent_state{" << run << ",state=\"" << s << "\"} " << (state == s) << "\n";
    os << prom_family("injector_agent_generation", "gauge", "The step of the run the agent last reported.");
    os << "injector_agent_generation{" << run << "} " << last_.generation << "\n";
    os << prom_family("injector_agent_settled", "gauge", "1 once the restores of the run's last step are done.");
    os << "injector_agent_settled{" << run << "} " << last_.settled << "\n";

    auto fault = [&](const AppliedFault& a) {
        auto it = names_.find(a.index);
        std::string name = it != names_.end() ? it->second.name : "#" + std::to_string(a.index);
        return run + ",fault=\"" + prom_label(name) + "\"";
    };
    os << prom_family("injector_agent_fault_armed", "gauge", "1 while the fault is in force on this host.");
    for (auto& a : last_.faults) {
        auto it = names_.find(a.index);
        os << "injector_agent_fault_armed{" << fault(a) << ",kind=\""
           << prom_label(it != names_.end() ? it->second.kind : "") << "\"} " << a.armed << "\n";
    }
    os << prom_family("injector_agent_fault_dropped_packets_total", "counter",
                      "Packets the fault's rule dropped on this host.");
    for (auto& a : last_.faults)
        os << "injector_agent_fault_dropped_packets_total{" << fault(a) << "} " << a.dropped << "\n";
    os << prom_family("injector_agent_fault_passed_packets_total", "counter",
                      "Packets the fault's rule judged and let pass on this host.");
    for (auto& a : last_.faults)
        os << "injector_agent_fault_passed_packets_total{" << fault(a) << "} " << a.passed << "\n";
    os << prom_family("injector_agent_recovery_seconds", "gauge",
                      "A service the fault's last heal brought back: from the restore's start to ready.");
    for (auto& a : last_.faults)
        for (auto& r : a.recoveries)
            os << "injector_agent_recovery_seconds{" << fault(a) << ",service=\"" << prom_label(r.service)
               << "\",ready=\"" << (r.ready ? "true" : "false") << "\"} " << prom_num(double(r.rto_ns) / 1e9) << "\n";
    return os.str();
}

}  // namespace inj::fleet
