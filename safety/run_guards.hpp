// The guards that watch a run from the inside: a probe going bad (abort_when), the classifier
// dropping traffic no fault in force explains, a planned host vanishing, and a fault whose cut
// is not observed on the wire. Each is one small class with one job; the runner builds them
// from the plan and polls them with the basic guards of guards.hpp.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "plan/model.hpp"
#include "safety/guards.hpp"

namespace inj::safety {

// What a probe guard needs of a probe attempt.
struct Sample {
    SteadyTime at;
    bool ok = false;
    std::chrono::nanoseconds latency{0};
};
// Returns the samples of one probe taken at or after `since`, oldest first.
using SampleSource = std::function<std::vector<Sample>(SteadyTime since)>;

// abort_when on a probe: success rate below a bound over a window, latency above a bound
// (sustained over the window when `for` is given), or N failures in a row.
class ProbeGuard : public Guard {
public:
    ProbeGuard(plan::AbortWhen rule, SampleSource source, SteadyTime started);
    std::string_view name() const override { return "abort_when"; }
    std::optional<std::string> check(SteadyTime now) override;

private:
    plan::AbortWhen rule_;
    SampleSource source_;
    SteadyTime started_;
};

// Per-fault drop counters as the engines report them, and whether the runner has the fault in
// force right now.
struct DropCount {
    std::string fault;
    uint64_t dropped = 0;
};
using DropSource = std::function<std::vector<DropCount>()>;
using InForce = std::function<bool(const std::string& fault)>;

// Trips when a fault's rule drops packets while that fault is not in force: traffic dropped
// outside the planned cut set (a stray writer, a bug, another tool touching our maps).
class OffPlanDropGuard : public Guard {
public:
    OffPlanDropGuard(DropSource drops, InForce in_force, std::chrono::milliseconds every);
    std::string_view name() const override { return "off_plan_drops"; }
    std::optional<std::string> check(SteadyTime now) override;

private:
    DropSource drops_;
    InForce in_force_;
    std::chrono::milliseconds every_;
    SteadyTime next_{};
    std::map<std::string, uint64_t> baseline_;  // counter value when the fault was last seen not in force
    std::map<std::string, bool> was_in_force_;
};

// Trips when a host of the plan vanishes: its namespace (or the lab fabric) is gone.
class HostVanishedGuard : public Guard {
public:
    // paths: (host name, namespace path) pairs to watch.
    HostVanishedGuard(std::vector<std::pair<std::string, std::string>> paths, std::chrono::milliseconds every);
    std::string_view name() const override { return "host_vanished"; }
    std::optional<std::string> check(SteadyTime now) override;

private:
    std::vector<std::pair<std::string, std::string>> paths_;
    std::chrono::milliseconds every_;
    SteadyTime next_{};
};

// One canary across a planned cut: a TCP connect from `from_netns` to `to` (an address whose
// port answers with a connection or a reset when traffic flows). While the fault is in force the
// connect must time out; an answer means the cut is not in effect.
struct Canary {
    std::string fault;
    std::string from_host, to_host;
    std::string from_netns;  // namespace path
    std::string to;          // "addr:port"
};

// Runs canaries on its own thread (so check() stays cheap) for the faults in force, about once
// per `every`, and trips when a planned cut is observed not to hold.
class CutEffectGuard : public Guard {
public:
    CutEffectGuard(std::vector<Canary> canaries, InForce in_force, std::chrono::milliseconds every,
                   std::chrono::milliseconds connect_timeout);
    ~CutEffectGuard() override;
    std::string_view name() const override { return "effect_missing"; }
    std::optional<std::string> check(SteadyTime now) override;

    // Result of one canary: true when traffic flowed (connected or refused).
    static std::optional<std::string> traffic_flows(const Canary& c, std::chrono::milliseconds timeout);

private:
    void loop();
    std::vector<Canary> canaries_;
    InForce in_force_;
    std::chrono::milliseconds every_, timeout_;
    std::mutex mu_;
    std::optional<std::string> tripped_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace inj::safety
