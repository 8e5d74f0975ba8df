// The Clock seam: code that waits on a timeline (the runner, its guards) reads and waits on time
// through it, so its tests can run on fake time. monotonic_ns() is in common/time.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "common/time.hpp"

namespace inj {

// What a timeline needs from time: read it, and wait until an instant or until a descriptor
// (the runner's signalfd) is readable, whichever comes first.
class Clock {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = time_point::duration;
    virtual ~Clock() = default;
    virtual time_point now() const = 0;
    // now() as CLOCK_MONOTONIC ns (steady_clock is CLOCK_MONOTONIC on Linux), for deadlines
    // handed to the kernel.
    uint64_t now_ns() const {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch()).count());
    }
    // Returns true when fd (>= 0) became readable before `until`, false when `until` came.
    virtual bool wait_until(time_point until, int fd = -1) = 0;

    // A thread that takes part in a timeline (the runner's, a probe sampler's) is a member while
    // it runs: a simulated clock moves only when every member waits. Nothing on real time.
    virtual void join() {}
    virtual void leave() {}
    class Member {
    public:
        explicit Member(Clock& c) : c_(&c) { c_->join(); }
        Member(Member&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
        Member(const Member&) = delete;
        Member& operator=(const Member&) = delete;
        Member& operator=(Member&&) = delete;
        ~Member() {
            if (c_) c_->leave();
        }

    private:
        Clock* c_;
    };
};

// The machine's clock: steady_clock and poll(2).
class RealClock final : public Clock {
public:
    time_point now() const override { return std::chrono::steady_clock::now(); }
    bool wait_until(time_point until, int fd = -1) override;
    // One shared instance for code that is not given a clock.
    static RealClock& instance();
};

// Time that moves only when told to (advance) or when someone waits: wait_until jumps straight
// to `until` (or returns at once if fd is already readable), so a test of a 60 s timeline takes
// microseconds and sees the same instants every run. Safe to read from several threads.
class FakeClock final : public Clock {
public:
    explicit FakeClock(time_point start = time_point(std::chrono::hours(1))) : ns_(start.time_since_epoch().count()) {}
    time_point now() const override { return time_point(time_point::duration(ns_.load())); }
    bool wait_until(time_point until, int fd = -1) override;
    void advance(std::chrono::nanoseconds d) { ns_ += std::chrono::duration_cast<time_point::duration>(d).count(); }
    // Called after every wait with the instant reached: a test makes things happen "at" a time
    // (a probe fails, an abort file appears) without threads.
    std::function<void(time_point)> on_wait;
    // How many times someone waited (a check that a loop really ticks).
    uint64_t waits() const { return waits_.load(); }

private:
    std::atomic<time_point::duration::rep> ns_;
    std::atomic<uint64_t> waits_{0};
};

// Discrete-event time for threads that wait on each other: time stands still while any member
// (see Clock::Member) works, and when every member waits it jumps to the earliest instant one of
// them waits for. A run of a 10-minute plan takes milliseconds and sees the same instants however
// loaded the machine is. A wait on a descriptor also watches it in real time (every 1 ms), so a
// thread can be woken by another (a sampler told to stop).
class SimClock final : public Clock {
public:
    explicit SimClock(time_point start = time_point(std::chrono::hours(1))) : ns_(start.time_since_epoch().count()) {}
    time_point now() const override { return time_point(time_point::duration(ns_.load())); }
    bool wait_until(time_point until, int fd = -1) override;
    void join() override;
    void leave() override;
    // How far time has jumped, in steps (a check that a loop really waited).
    uint64_t steps() const { return steps_.load(); }

private:
    void advance_locked();
    std::mutex mu_;
    std::condition_variable cv_;
    int members_ = 0;
    std::multimap<time_point::duration::rep, int> waiting_;  // deadline -> 0 (one entry per waiter)
    std::atomic<time_point::duration::rep> ns_;
    std::atomic<uint64_t> steps_{0};
};

}  // namespace inj
