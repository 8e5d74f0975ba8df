// Test and bench helpers that set a fault's sides whatever its kind: a plan built by hand picks
// its kind with `f.spec = plan::SeverSpec{}` and then sets the direction and the share of flows
// through these (found by argument-dependent lookup on plan::Fault).
#pragma once

#include <variant>

#include "plan/model.hpp"

namespace inj::plan {

inline void set_side_direction(Fault& f, Direction d) {
    std::visit(
        [&](auto& s) {
            if constexpr (requires { s.direction; }) s.direction = d;
        },
        f.spec);
}

inline void set_side_share(Fault& f, double share) {
    std::visit(
        [&](auto& s) {
            if constexpr (requires { s.share; }) s.share = share;
        },
        f.spec);
}

}  // namespace inj::plan

#include <memory>

#include "lab/targets.hpp"

namespace inj::test {

// The lab `st` as the Targets view engines take; the pointer keeps it alive through a call:
// `engine.prepare(plan, *lab_view(plan, st), deadline)`.
inline std::unique_ptr<lab::LabTargets> lab_view(const plan::Plan& plan, const lab::LabState& st) {
    return std::make_unique<lab::LabTargets>(plan, st);
}

}  // namespace inj::test
