// Durations as plans write them: "500ms", "30s", "5m", "1h30m", "0". Negative or unparseable
// text is an error, never a silent zero.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace inj {

using Duration = std::chrono::nanoseconds;

// Parses a duration; on failure returns nullopt and sets *why (if given) to the reason.
std::optional<Duration> parse_duration(std::string_view text, std::string* why = nullptr);
// Formats for humans: "30s", "1.5s", "250ms", "2m30s".
std::string format_duration(Duration d);

}  // namespace inj
