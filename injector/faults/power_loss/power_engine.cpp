// PowerEngine: arm + kill/freeze + lose caches at the cut; disarm + thaw/restart + readiness at restore.
#include "faults/power_loss/power_engine.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/proc.hpp"
#include "faults/power_loss/crash_at.hpp"
#include "targets/cgroups.hpp"

namespace inj::power {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSettleBound = std::chrono::seconds(5);  // for a cgroup to empty or freeze

auto lg() { return log::get("power"); }

}  // namespace

std::vector<std::string> restore_order(const plan::Plan& plan, const plan::Fault& f) {
    // Sets, not scans: a zone of a data center is 16,000 dark hosts (issue 16).
    std::vector<std::string> dark = plan::selected_hosts(plan.topology, f.target);
    const std::unordered_set<std::string_view> is_dark(dark.begin(), dark.end());
    std::unordered_set<std::string_view> first;
    std::vector<std::string> out;
    out.reserve(dark.size());
    for (auto& h : f.as<plan::PowerLossSpec>()->restore.order)
        if (is_dark.count(h) && first.insert(h).second) out.push_back(h);
    for (auto& h : dark)
        if (!first.count(h)) out.push_back(h);
    return out;
}

Result<void> PowerEngine::prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t) {
    release();
    plan_ = &plan;
    targets_ = &targets;
    faults_.assign(plan.method.size(), std::nullopt);
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        const auto* spec = f.as<plan::PowerLossSpec>();
        if (!spec) continue;
        Dark d;
        d.hosts = restore_order(plan, f);
        if (targets.partial()) {
            auto mine = std::find_if(d.hosts.begin(), d.hosts.end(),
                                     [&](const std::string& hn) { return targets.acts_on(hn); });
            d.turn = spec->restore.stagger * (mine - d.hosts.begin());
        }
        std::erase_if(d.hosts, [&](const std::string& hn) { return !targets.acts_on(hn); });
        // Everything a cut needs is checked now, so inject() cannot fail half-way for a reason
        // known in advance: every host has a cgroup with the control file the mode writes.
        const bool kill = spec->mode == plan::PowerMode::kill;
        const char* file = kill ? "/cgroup.kill" : "/cgroup.freeze";
        std::vector<std::string> whole;  // power domains the fault darkens entirely
        if (kill)
            for (auto& pd : plan::darkened_power_domains(plan.topology, f.target))
                if (auto dir = targets.power_domain_cgroup(pd); dir && ::access(dir->c_str(), F_OK) == 0) {
                    whole.push_back(pd);
                    d.cut_dirs.push_back(*dir);
                }
        std::unordered_set<std::string> cut(d.cut_dirs.begin(), d.cut_dirs.end());  // pooled hosts share one
        for (auto& hn : d.hosts) {
            const targets::Host* h = targets.host(hn);
            const plan::Host* ph = plan.topology.host(hn);
            if (!h || !ph)
                return plain_error("power",
                                   "fault " + f.name + ": host " + hn + " is not bound in " + targets.describe());
            if (h->cgroup.empty())
                return plain_error("power", "fault " + f.name + ": host " + hn + " has no cgroup to cut");
            if (std::find(whole.begin(), whole.end(), ph->power_domain) == whole.end() && cut.insert(h->cgroup).second)
                d.cut_dirs.push_back(h->cgroup);
        }
        for (auto& dir : d.cut_dirs)
            if (::access((dir + file).c_str(), W_OK) != 0)
                return errno_error(
                    "power: fault " + f.name + " (mode " + plan::to_string(spec->mode) + ") needs " + dir + file,
                    "the kernel or cgroup2 mount lacks it");
        if (spec->crash) {
            if (!disks_) return plain_error("power", "fault " + f.name + ": a crash point needs the fault filesystems");
            // The rule is checked now; it is armed at inject (the steady-state check before the
            // timeline must not fire it).
            if (auto c = faultfs::to_crash_point(faults::crash_rule(*spec->crash)); !c)
                return plain_error("power", "fault " + f.name + ": " + c.error().message());
            d.crash = std::make_shared<CrashWatch>();
        }
        faults_[i] = std::move(d);
    }
    return {};
}

Result<void> PowerEngine::inject(size_t index, uint64_t deadline_ns) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("power", "fault " + std::to_string(index) + " is not a prepared power_loss fault");
    if (faults_[index]->crash) return arm_crash(index, deadline_ns);  // dark when it fires
    // The network first: from this write on the hosts answer nobody, so nothing they do while
    // being killed (a FIN, an RST, a last reply) reaches anyone, as when the power goes.
    last_cut_.arm_begin = monotonic_ns();
    INJ_TRY(links_.arm(index, deadline_ns));
    last_cut_.arm_end = monotonic_ns();
    faults_[index]->dark = true;
    return cut(index);
}

Result<void> PowerEngine::cut(size_t index) {
    const auto& f = plan_->method[index];
    Dark& d = *faults_[index];
    const bool kill = f.as<plan::PowerLossSpec>()->mode == plan::PowerMode::kill;
    const std::vector<std::string>& dirs = d.cut_dirs;
    // A snapshot: a restore of another fault may be restarting services meanwhile.
    d.at_cut.clear();
    std::vector<pid_t> pids;
    for (auto& p : targets_->services())
        if (std::find(d.hosts.begin(), d.hosts.end(), p.host) != d.hosts.end()) {
            d.at_cut.push_back(p);
            pids.push_back(p.pid);
        }

    // Every host in one pass of writes (one per whole power domain), waiting on none: the spread
    // between the first and the last host going dark is the time of these writes, not of the
    // kernel's teardowns.
    std::string failed;
    {
        // A cgroup.kill signals its processes one by one, and each woken process starts dying on
        // these same cores: at normal priority the writer is preempted by the dying and the
        // signals spread over many milliseconds. Real-time priority for the writes only (when
        // allowed) keeps them together, as a power cut would.
        targets::RealtimeScope rt;
        last_cut_.writes_begin = monotonic_ns();
        for (auto& dir : dirs)
            if (auto r = targets::write_control(dir + (kill ? "/cgroup.kill" : "/cgroup.freeze"), "1"); !r)
                failed += (failed.empty() ? "" : "; ") + r.error().message();
        last_cut_.writes_end = monotonic_ns();
    }
    Result<void> r = failed.empty()
                         ? targets::await_cgroups(dirs, kill ? "populated" : "frozen", kill ? 0 : 1, kSettleBound)
                         : Result<void>(plain_error("power", failed));
    // The killed services may be our children (the runner brought the lab up): reap them.
    if (kill) reap_children(pids, std::chrono::milliseconds(500));
    // What the dark hosts' disks held only in a volatile cache dies with the power (a volume
    // whose crash point fired has lost it already: its drop changes nothing).
    if (kill && disks_) {
        if (auto v = disks_->lose_unsynced(d.hosts); !v && r) r = v;
        last_cut_.losses_end = monotonic_ns();
        auto lost = disks_->lost_accounts(d.hosts);
        std::lock_guard lk(mu_);
        d.lost = std::move(lost);
    }
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
    if (faults_[index]->crash) end_crash(index);  // the hosts are dark (it fired) or nothing happened
    auto n = links_.disarm(index);
    Dark& d = *faults_[index];
    if (d.dark) {
        d.dark = false;
        if (auto r = restorers_.start([this, index](bool await) { restore(index, await); }); !r)
            lg()->error("fault {}: {}", plan_->method[index].name, r.error().message());
    }
    return n;
}

Result<std::vector<targets::ServiceInstance>> PowerEngine::bring_back(const plan::Fault& f, const std::string& hn) {
    if (f.as<plan::PowerLossSpec>()->mode == plan::PowerMode::kill) {
        auto started = targets_->restart({hn});
        if (!started) return Error{started.error().code, "restart failed", started.error().message()};
        return started;
    }
    const targets::Host* h = targets_->host(hn);
    if (auto r = targets::write_control(h->cgroup + "/cgroup.freeze", "0"); !r)
        return Error{r.error().code, "thaw failed", r.error().message()};
    std::vector<targets::ServiceInstance> back;
    for (auto& p : targets_->services())
        if (p.host == hn) back.push_back(p);
    return back;
}

void PowerEngine::restore(size_t index, bool await) {
    const auto& f = plan_->method[index];
    const auto& spec = *f.as<plan::PowerLossSpec>();
    Dark& d = *faults_[index];
    {
        std::lock_guard lk(mu_);
        d.recoveries.clear();
    }
    const bool kill = spec.mode == plan::PowerMode::kill;
    const auto t0 = Clock::now();
    auto record = [&](ServiceRecovery rec) {
        std::lock_guard lk(mu_);
        d.recoveries.push_back(std::move(rec));
    };
    // Each service's readiness is awaited in its own thread from the moment it is back, so a
    // stagger or a slow neighbour does not add to another service's measured RTO. Joined on
    // every way out.
    faults::ReadinessWaits waits(*targets_, t0, restorers_, record);
    // A host that could not be brought back: each service it ran is a recovery that failed.
    auto failed_host = [&](const std::string& hn, const std::string& why) {
        lg()->error("fault {}: host {} not restored: {}", f.name, hn, why);
        for (auto& p : d.at_cut)
            if (p.host == hn) record({p.service, hn, 0, Clock::now() - t0, false, why});
    };
    // Hosts ahead of this view's in the whole order come back on other machines first.
    if (d.turn.count() > 0 && await && !d.hosts.empty()) faults::sleep_unless_cancelled(d.turn, restorers_);
    for (size_t i = 0; i < d.hosts.size(); ++i) {
        const std::string& hn = d.hosts[i];
        if (i > 0 && spec.restore.stagger.count() > 0 && await)
            faults::sleep_unless_cancelled(spec.restore.stagger, restorers_);
        auto back = bring_back(f, hn);
        if (!back) {
            failed_host(hn, back.error().message());
            continue;
        }
        std::vector<std::string> what;
        for (auto& p : *back) what.push_back(p.service + " pid " + std::to_string(p.pid));
        audit::record(kill ? "power_restore_restart" : "power_restore_thaw", "fault " + f.name + " host " + hn, true,
                      {}, what);
        for (auto& p : *back)
            waits.add(p, await, "restored without awaiting readiness (the run was ending: abort or max_duration)");
    }
    waits.join();
    std::lock_guard lk(mu_);
    // Report in restore order, whatever order the waiters finished in.
    std::stable_sort(d.recoveries.begin(), d.recoveries.end(), [&](auto& a, auto& b) {
        auto pos = [&](const std::string& h) { return std::find(d.hosts.begin(), d.hosts.end(), h) - d.hosts.begin(); };
        return pos(a.host) < pos(b.host);
    });
    for (auto& rec : d.recoveries) {
        if (rec.ready)
            lg()->info("fault {}: {} on {} ready again after {} (pid {})", f.name, rec.service, rec.host,
                       format_duration(std::chrono::duration_cast<Duration>(rec.rto)), rec.pid);
        else
            lg()->warn("fault {}: {} on {} not ready: {}", f.name, rec.service, rec.host, rec.error);
    }
}

Result<void> PowerEngine::heal_all() noexcept {
    try {
        // Restores in progress hurry (no stagger, no more waiting) and finish first.
        restorers_.stop();
        std::string failed;
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->crash) end_crash(i);
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->dark) {
                // Links before processes, as in a planned restore.
                if (auto r = links_.disarm(i); !r) failed += (failed.empty() ? "" : "; ") + r.error().message();
                faults_[i]->dark = false;
                restore(i, false);
            }
        restorers_.resume();
        if (!failed.empty()) return plain_error("power heal_all", failed);
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
    restorers_.stop();
    restorers_.resume();
    for (size_t i = 0; i < faults_.size(); ++i)
        if (faults_[i] && faults_[i]->crash) end_crash(i);
    // A frozen cgroup left behind would hang whatever touches its processes: thaw any still dark
    // (killed hosts are not restarted here; the lab is going down).
    try {
        for (size_t i = 0; i < faults_.size(); ++i) {
            if (!faults_[i] || !faults_[i]->dark || !plan_) continue;
            if (plan_->method[i].as<plan::PowerLossSpec>()->mode == plan::PowerMode::freeze)
                for (auto& hn : faults_[i]->hosts)
                    if (auto* h = targets_->host(hn)) (void)targets::write_control(h->cgroup + "/cgroup.freeze", "0");
            faults_[i]->dark = false;
        }
        faults_.clear();
    } catch (const std::exception& e) {
        lg()->error("release: {}", e.what());
    }
}

}  // namespace inj::power
