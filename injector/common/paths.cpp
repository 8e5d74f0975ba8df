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
}  // namespace inj
