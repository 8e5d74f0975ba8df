// Guards built from the plan and the running lab.
#include "safety/run_guards.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "common/duration.hpp"
#include "common/netaddr.hpp"
#include "common/netns.hpp"
#include "common/tcp.hpp"

namespace inj::safety {

ProbeGuard::ProbeGuard(plan::AbortWhen rule, SampleSource source, SteadyTime started)
    : rule_(std::move(rule)), source_(std::move(source)), started_(started) {}

std::optional<std::string> ProbeGuard::check(SteadyTime now) {
    const auto where = " [abort_when at " + rule_.mark.str() + "]";
    const auto window = std::chrono::duration_cast<SteadyTime::duration>(rule_.window);
    if (rule_.failures_in_a_row) {
        const size_t n = static_cast<size_t>(*rule_.failures_in_a_row);
        auto s = source_(started_);
        if (s.size() >= n && std::all_of(s.end() - static_cast<long>(n), s.end(), [](auto& x) { return !x.ok; }))
            return "probe " + rule_.probe + " failed " + std::to_string(n) + " times in a row" + where;
        return std::nullopt;
    }
    // Window-based conditions are judged only once the probe has run for a whole window.
    const bool full = now - started_ >= window;
    if (rule_.success_rate_below) {
        if (!full) return std::nullopt;
        auto s = source_(now - window);
        if (s.empty()) return std::nullopt;
        size_t ok = std::count_if(s.begin(), s.end(), [](auto& x) { return x.ok; });
        double rate = static_cast<double>(ok) / static_cast<double>(s.size());
        if (rate < *rule_.success_rate_below) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "probe %s success rate %.2f over the last %s (%zu of %zu), below %.2f",
                          rule_.probe.c_str(), rate, format_duration(rule_.window).c_str(), ok, s.size(),
                          *rule_.success_rate_below);
            return buf + where;
        }
        return std::nullopt;
    }
    if (rule_.latency_above) {
        auto slow = [&](const Sample& x) { return x.latency > *rule_.latency_above; };
        if (rule_.window_given) {
            if (!full) return std::nullopt;
            auto s = source_(now - window);
            if (!s.empty() && std::all_of(s.begin(), s.end(), slow))
                return "probe " + rule_.probe + " slower than " + format_duration(*rule_.latency_above) + " for " +
                       format_duration(rule_.window) + " (" + std::to_string(s.size()) + " attempts)" + where;
        } else {
            auto s = source_(started_);
            if (!s.empty() && slow(s.back()))
                return "probe " + rule_.probe + " took " + format_duration(s.back().latency) + ", above " +
                       format_duration(*rule_.latency_above) + where;
        }
    }
    return std::nullopt;
}

OffPlanDropGuard::OffPlanDropGuard(DropSource drops, InForce in_force, std::chrono::milliseconds every)
    : drops_(std::move(drops)), in_force_(std::move(in_force)), every_(every) {}

std::optional<std::string> OffPlanDropGuard::check(SteadyTime now) {
    if (now < next_) return std::nullopt;
    next_ = now + every_;
    for (auto& d : drops_()) {
        const bool on = in_force_(d.fault);
        auto [it, fresh] = was_in_force_.try_emplace(d.fault, on);
        if (on) {
            it->second = true;
            continue;
        }
        // Just healed (or first look): packets dropped before the heal write landed are planned.
        if (fresh || it->second) {
            it->second = false;
            baseline_[d.fault] = d.dropped;
            continue;
        }
        if (d.dropped > baseline_[d.fault])
            return "fault " + d.fault + " is not in force but its rule dropped " +
                   std::to_string(d.dropped - baseline_[d.fault]) +
                   " packets: traffic is being cut outside the planned cut set";
    }
    return std::nullopt;
}

HostVanishedGuard::HostVanishedGuard(std::vector<std::pair<std::string, std::string>> paths,
                                     std::chrono::milliseconds every)
    : paths_(std::move(paths)), every_(every) {}

std::optional<std::string> HostVanishedGuard::check(SteadyTime now) {
    if (now < next_) return std::nullopt;
    next_ = now + every_;
    for (auto& [host, path] : paths_) {
        struct stat st {};
        if (stat(path.c_str(), &st) != 0)
            return "planned host " + host + " vanished (" + path + ": " + std::strerror(errno) + ")";
    }
    return std::nullopt;
}

EffectGuard::EffectGuard(std::vector<Canary> canaries, InForce in_force, std::chrono::milliseconds every,
                         std::chrono::milliseconds connect_timeout)
    : canaries_(std::move(canaries)), in_force_(std::move(in_force)), every_(every), timeout_(connect_timeout) {
    if (!canaries_.empty()) thread_ = std::thread([this] { loop(); });
}

EffectGuard::~EffectGuard() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

std::optional<std::string> EffectGuard::check(SteadyTime) {
    std::lock_guard lk(mu_);
    return tripped_;
}

std::optional<EffectGuard::Answer> EffectGuard::answer(const Canary& c, std::chrono::milliseconds timeout) {
    auto hp = parse_host_port(c.to);
    if (!hp) return std::nullopt;
    auto g = NetnsGuard::enter(c.from_netns);
    if (!g) return std::nullopt;  // the host vanished: HostVanishedGuard reports that
    auto start = std::chrono::steady_clock::now();
    auto r = tcp_connect(hp->first, hp->second, timeout);
    auto took = std::chrono::steady_clock::now() - start;
    if (r) return Answer{"connected", took};
    if (r.error().code == ECONNREFUSED) return Answer{"refused (a reset came back)", took};
    return std::nullopt;  // timed out (a cut holds, or a slowed link lost the canary) or failed locally
}

std::optional<std::string> EffectGuard::contradicts(const Canary& c, const Answer& a) {
    const std::string path = " from " + c.from_host + " to " + c.to_host + " (" + c.to + " " + a.how;
    if (c.min_rtt.count() == 0) return "traffic still flows" + path + "): the planned cut has no effect";
    if (a.took >= c.min_rtt) return std::nullopt;
    return "a round trip" + path + ") took " + format_duration(a.took) + ", under the " + format_duration(c.min_rtt) +
           " its latency adds: the planned latency has no effect";
}

void EffectGuard::loop() {
    // Give each fault a moment in force before its first canary, then probe about every `every_`.
    std::map<std::string, SteadyTime> since;
    while (!stop_) {
        auto now = std::chrono::steady_clock::now();
        for (auto& c : canaries_) {
            if (stop_) return;
            if (!in_force_(c.fault)) {
                since.erase(c.fault);
                continue;
            }
            auto [it, fresh] = since.try_emplace(c.fault, now);
            if (now - it->second < std::chrono::milliseconds(100)) continue;
            auto a = answer(c, timeout_);
            auto why = a ? contradicts(c, *a) : std::nullopt;
            // Re-check: a heal during the canary makes its answer meaningless.
            if (why && in_force_(c.fault)) {
                std::lock_guard lk(mu_);
                if (!tripped_) tripped_ = "fault " + c.fault + " is in force but " + *why;
                return;
            }
        }
        for (int i = 0; i < every_.count() / 10 && !stop_; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace inj::safety
