// State locations.
#include "common/paths.hpp"

#include <cstdlib>

namespace inj {
std::string state_root() {
    if (const char* e = std::getenv("INJECTOR_STATE_DIR"); e && *e) return e;
    return "/run/injector";
}
std::string runs_root() { return state_root() + "/runs"; }
}  // namespace inj
