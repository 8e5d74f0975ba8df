// sever: what the plan says of a cut between two sides (the common part holds target and peer).
#pragma once

#include "plan/base.hpp"

namespace inj::plan {

struct SeverSpec : SpecBase {
    static constexpr const char* kind = "sever";
    static constexpr bool takes_peer = true;
    static constexpr bool host_target = false;
    Direction direction = Direction::both;
    double share = 1.0;  // share of flows cut (1.0 = all); below 1 is a gray failure
    std::optional<NetEffect> net() const { return NetEffect{NetEffect::Kind::cut, direction, share, nullptr}; }
};

}  // namespace inj::plan
