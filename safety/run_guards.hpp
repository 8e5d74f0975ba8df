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

// One canary across a planned fault: a TCP connect from `from_netns` to `to` (an address whose
// port answers with a connection or a reset when traffic flows). Across a cut (`min_rtt` zero)
// the connect must time out while the fault is in force: an answer means the cut is not in
// effect. Across a slowed link (`min_rtt` set: the least the planned latency adds to a round trip)
// an answer sooner than `min_rtt` means the latency is not in effect; a timeout proves nothing.
struct Canary {
    std::string fault;
    std::string from_host, to_host;
    std::string from_netns;  // namespace path
    std::string to;          // "addr:port"
    std::chrono::nanoseconds min_rtt{0};
};

// Runs canaries on its own thread (so check() stays cheap) for the faults in force, about once
// per `every`, and trips when a planned cut or latency is observed not to hold.
class EffectGuard : public Guard {
public:
    EffectGuard(std::vector<Canary> canaries, InForce in_force, std::chrono::milliseconds every,
                std::chrono::milliseconds connect_timeout);
    ~EffectGuard() override;
    std::string_view name() const override { return "effect_missing"; }
    std::optional<std::string> check(SteadyTime now) override;

    // One canary connect that traffic answered (connected, or refused: a reset came back), and
    // how long it took; nullopt when it timed out or failed locally.
    struct Answer {
        std::string how;
        std::chrono::nanoseconds took{0};
    };
    static std::optional<Answer> answer(const Canary& c, std::chrono::milliseconds timeout);
    // Why an answer shows the canary's fault not in effect; nullopt when it is consistent with it.
    static std::optional<std::string> contradicts(const Canary& c, const Answer& a);

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
