// Sliding-window SLO evaluation.
#include "runner/slo.hpp"

#include <algorithm>
#include <cstdio>

#include "common/duration.hpp"

namespace inj::runner {

SloReport evaluate_slo(const plan::Probe& probe, const std::vector<ProbeSample>& samples, SteadyTime t0) {
    SloReport r;
    r.probe = probe.name;
    r.attempts = samples.size();
    std::vector<std::chrono::nanoseconds> lat;
    for (auto& s : samples)
        if (s.ok) {
            ++r.successes;
            lat.push_back(s.latency);
        }
    if (!lat.empty()) {
        std::sort(lat.begin(), lat.end());
        r.p50 = lat[lat.size() / 2];
        r.p99 = lat[std::min(lat.size() - 1, (lat.size() * 99) / 100)];
        r.max = lat.back();
    }
    // Keeps the earliest violation of any bound.
    auto note = [&](std::chrono::nanoseconds at, std::string text) {
        if (!r.held && r.violated_at && *r.violated_at <= at) return;
        r.held = false;
        r.violated_at = at;
        r.violation = std::move(text);
    };
    if (probe.slo.success_rate) {
        const auto w = probe.slo.window;
        size_t lo = 0, ok_in = 0;
        for (size_t hi = 0; hi < samples.size(); ++hi) {
            if (samples[hi].ok) ++ok_in;
            while (samples[lo].at <= samples[hi].at - w) {
                if (samples[lo].ok) --ok_in;
                ++lo;
            }
            // Judge only full windows: the window must reach back to (or before) the first sample.
            if (samples[hi].at - samples.front().at + probe.every < w) continue;
            double rate = static_cast<double>(ok_in) / static_cast<double>(hi - lo + 1);
            auto at = samples[hi].at - t0;
            if (rate < r.worst_rate) {
                r.worst_rate = rate;
                r.worst_at = at;
            }
            if (rate < *probe.slo.success_rate) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "success rate %.2f over %s, below %.2f (%zu of %zu ok)", rate,
                              format_duration(w).c_str(), *probe.slo.success_rate, ok_in, hi - lo + 1);
                note(at, buf);
            }
        }
        // Too short a run for one full window: judge what there is as one window.
        if (!samples.empty() && !r.worst_at) {
            double rate = static_cast<double>(r.successes) / static_cast<double>(samples.size());
            r.worst_rate = rate;
            r.worst_at = samples.back().at - t0;
            if (rate < *probe.slo.success_rate) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "success rate %.2f over the whole run, below %.2f", rate,
                              *probe.slo.success_rate);
                note(*r.worst_at, buf);
            }
        }
    }
    if (probe.slo.max_latency) {
        for (auto& s : samples)
            if (s.ok && s.latency > *probe.slo.max_latency) {
                note(s.at - t0,
                     "latency " + format_duration(s.latency) + " above " + format_duration(*probe.slo.max_latency));
                break;
            }
    }
    if (samples.empty() && (probe.slo.success_rate || probe.slo.max_latency)) {
        r.held = false;
        r.violation = "no attempt completed";
    }
    return r;
}

}  // namespace inj::runner
