// State locations.
#include "common/paths.hpp"

#include <cstdlib>

#include "common/safe_file.hpp"

namespace inj {
std::string state_root() {
    // Root writes here: an override from the environment counts only when nobody else could
    // have planted it (sudo may keep the caller's environment).
    if (auto e = trusted_env_path("INJECTOR_STATE_DIR")) return *e;
    return "/run/injector";
}
std::string runs_root() { return state_root() + "/runs"; }

bool is_root_or_escaping(std::string_view rel) {
    bool any = false;
    while (!rel.empty()) {
        size_t slash = rel.find('/');
        std::string_view part = rel.substr(0, slash);
        if (part == "..") return true;
        if (!part.empty() && part != ".") any = true;
        if (slash == std::string_view::npos) break;
        rel.remove_prefix(slash + 1);
    }
    return !any;
}
}  // namespace inj
