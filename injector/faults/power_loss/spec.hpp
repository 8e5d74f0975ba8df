// power_loss: how the power goes (kill or freeze) and how it comes back.
#pragma once

#include <cstdint>
#include <optional>
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

// A crash point (`at: { op, path, nth, when }`): the power goes when a process of a dark host
// performs an operation on a volatile volume, not at a time, as LazyFS and ALICE place crashes.
// Armed on every volatile volume of the target hosts from the fault's start; the first volume
// where it fires takes the hosts dark. Power comes back at the end of the fault's window
// (at + duration) whenever it went; a crash point that never fired darkens nothing.
struct CrashAt {
    std::string op = "fsync";  // an operation or class as faultfs names it (fsync, write, rename, ...)
    std::string path;          // glob inside the volume ("data/*.tmp"); empty = any path
    uint32_t nth = 1;          // the nth matching operation from the arming (1 = the first)
    bool after = false;        // false: before the operation (it is lost too); true: after it
    Mark mark;
};

struct PowerLossSpec : SpecBase {
    static constexpr const char* kind = "power_loss";
    PowerMode mode = PowerMode::kill;
    Restore restore;
    std::optional<CrashAt> crash;  // set: the power goes at this operation instead of at `at`
    std::optional<NetEffect> net() const { return NetEffect{NetEffect::Kind::isolate, Direction::both, 1.0, nullptr}; }
    std::optional<std::string> restarts() const { return std::string(); }  // every service of the dark hosts
};

}  // namespace inj::plan
