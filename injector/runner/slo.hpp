// Judging a probe's samples against its SLO: sliding windows of success rate, and latency.
// Pure functions over samples, so the verdict logic is unit-tested without a lab.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plan/model.hpp"
#include "runner/probe.hpp"

namespace inj::runner {

struct SloReport {
    std::string probe;
    size_t attempts = 0;
    size_t successes = 0;
    std::chrono::nanoseconds p50{0}, p99{0}, max{0};  // latency of successful attempts
    bool held = true;
    // The first violation, relative to the run's start (t0).
    std::optional<std::chrono::nanoseconds> violated_at;
    std::string violation;    // human text: which bound, measured value
    double worst_rate = 1.0;  // worst success rate over any full window
    std::optional<std::chrono::nanoseconds> worst_at;
};

// A window is judged at each sample, over the samples in (t - window, t]; windows that start
// before t0 are judged only once a full window of samples exists, so a probe is never failed on
// one unlucky first sample.
SloReport evaluate_slo(const plan::Probe& probe, const std::vector<ProbeSample>& samples, SteadyTime t0);

}  // namespace inj::runner
