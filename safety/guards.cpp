// The basic guards: time limit and the operator's abort request.
#include "safety/guards.hpp"

#include <sys/stat.h>

#include <fstream>

#include "common/duration.hpp"

namespace inj::safety {

DeadlineGuard::DeadlineGuard(SteadyTime start, std::chrono::nanoseconds max_duration)
    : deadline_(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_duration)),
      max_(max_duration) {}

std::optional<std::string> DeadlineGuard::check(SteadyTime now) {
    if (now < deadline_) return std::nullopt;
    return "safety.max_duration (" + format_duration(max_) + ") reached";
}

AbortFileGuard::AbortFileGuard(std::vector<std::string> paths) : paths_(std::move(paths)) {}

std::optional<std::string> AbortFileGuard::check(SteadyTime) {
    for (auto& p : paths_) {
        struct stat st {};
        if (stat(p.c_str(), &st) != 0) continue;
        std::ifstream in(p);
        std::string why;
        std::getline(in, why);
        return "abort requested" + (why.empty() ? std::string() : ": " + why) + " (" + p + ")";
    }
    return std::nullopt;
}

}  // namespace inj::safety
