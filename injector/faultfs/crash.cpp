// Crash points in the daemon (the rule and the runner's side are in crash_point.hpp): the gate
// counts the operations matching the armed rule; the nth is held while the volume's loss model
// is applied (before it: the operation is refused, lost with the rest; after it: it completes,
// the loss applies, then it is answered), the firing is recorded in the control block, and the
// volume stays without power (EIO) until the runner re-arms or disarms.
//
// Why the kernel is told only after the held operation is answered: the kernel may hold the
// pages (a write) or the directories (a rename) of that operation locked while it waits for us,
// and invalidating them from here would wait for those locks.
#include <linux/futex.h>

#include <climits>
#include <ctime>

#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {
namespace {

thread_local const std::string* t_dest = nullptr;  // the destination of the rename being gated
thread_local bool t_firing = false;                // this thread performs the op fired after
thread_local bool t_cut_pending = false;           // apply the loss before this thread's reply
thread_local uint32_t t_arm = 0;
thread_local Trigger t_trigger;
thread_local bool t_has_inval = false;  // a cut to tell the kernel after the reply
thread_local Invalidations t_inval;

uint64_t realtime_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The firing in the block; `arm` last, so a reader that sees it sees the rest.
void record(uint32_t arm, const Trigger& t) {
    Fired& f = g_fs->b->fired;
    f.op = t.op;
    f.nth = t.nth;
    f.after = t.after ? 1 : 0;
    f.realtime_ns = t.realtime_ns;
    f.monotonic_ns = mono_ns();
    f.applied_ns = 0;
    size_t n = std::min(t.path.size(), sizeof(f.path) - 1);
    std::memcpy(f.path, t.path.data(), n);
    f.path[n] = 0;
    f.arm.store(arm, std::memory_order_release);
}

// The loss of the volume, applied by the thread holding the operation; then the runner is woken.
void apply(uint32_t arm, const Trigger& t) {
    t_inval = cut(&t);
    t_has_inval = true;
    Fired& f = g_fs->b->fired;
    f.applied_ns = mono_ns();
    f.applied.store(arm, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&f.applied), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    lg()->warn("crash point {}: power lost {} {} {} (match {}), loss applied in {} us", arm,
               t.after ? "after" : "before", op_name(t.op), t.path, t.nth, (f.applied_ns - f.monotonic_ns) / 1000);
}

}  // namespace

void rename_destination(const std::string* dest) { t_dest = dest; }
bool firing() { return t_firing; }

int crash_check(const Settings& s, uint32_t op, const std::string& path) {
    if (t_firing) return 0;
    const std::string* matched = nullptr;
    if (crash_matches(s.crash, op, path))
        matched = &path;
    else if (op == kOpRename && t_dest && crash_matches(s.crash, op, *t_dest))
        matched = t_dest;
    if (!matched) return 0;
    g_fs->b->counters.crash_matches.fetch_add(1, std::memory_order_relaxed);
    uint32_t n = 0;
    if (!g_fs->crash_count.hit(s.crash.arm, s.crash.nth, &n)) return 0;
    Trigger t{op, *matched, n, s.crash.after != 0, realtime_ns()};
    record(s.crash.arm, t);
    // From here every other operation finds the volume without power.
    g_fs->off_arm.store(s.crash.arm, std::memory_order_release);
    if (!t.after) {
        apply(s.crash.arm, t);
        return EIO;  // the operation never reached the disk
    }
    t_firing = true;
    t_cut_pending = true;
    t_arm = s.crash.arm;
    t_trigger = std::move(t);
    return 0;
}

void before_reply() {
    if (!t_cut_pending) return;
    t_cut_pending = false;
    apply(t_arm, t_trigger);
    t_firing = false;
}

void after_reply() {
    if (!t_has_inval) return;
    t_has_inval = false;
    invalidate(t_inval);
}

}  // namespace inj::faultfs::detail
