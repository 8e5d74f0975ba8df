// The monotonic clock every deadline uses (time.hpp), and the real and fake clocks behind the
// Clock seam (clock.hpp).
#include "common/clock.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace inj {

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {
bool fd_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & POLLIN);
}
}  // namespace

bool RealClock::wait_until(time_point until, int fd) {
    while (true) {
        auto now = std::chrono::steady_clock::now();
        if (now >= until) return false;
        // Round up, so the wait never ends a little before `until` and spins.
        auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
        int ms = static_cast<int>(std::min<long long>(left, 60'000));
        if (fd >= 0) {
            if (fd_readable(fd, ms)) return true;
        } else {
            timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        }
    }
}

RealClock& RealClock::instance() {
    static RealClock c;
    return c;
}

bool FakeClock::wait_until(time_point until, int fd) {
    ++waits_;
    if (fd >= 0 && fd_readable(fd, 0)) return true;
    auto target = until.time_since_epoch().count();
    auto cur = ns_.load();
    while (cur < target && !ns_.compare_exchange_weak(cur, target)) {}
    if (on_wait) on_wait(now());
    return false;
}

// Time moves when as many threads wait as take part (a waiter that is not a member counts too,
// so a lone thread on a SimClock behaves like a FakeClock): to the earliest deadline waited for.
void SimClock::advance_locked() {
    if (waiting_.empty() || static_cast<int>(waiting_.size()) < members_) return;
    auto target = waiting_.begin()->first;
    if (target > ns_.load()) {
        ns_ = target;
        ++steps_;
    }
    cv_.notify_all();
}

bool SimClock::wait_until(time_point until, int fd) {
    const auto target = until.time_since_epoch().count();
    std::unique_lock lk(mu_);
    auto it = waiting_.emplace(target, 0);
    bool readable = false;
    while (true) {
        if (fd >= 0 && fd_readable(fd, 0)) {
            readable = true;
            break;
        }
        if (ns_.load() >= target) break;
        advance_locked();
        if (ns_.load() >= target) break;
        if (fd >= 0)
            cv_.wait_for(lk, std::chrono::milliseconds(1));
        else
            cv_.wait(lk);
    }
    waiting_.erase(it);
    return readable;
}

void SimClock::join() {
    std::lock_guard lk(mu_);
    ++members_;
}

void SimClock::leave() {
    std::lock_guard lk(mu_);
    --members_;
    advance_locked();  // the others may all be waiting for this one
}

}  // namespace inj
