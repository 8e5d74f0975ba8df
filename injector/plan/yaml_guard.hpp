// Inputs that make yaml-cpp 0.7 (Debian's) loop forever while its memory grows: a ',' that
// starts a line outside any flow collection (",a", "- a\n,b"; found by fuzz/plan_fuzz.cpp). The
// loader refuses them before parsing, with their position.
#pragma once

#include <optional>
#include <string_view>
#include <utility>

namespace inj::plan {

// 1-based (line, col) of the first line that begins with ',' outside [..] and {..}, or nullopt.
// Quotes and comments are skipped; a block scalar line that starts with ',' is refused too (a
// rare false alarm, and the message says how to write it).
std::optional<std::pair<int, int>> stray_flow_comma(std::string_view text);

}  // namespace inj::plan
