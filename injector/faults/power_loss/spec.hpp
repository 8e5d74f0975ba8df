// power_loss: how the power goes (kill or freeze) and how it comes back.
#pragma once

#include <string>
#include <vector>

#include "common/duration.hpp"
#include "plan/base.hpp"

namespace inj::plan {

// What a power_loss does to the processes of the dark hosts: SIGKILL all (a power cut) or freeze
// them (the "hung host" gray failure: alive, holding locks and leases, answering nobody).
enum class PowerMode { kill, freeze };
inline const char* to_string(PowerMode m) { return m == PowerMode::kill ? "kill" : "freeze"; }

// How power comes back: hosts in `order` first (then the other target hosts in plan order),
// `stagger` apart, as racks come back one after another.
struct Restore {
    Duration stagger{0};
    std::vector<std::string> order;  // host names, each one of the fault's target hosts
    Mark mark;
};

struct PowerLossSpec : SpecBase {
    static constexpr const char* kind = "power_loss";
    PowerMode mode = PowerMode::kill;
    Restore restore;
    std::optional<NetEffect> net() const { return NetEffect{NetEffect::Kind::isolate, Direction::both, 1.0, nullptr}; }
    std::optional<std::string> restarts() const { return std::string(); }  // every service of the dark hosts
};

}  // namespace inj::plan
