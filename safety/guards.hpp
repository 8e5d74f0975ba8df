// Run-time guards: each one small unit with one job. The runner polls them on every tick of its
// timeline; a guard that trips returns the reason, and the runner aborts (exit 2), heals every
// fault and records why. Tripping is a verdict, not an error.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace inj::safety {

using SteadyTime = std::chrono::steady_clock::time_point;

class Guard {
public:
    virtual ~Guard() = default;
    virtual std::string_view name() const = 0;
    // The abort reason if the run must stop now, else nullopt. Called often: keep it cheap.
    virtual std::optional<std::string> check(SteadyTime now) = 0;
};

// Trips when the run has lasted longer than the plan's safety.max_duration.
class DeadlineGuard : public Guard {
public:
    DeadlineGuard(SteadyTime start, std::chrono::nanoseconds max_duration);
    std::string_view name() const override { return "max_duration"; }
    std::optional<std::string> check(SteadyTime now) override;

private:
    SteadyTime deadline_;
    std::chrono::nanoseconds max_;
};

// Trips when the abort file exists: `injector abort` creates it, and so can a scheduler or any
// tool that can touch a file (<run dir>/abort, or <state>/abort for whichever run is going).
class AbortFileGuard : public Guard {
public:
    explicit AbortFileGuard(std::vector<std::string> paths);
    std::string_view name() const override { return "abort_request"; }
    std::optional<std::string> check(SteadyTime now) override;

private:
    std::vector<std::string> paths_;
};

}  // namespace inj::safety
