// Crash points of a volatile volume: a power loss placed at an operation a target performs (the
// nth fsync of "/member/wal/*", a rename of "/data/*.tmp", ...) instead of at a time, as LazyFS
// and ALICE place them. The runner arms a rule in the control block; the daemon counts the
// matching operations, holds the nth, applies the volume's loss model at that exact point (before
// the operation: it is lost too; after it: it completes, the loss applies, then it is answered),
// records what fired in the block, and fails every later operation with EIO (the disk has no
// power) until the runner re-arms or disarms. This header is the runner's side and the matching
// rules, which the daemon shares.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "faultfs/control.hpp"

namespace inj::faultfs {

// A crash point as a plan states it.
struct CrashRule {
    std::string op = "fsync";  // an operation or class name of ops_by_name ("fsync", "rename", "write", ...)
    std::string path;          // fnmatch(3) glob on the path inside the volume; "" = any. A glob
                               //   not starting with '/' or '*' is taken from the volume's root.
    uint32_t nth = 1;          // the nth matching operation (1 = the first)
    bool after = false;        // false: before the operation (it is lost too); true: after it
};

// What fired, read back from the control block.
struct FiredInfo {
    uint32_t arm = 0;
    std::string op;    // the operation's name ("rename")
    std::string path;  // the path that matched
    uint32_t nth = 0;
    bool after = false;
    uint64_t realtime_ns = 0, monotonic_ns = 0;
    uint64_t applied_ns = 0;  // CLOCK_MONOTONIC when the loss had been applied
};

// The rule in the control block's form. Errors name the field: `op` unknown, `path` too long,
// `nth` 0.
Result<CrashPoint> to_crash_point(const CrashRule& rule);

// Whether one operation (an Op bit) on `path` matches the crash point (not counting nth). A
// rename matches on its source or its destination path (the daemon asks for each).
bool crash_matches(const CrashPoint& c, uint32_t op, const std::string& path);

// Counts matches per arming id: hit() is true exactly once, for the nth match of an arming; a new
// id starts the count again.
class NthCounter {
public:
    bool hit(uint32_t arm, uint32_t nth, uint32_t* count_out = nullptr);

private:
    std::mutex mu_;
    uint32_t arm_ = 0;
    uint32_t count_ = 0;
};

// Publishes `s` with `rule` armed under a fresh arming id (a volume left without power by an
// earlier crash point is powered on again); returns the id to wait for.
Result<uint32_t> arm_crash(Control& ctl, Settings s, const CrashRule& rule, uint32_t owner_pid);
// Publishes the settings in force without their crash point: the volume is powered on again
// (the loss stays applied). Call once the target's processes are dead.
void disarm_crash(Control& ctl, uint32_t owner_pid);
// The record of arming `arm` once it fired and its loss is applied; nullopt before.
std::optional<FiredInfo> crash_fired(const Control& ctl, uint32_t arm);
// Waits for arming `arm` to fire and its loss to be applied (futex on the block, bounded).
Result<FiredInfo> wait_crash(const Control& ctl, uint32_t arm, std::chrono::milliseconds bound);

}  // namespace inj::faultfs
