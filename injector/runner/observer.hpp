// Watchers of a run. The journal is the record; the live view, the plain log lines, the JSON
// lines on stdout and the metrics endpoint all watch the same events, as they are written.
#pragma once

#include <nlohmann/json.hpp>

namespace inj::runner {

class RunObserver {
public:
    virtual ~RunObserver() = default;
    // One journal line, complete (t, mono_ns, run, event and the event's fields), right after it
    // was written. Called from whichever thread wrote it (probe samplers have their own), so
    // implementations lock; they must be quick and must not throw.
    virtual void on_event(const nlohmann::json& event) noexcept = 0;
};

}  // namespace inj::runner
