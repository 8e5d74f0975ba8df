// PowerEngine: arm + kill/freeze at the cut; disarm + thaw/restart + readiness at restore.
#include "power/power_engine.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/proc.hpp"

namespace inj::power {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSettleBound = std::chrono::seconds(5);  // for a cgroup to empty or freeze
constexpr auto kPoll = std::chrono::milliseconds(2);

auto lg() { return log::get("power"); }

Result<void> write_file(const std::string& path, const std::string& value) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("open", path);
    ssize_t n = ::write(fd, value.data(), value.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(value.size())) {
        errno = n < 0 ? err : EIO;
        return errno_error("write " + value, path);
    }
    return {};
}

// A key of cgroup.events ("populated", "frozen"); -1 when the file or key is missing.
int cgroup_event(const std::string& dir, const std::string& key) {
    std::ifstream in(dir + "/cgroup.events");
    std::string k;
    int v;
    while (in >> k >> v)
        if (k == key) return v;
    return -1;
}

// Waits until every cgroup in `dirs` shows cgroup.events `key` == want, or the bound passes;
// names the ones that did not.
Result<void> settle(const std::vector<std::string>& dirs, const std::string& key, int want) {
    auto until = Clock::now() + kSettleBound;
    std::vector<std::string> left = dirs;
    while (true) {
        left.erase(std::remove_if(left.begin(), left.end(), [&](auto& d) { return cgroup_event(d, key) == want; }),
                   left.end());
        if (left.empty()) return {};
        if (Clock::now() > until) {
            std::string names;
            for (auto& d : left) names += (names.empty() ? "" : ", ") + d;
            return plain_error("power", "cgroup.events " + key + " not " + std::to_string(want) + " after " +
                                            format_duration(kSettleBound) + ": " + names);
        }
        std::this_thread::sleep_for(kPoll);
    }
}

// SCHED_FIFO for the calling thread while in scope, then its old policy back; nothing when the
// kernel refuses (no CAP_SYS_NICE, an RT budget of 0).
class RealtimeScope {
public:
    RealtimeScope() {
        old_policy_ = sched_getscheduler(0);
        if (old_policy_ < 0 || sched_getparam(0, &old_) != 0) return;
        sched_param p{};
        p.sched_priority = std::min(50, sched_get_priority_max(SCHED_FIFO));
        raised_ = sched_setscheduler(0, SCHED_FIFO, &p) == 0;
    }
    ~RealtimeScope() {
        if (raised_) (void)sched_setscheduler(0, old_policy_, &old_);
    }
    RealtimeScope(const RealtimeScope&) = delete;
    RealtimeScope& operator=(const RealtimeScope&) = delete;

private:
    int old_policy_ = -1;
    sched_param old_{};
    bool raised_ = false;
};

}  // namespace

std::vector<std::string> restore_order(const plan::Plan& plan, const plan::Fault& f) {
    std::vector<std::string> dark = plan::selected_hosts(plan.topology, f.target);
    std::vector<std::string> out;
    for (auto& h : f.restore.order)
        if (std::find(dark.begin(), dark.end(), h) != dark.end()) out.push_back(h);
    for (auto& h : dark)
        if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    return out;
}

Result<void> PowerEngine::prepare(const plan::Plan& plan, const lab::LabState& lab, uint64_t) {
    release();
    plan_ = &plan;
    lab_ = lab;
    faults_.assign(plan.method.size(), std::nullopt);
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        if (f.kind != plan::FaultKind::power_loss) continue;
        Dark d;
        d.hosts = restore_order(plan, f);
        // Everything a cut needs is checked now, so inject() cannot fail half-way for a reason
        // known in advance: every host has a cgroup with the control file the mode writes.
        const bool kill = f.power_mode == plan::PowerMode::kill;
        const char* file = kill ? "/cgroup.kill" : "/cgroup.freeze";
        std::vector<std::string> whole;  // power domains the fault darkens entirely
        if (kill)
            for (auto& pd : plan::darkened_power_domains(plan.topology, f.target))
                if (::access(lab_.power_domain_cgroup(pd).c_str(), F_OK) == 0) {
                    whole.push_back(pd);
                    d.cut_dirs.push_back(lab_.power_domain_cgroup(pd));
                }
        for (auto& hn : d.hosts) {
            const lab::HostRuntime* h = lab_.host(hn);
            const plan::Host* ph = plan.topology.host(hn);
            if (!h || !ph) return plain_error("power", "fault " + f.name + ": host " + hn + " is not in the lab");
            if (std::find(whole.begin(), whole.end(), ph->power_domain) == whole.end()) d.cut_dirs.push_back(h->cgroup);
        }
        for (auto& dir : d.cut_dirs)
            if (::access((dir + file).c_str(), W_OK) != 0)
                return errno_error("power: fault " + f.name + " (mode " + plan::to_string(f.power_mode) + ") needs " +
                                       dir + file,
                                   "the kernel or cgroup2 mount lacks it");
        faults_[i] = std::move(d);
    }
    return {};
}

Result<void> PowerEngine::inject(size_t index, uint64_t deadline_ns) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("power", "fault " + std::to_string(index) + " is not a prepared power_loss fault");
    // The network first: from this write on the hosts answer nobody, so nothing they do while
    // being killed (a FIN, an RST, a last reply) reaches anyone, as when the power goes.
    last_cut_.arm_begin = monotonic_ns();
    INJ_TRY(net_.inject(index, deadline_ns));
    last_cut_.arm_end = monotonic_ns();
    faults_[index]->dark = true;
    return cut(index);
}

Result<void> PowerEngine::cut(size_t index) {
    const auto& f = plan_->method[index];
    Dark& d = *faults_[index];
    const bool kill = f.power_mode == plan::PowerMode::kill;
    const std::vector<std::string>& dirs = d.cut_dirs;
    std::vector<pid_t> pids;
    for (auto& p : lab_.services)
        if (std::find(d.hosts.begin(), d.hosts.end(), p.host) != d.hosts.end()) pids.push_back(p.pid);

    // Every host in one pass of writes (one per whole power domain), waiting on none: the spread
    // between the first and the last host going dark is the time of these writes, not of the
    // kernel's teardowns.
    std::string failed;
    {
        // A cgroup.kill signals its processes one by one, and each woken process starts dying on
        // these same cores: at normal priority the writer is preempted by the dying and the
        // signals spread over many milliseconds. Real-time priority for the writes only (when
        // allowed) keeps them together, as a power cut would.
        RealtimeScope rt;
        last_cut_.writes_begin = monotonic_ns();
        for (auto& dir : dirs)
            if (auto r = write_file(dir + (kill ? "/cgroup.kill" : "/cgroup.freeze"), "1"); !r)
                failed += (failed.empty() ? "" : "; ") + r.error().message();
        last_cut_.writes_end = monotonic_ns();
    }
    Result<void> r = failed.empty() ? settle(dirs, kill ? "populated" : "frozen", kill ? 0 : 1)
                                    : Result<void>(plain_error("power", failed));
    // The killed services may be our children (the runner brought the lab up): reap them.
    if (kill) reap_children(pids, std::chrono::milliseconds(500));
    // What the dark hosts' disks held only in a volatile cache dies with the power.
    if (kill && listener_)
        if (auto v = listener_->power_lost(d.hosts); !v && r) r = v;
    audit::record(kill ? "power_cut_kill" : "power_cut_freeze", "fault " + f.name, r, dirs);
    lg()->info("fault {}: {} hosts dark ({})", f.name, d.hosts.size(), kill ? "killed" : "frozen");
    return r;
}

Result<void> PowerEngine::heal(size_t index) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("power", "fault " + std::to_string(index) + " is not a prepared power_loss fault");
    // Links first: a restarted member must reach its peers to rejoin, and readiness is checked
    // across the network (from control, say), which the armed rule would keep failing. Only
    // then the processes, as a rack's switches are up before its servers have booted. That part
    // runs in the background: the timeline (and its guards) must not wait for a slow boot.
    auto n = net_.heal(index);
    Dark& d = *faults_[index];
    if (d.dark) {
        d.dark = false;
        ++restoring_;
        try {
            restorers_.emplace_back([this, index] {
                restore(index, true);
                --restoring_;
            });
        } catch (const std::exception& e) {  // no thread: restore here, without waiting
            --restoring_;
            lg()->error("fault {}: no restore thread ({}); restoring without awaiting readiness",
                        plan_->method[index].name, e.what());
            restore(index, false);
        }
    }
    return n;
}

namespace {
// Sleeps `d`, or less once *cancel turns true.
void sleep_unless(std::chrono::nanoseconds d, const std::atomic<bool>& cancel) {
    auto until = Clock::now() + d;
    while (!cancel.load() && Clock::now() < until)
        std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(10), until - Clock::now()));
}
}  // namespace

void PowerEngine::restore(size_t index, bool await) {
    const auto& f = plan_->method[index];
    Dark& d = *faults_[index];
    {
        std::lock_guard lk(mu_);
        d.recoveries.clear();
    }
    const bool kill = f.power_mode == plan::PowerMode::kill;
    const auto t0 = Clock::now();
    const auto deadline = t0 + plan_->lab.ready_timeout;

    std::vector<std::thread> waiters;
    // Joins on every way out (an exception while starting one must not leave others joinable).
    struct Joiner {
        std::vector<std::thread>& threads;
        ~Joiner() {
            for (auto& t : threads)
                if (t.joinable()) t.join();
        }
    } joiner{waiters};
    auto record = [&](ServiceRecovery rec) {
        std::lock_guard lk(mu_);
        d.recoveries.push_back(std::move(rec));
    };
    // A host that could not be brought back: each of its services is a recovery that failed.
    auto failed_host = [&](const std::string& hn, const std::string& why) {
        lg()->error("fault {}: host {} not restored: {}", f.name, hn, why);
        for (auto& svc : plan_->lab.services)
            if (std::find(svc.hosts.begin(), svc.hosts.end(), hn) != svc.hosts.end())
                record({svc.name, hn, 0, Clock::now() - t0, false, why});
    };
    // Each service's readiness is awaited in its own thread from the moment it is back, so a
    // stagger or a slow neighbour does not add to another service's measured RTO.
    // A waiter reads its own snapshot of the lab: restarting the next host rewrites lab_.services.
    auto await_one = [&](lab::ServiceProcess p, std::shared_ptr<const lab::LabState> snapshot) {
        auto ready = lab::await_ready(*plan_, *snapshot, p, deadline, &cancel_);
        record({p.service, p.host, p.pid, Clock::now() - t0, ready.ok(), ready ? std::string() : ready.error().message()});
    };
    for (size_t i = 0; i < d.hosts.size(); ++i) {
        const std::string& hn = d.hosts[i];
        if (i > 0 && f.restore.stagger.count() > 0 && await) sleep_unless(f.restore.stagger, cancel_);
        std::vector<lab::ServiceProcess> back;
        std::shared_ptr<const lab::LabState> snapshot;
        if (kill) {
            std::lock_guard lk(mu_);
            auto started = lab::restart_services(*plan_, lab_, {hn});
            if (!started) {
                failed_host(hn, "restart failed: " + started.error().message());
                continue;
            }
            back = std::move(*started);
            snapshot = std::make_shared<const lab::LabState>(lab_);
        } else {
            auto r = write_file(lab_.host(hn)->cgroup + "/cgroup.freeze", "0");
            if (!r) {
                failed_host(hn, "thaw failed: " + r.error().message());
                continue;
            }
            std::lock_guard lk(mu_);
            for (auto& p : lab_.services)
                if (p.host == hn) back.push_back(p);
            snapshot = std::make_shared<const lab::LabState>(lab_);
        }
        audit::record(kill ? "power_restore_restart" : "power_restore_thaw", "fault " + f.name + " host " + hn, true,
                      {}, [&] {
                          std::vector<std::string> v;
                          for (auto& p : back) v.push_back(p.service + " pid " + std::to_string(p.pid));
                          return v;
                      }());
        for (auto& p : back) {
            if (await && !cancel_.load()) waiters.emplace_back(await_one, p, snapshot);
            else record({p.service, p.host, p.pid, Clock::now() - t0, false, "restored without awaiting readiness (the run was ending: abort or max_duration)"});
        }
    }
    for (auto& t : waiters) t.join();
    waiters.clear();
    std::lock_guard lk(mu_);
    // Report in restore order, whatever order the waiters finished in.
    std::stable_sort(d.recoveries.begin(), d.recoveries.end(), [&](auto& a, auto& b) {
        auto pos = [&](const std::string& h) { return std::find(d.hosts.begin(), d.hosts.end(), h) - d.hosts.begin(); };
        return pos(a.host) < pos(b.host);
    });
    for (auto& rec : d.recoveries) {
        if (rec.ready) lg()->info("fault {}: {} on {} ready again after {} (pid {})", f.name, rec.service, rec.host,
                                  format_duration(std::chrono::duration_cast<Duration>(rec.rto)), rec.pid);
        else lg()->warn("fault {}: {} on {} not ready: {}", f.name, rec.service, rec.host, rec.error);
    }
}

void PowerEngine::stop_restorers() noexcept {
    cancel_ = true;
    for (auto& t : restorers_)
        if (t.joinable()) t.join();
    restorers_.clear();
}

Result<void> PowerEngine::heal_all() noexcept {
    try {
        // Restores in progress hurry (no stagger, no more waiting) and finish first.
        stop_restorers();
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->dark) {
                faults_[i]->dark = false;
                restore(i, false);
            }
        cancel_ = false;
        return {};
    } catch (const std::exception& e) {  // allocation failure, thread creation
        return plain_error("power heal_all", e.what());
    }
}

std::vector<ServiceRecovery> PowerEngine::recoveries(size_t index) const {
    if (index >= faults_.size() || !faults_[index]) return {};
    std::lock_guard lk(mu_);
    return faults_[index]->recoveries;
}

void PowerEngine::release() noexcept {
    stop_restorers();
    cancel_ = false;
    // A frozen cgroup left behind would hang whatever touches its processes: thaw any still dark
    // (killed hosts are not restarted here; the lab is going down).
    try {
        for (size_t i = 0; i < faults_.size(); ++i) {
            if (!faults_[i] || !faults_[i]->dark || !plan_) continue;
            if (plan_->method[i].power_mode == plan::PowerMode::freeze)
                for (auto& hn : faults_[i]->hosts)
                    if (auto* h = lab_.host(hn)) (void)write_file(h->cgroup + "/cgroup.freeze", "0");
            faults_[i]->dark = false;
        }
        faults_.clear();
    } catch (const std::exception& e) {
        lg()->error("release: {}", e.what());
    }
}

}  // namespace inj::power
