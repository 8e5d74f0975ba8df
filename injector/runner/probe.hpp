// Steady-state probes: what one probe attempt returns, the seam that executes attempts, and the
// sampler thread that runs a probe on its schedule for the whole run.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/fd.hpp"
#include "plan/model.hpp"

namespace inj::targets {
class Targets;
}

namespace inj::runner {

using SteadyTime = std::chrono::steady_clock::time_point;

struct ProbeSample {
    SteadyTime at;  // when the attempt started
    std::chrono::nanoseconds latency{0};
    bool ok = false;
    std::string detail;  // error text or a short output tail when it failed
    uint64_t seq = 0;
    std::string ack;  // what a success acknowledged (probe.acknowledges expanded)
};

// Executes one attempt of a probe. The real one runs commands and connects sockets inside lab
// namespaces; tests substitute their own.
class ProbeExecutor {
public:
    virtual ~ProbeExecutor() = default;
    virtual ProbeSample attempt(const plan::Probe& probe, uint64_t seq) = 0;
};

// Runs probes for real: exec through /bin/sh (inside the host's namespace when `in` names a
// host) and TCP connects, with the probe's timeout. Hosts are found in the run's Targets view
// (a lab, or what the plan bound).
class TargetsProbeExecutor : public ProbeExecutor {
public:
    TargetsProbeExecutor(const plan::Plan& plan, const targets::Targets& targets, std::string run_id);
    ProbeSample attempt(const plan::Probe& probe, uint64_t seq) override;

private:
    const plan::Plan& plan_;
    const targets::Targets& targets_;
    std::string run_id_;
};

// One thread per probe, attempting every `probe.every` until stopped. Samples are kept in memory
// and handed to a callback (the journal) as they arrive.
class ProbeSampler {
public:
    using Sink = std::function<void(const plan::Probe&, const ProbeSample&)>;
    // Attempts are paced, and stamped, on `clock` (the run's: real, or simulated in tests).
    ProbeSampler(const plan::Probe& probe, ProbeExecutor& exec, Sink sink, Clock& clock = RealClock::instance());
    ~ProbeSampler();
    void start();  // its thread is a member of the clock's timeline until stopped
    void stop();   // waits for an attempt in flight to finish (bounded by its timeout)
    std::vector<ProbeSample> samples() const;
    // Samples that started at or after `since` (guards look at recent windows only).
    std::vector<ProbeSample> recent(SteadyTime since) const;
    const plan::Probe& probe() const { return probe_; }

private:
    void loop();
    const plan::Probe& probe_;
    ProbeExecutor& exec_;
    Sink sink_;
    Clock& clock_;
    Fd stop_fd_;  // an eventfd: readable once stop() was called
    std::atomic<bool> stopping_{false};
    mutable std::mutex mu_;
    std::vector<ProbeSample> samples_;
    std::thread thread_;
};

// Runs a probe until it has succeeded `needed` times in a row or `budget` has passed. Used to
// refuse a run on an unhealthy system (before any fault) and to measure recovery.
struct SettleResult {
    bool ok = false;
    int attempts = 0;
    ProbeSample last;
};
SettleResult settle(const plan::Probe& probe, ProbeExecutor& exec, int needed, std::chrono::nanoseconds budget,
                    const std::atomic<bool>* cancel = nullptr, Clock& clock = RealClock::instance());

}  // namespace inj::runner
