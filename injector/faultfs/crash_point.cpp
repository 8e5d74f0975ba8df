// Crash points: the rule's validation and matching (shared with the daemon), and the runner's
// side of the control block (arm, disarm, fired, wait).
#include "faultfs/crash_point.hpp"

#include <fnmatch.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace inj::faultfs {

Result<CrashPoint> to_crash_point(const CrashRule& rule) {
    CrashPoint c;
    c.ops = ops_by_name(rule.op);
    if (!c.ops) return plain_error("crash point", "op: unknown operation '" + rule.op + "'");
    if (rule.nth == 0) return plain_error("crash point", "nth: must be 1 or more (the first match is 1)");
    std::string glob = rule.path;
    // "member/wal/*" means the same as "/member/wal/*": paths inside a volume start at its root.
    if (!glob.empty() && glob[0] != '/' && glob[0] != '*') glob = "/" + glob;
    if (glob.size() >= sizeof(c.pattern))
        return plain_error("crash point", "path: longer than " + std::to_string(sizeof(c.pattern) - 1) + " bytes");
    std::memcpy(c.pattern, glob.data(), glob.size());
    c.nth = rule.nth;
    c.after = rule.after ? 1 : 0;
    return c;
}

bool crash_matches(const CrashPoint& c, uint32_t op, const std::string& path) {
    if (!(c.ops & op)) return false;
    return c.pattern[0] == 0 || ::fnmatch(c.pattern, path.c_str(), 0) == 0;
}

bool NthCounter::hit(uint32_t arm, uint32_t nth, uint32_t* count_out) {
    std::lock_guard<std::mutex> lk(mu_);
    if (arm != arm_) {
        arm_ = arm;
        count_ = 0;
    }
    ++count_;
    if (count_out) *count_out = count_;
    return count_ == nth;
}

Result<uint32_t> arm_crash(Control& ctl, Settings s, const CrashRule& rule, uint32_t owner_pid) {
    auto c = to_crash_point(rule);
    if (!c) return c.error();
    Block* b = ctl.block();
    // A fresh id: above the one in force and the last that fired (ids are never reused while a
    // daemon runs, so a stale "fired" record never answers a new arming).
    uint32_t id = std::max(ctl.read().crash.arm, b->fired.arm.load()) + 1;
    s.crash = *c;
    s.crash.arm = id;
    ctl.write(s, owner_pid);
    return id;
}

void disarm_crash(Control& ctl, uint32_t owner_pid) {
    Settings s = ctl.read();
    s.crash = CrashPoint{};
    ctl.write(s, owner_pid);
}

std::optional<FiredInfo> crash_fired(const Control& ctl, uint32_t arm) {
    const Fired& f = ctl.block()->fired;
    if (arm == 0 || f.applied.load(std::memory_order_acquire) != arm) return std::nullopt;
    FiredInfo i;
    i.arm = arm;
    i.op = op_name(f.op);
    i.path = std::string(f.path, strnlen(f.path, sizeof(f.path)));
    i.nth = f.nth;
    i.after = f.after != 0;
    i.realtime_ns = f.realtime_ns;
    i.monotonic_ns = f.monotonic_ns;
    i.applied_ns = f.applied_ns;
    return i;
}

Result<FiredInfo> wait_crash(const Control& ctl, uint32_t arm, std::chrono::milliseconds bound) {
    auto until = std::chrono::steady_clock::now() + bound;
    Block* b = ctl.block();
    while (true) {
        uint32_t seen = b->fired.applied.load(std::memory_order_acquire);
        if (auto i = crash_fired(ctl, arm)) return *i;
        auto left = until - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero())
            return plain_error("faultfs crash point", "arming " + std::to_string(arm) + " did not fire within " +
                                                          std::to_string(bound.count()) + " ms");
        if (b->state.load() != uint32_t(DaemonState::serving))
            return plain_error("faultfs crash point", "the daemon is not serving");
        // Woken by the daemon when a loss is applied; a 50 ms slice bounds a missed wake-up.
        auto slice = std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50));
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count();
        timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&b->fired.applied), FUTEX_WAIT, seen, &ts, nullptr, 0);
    }
}

}  // namespace inj::faultfs
