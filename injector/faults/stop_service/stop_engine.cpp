// StopServiceEngine: signal at inject; continue or restart (and await readiness) at heal.
#include "faults/stop_service/stop_engine.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "targets/cgroups.hpp"

namespace inj::faults {
namespace {

using Clock = std::chrono::steady_clock;
auto lg() { return log::get("stop_service"); }

const plan::StopServiceSpec& spec_of(const plan::Fault& f) { return *f.as<plan::StopServiceSpec>(); }

// Signals a service's process group (it leads one: providers start services in their own
// session), or the process alone when it leads none.
Result<void> signal_service(const targets::ServiceInstance& s, int sig) {
    if (::kill(-s.pid, sig) == 0) return {};
    if (errno == ESRCH && ::kill(s.pid, sig) == 0) return {};
    return errno_error("kill " + std::to_string(sig), s.service + " on " + s.host + " pid " + std::to_string(s.pid));
}

// Waits until `pid` is gone (killed) or stopped (SIGSTOP): /proc/PID/stat's state field.
// The state letter of /proc/PID/stat (R, S, T, Z...), or 0 when there is no such process.
char proc_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

bool await_state(pid_t pid, bool want_gone, std::chrono::milliseconds bound) {
    auto until = Clock::now() + bound;
    while (Clock::now() < until) {
        if (want_gone) {
            (void)::waitpid(pid, nullptr, WNOHANG);  // our child (a lab service): reap it
            if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
            // Dead, waiting for a parent that is not us to reap it (a fleet agent's target).
            if (const char st = proc_state(pid); st == 'Z' || st == 'X') return true;
        } else if (proc_state(pid) == 'T') {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

}  // namespace

Result<void> StopServiceEngine::prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t) {
    release();
    plan_ = &plan;
    targets_ = &targets;
    faults_.assign(plan.method.size(), std::nullopt);
    auto running = targets.services();
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        if (!f.as<plan::StopServiceSpec>()) continue;
        Stopped st;
        for (auto& h : plan::selected_hosts(plan.topology, f.target)) {
            if (!targets.acts_on(h)) continue;  // another agent's host
            bool runs = std::any_of(running.begin(), running.end(),
                                    [&](auto& s) { return s.host == h && s.service == spec_of(f).service; });
            if (!runs)
                return plain_error("stop_service", "fault " + f.name + ": service " + spec_of(f).service +
                                                       " is not running on host " + h + " in " + targets.describe());
            if (!targets.host(h) || targets.host(h)->cgroup.empty())
                return plain_error("stop_service",
                                   "fault " + f.name + ": host " + h + " has no cgroup to check pids against");
            st.hosts.push_back(h);
        }
        faults_[i] = std::move(st);
    }
    return {};
}

Result<void> StopServiceEngine::inject(size_t index, uint64_t) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("stop_service", "fault " + std::to_string(index) + " is not a prepared stop_service fault");
    const auto& f = plan_->method[index];
    const auto& spec = spec_of(f);
    Stopped& st = *faults_[index];
    st.signalled.clear();
    std::string failed;
    for (auto& s : targets_->services()) {
        if (s.service != spec.service || std::find(st.hosts.begin(), st.hosts.end(), s.host) == st.hosts.end())
            continue;
        // Only a process the target really holds: its pid must be in the host's cgroup.
        if (!targets::pid_in_cgroup(s.pid, targets_->host(s.host)->cgroup)) {
            failed += (failed.empty() ? "" : "; ") + s.service + " pid " + std::to_string(s.pid) + " is not in host " +
                      s.host + "'s cgroup (gone or not ours): not signalled";
            continue;
        }
        if (auto r = signal_service(s, spec.signal); !r) {
            failed += (failed.empty() ? "" : "; ") + r.error().message();
            continue;
        }
        st.signalled.push_back(s);
    }
    st.on = true;
    bool stop = spec.signal == SIGSTOP;
    for (auto& s : st.signalled)
        if (!await_state(s.pid, !stop, std::chrono::seconds(5)) && spec.signal != SIGTERM)
            failed += (failed.empty() ? "" : "; ") + s.service + " on " + s.host + " pid " + std::to_string(s.pid) +
                      (stop ? " did not stop" : " did not exit") + " within 5s";
    std::vector<std::string> what;
    for (auto& s : st.signalled) what.push_back(s.service + " on " + s.host + " pid " + std::to_string(s.pid));
    audit::record("service_signal", "fault " + f.name + " SIG" + spec.signal_name, failed.empty(), failed, what);
    lg()->info("fault {}: SIG{} to {} on {} hosts", f.name, spec.signal_name, spec.service, st.signalled.size());
    if (!failed.empty()) return plain_error("stop_service", failed);
    return {};
}

Result<void> StopServiceEngine::heal(size_t index) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("stop_service", "fault " + std::to_string(index) + " is not a prepared stop_service fault");
    Stopped& st = *faults_[index];
    if (!st.on) return {};
    st.on = false;
    const auto& spec = spec_of(plan_->method[index]);
    if (spec.signal == SIGSTOP) {
        bring_back(index, false);  // SIGCONT: immediate, nothing to await
        return {};
    }
    if (!spec.restart) return {};
    if (auto r = restorers_.start([this, index](bool await) { bring_back(index, await); }); !r)
        lg()->error("fault {}: {}", plan_->method[index].name, r.error().message());
    return {};
}

void StopServiceEngine::bring_back(size_t index, bool await) {
    const auto& f = plan_->method[index];
    const auto& spec = spec_of(f);
    Stopped& st = *faults_[index];
    const auto t0 = Clock::now();
    auto record = [&](ServiceRecovery r) {
        std::lock_guard lk(mu_);
        st.recoveries.push_back(std::move(r));
    };
    if (spec.signal == SIGSTOP) {
        for (auto& s : st.signalled)
            if (auto r = signal_service(s, SIGCONT); !r) lg()->error("fault {}: {}", f.name, r.error().message());
        return;
    }
    auto started = targets_->restart(st.hosts, spec.service);
    if (!started) {
        for (auto& h : st.hosts) record({spec.service, h, 0, Clock::now() - t0, false, started.error().message()});
        return;
    }
    ReadinessWaits waits(*targets_, t0, restorers_, record);
    for (auto& s : *started) waits.add(s, await, "restarted without awaiting readiness (the run was ending)");
}

Result<void> StopServiceEngine::heal_all() noexcept {
    try {
        restorers_.stop();
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->on) {
                faults_[i]->on = false;
                const auto& spec = spec_of(plan_->method[i]);
                if (spec.signal == SIGSTOP || spec.restart) bring_back(i, false);
            }
        restorers_.resume();
        return {};
    } catch (const std::exception& e) {
        return plain_error("stop_service heal_all", e.what());
    }
}

std::vector<FaultCounters> StopServiceEngine::counters() const {
    std::vector<FaultCounters> out;
    if (!plan_) return out;
    for (size_t i = 0; i < faults_.size(); ++i)
        if (faults_[i]) out.push_back({plan_->method[i].name, faults_[i]->signalled.size(), 0, 0});
    return out;
}

std::vector<ServiceRecovery> StopServiceEngine::recoveries(size_t index) const {
    if (index >= faults_.size() || !faults_[index]) return {};
    std::lock_guard lk(mu_);
    return faults_[index]->recoveries;
}

void StopServiceEngine::release() noexcept {
    restorers_.stop();
    restorers_.resume();
    // A stopped service left behind would hang whoever waits on it: continue it.
    try {
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->on && plan_ && spec_of(plan_->method[i]).signal == SIGSTOP) {
                for (auto& s : faults_[i]->signalled) (void)signal_service(s, SIGCONT);
                faults_[i]->on = false;
            }
        faults_.clear();
    } catch (const std::exception& e) {
        lg()->error("release: {}", e.what());
    }
}

}  // namespace inj::faults
