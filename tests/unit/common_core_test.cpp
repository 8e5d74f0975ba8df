// The core layer: the Fd owner, the Result helpers, the address ranges and the clocks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.hpp"
#include "common/fd.hpp"
#include "common/netaddr.hpp"
#include "common/ranges.hpp"
#include "common/result.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

Result<int> parse_int(const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return plain_error("parse", s);
    return std::stoi(s);
}

// Sum of two numbers given as text, through INJ_ASSIGN_OR_RETURN: the first bad one's error.
Result<int> add(const std::string& a, const std::string& b, int* reached = nullptr) {
    INJ_ASSIGN_OR_RETURN(int x, parse_int(a));
    if (reached) *reached = 1;
    int y = 0;
    INJ_ASSIGN_OR_RETURN(y, parse_int(b));  // assigns an existing variable
    if (reached) *reached = 2;
    return x + y;
}

Result<void> check_both(const std::string& a, const std::string& b) {
    INJ_TRY(parse_int(a));
    INJ_TRY(parse_int(b));
    return {};
}

Result<Fd> open_null() {
    INJ_ASSIGN_OR_RETURN(Fd fd, open_fd("/dev/null", O_RDONLY));  // move-only values pass through
    return fd;
}

}  // namespace

TEST(Fd, ClosesOnDestructionAndMoves) {
    int raw;
    {
        auto fd = open_fd("/dev/null", O_RDONLY);
        ASSERT_TRUE(fd.ok()) << fd.error().message();
        raw = fd->get();
        EXPECT_TRUE(*fd);
        EXPECT_TRUE(is_open(raw));
        EXPECT_TRUE(fcntl(raw, F_GETFD) & FD_CLOEXEC) << "open_fd adds O_CLOEXEC";
        Fd moved = std::move(*fd);
        EXPECT_FALSE(*fd);
        EXPECT_EQ(fd->get(), -1);
        EXPECT_EQ(moved.get(), raw);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, MoveAssignClosesTheOldOne) {
    auto a = open_fd("/dev/null", O_RDONLY);
    auto b = open_fd("/dev/zero", O_RDONLY);
    ASSERT_TRUE(a.ok() && b.ok());
    int ra = a->get(), rb = b->get();
    *a = std::move(*b);
    EXPECT_FALSE(is_open(ra));
    EXPECT_EQ(a->get(), rb);
    *a = std::move(*a);  // self-move keeps it
    EXPECT_TRUE(is_open(rb));
}

TEST(Fd, ReleaseGivesUpAndResetCloses) {
    auto f = open_fd("/dev/null", O_RDONLY);
    ASSERT_TRUE(f.ok());
    int raw = f->release();
    EXPECT_FALSE(*f);
    EXPECT_TRUE(is_open(raw)) << "release does not close";
    Fd g(raw);
    auto h = open_fd("/dev/null", O_RDONLY);
    ASSERT_TRUE(h.ok());
    int second = h->release();
    g.reset(second);
    EXPECT_FALSE(is_open(raw));
    EXPECT_TRUE(is_open(second));
    g.reset();
    EXPECT_FALSE(is_open(second));
    EXPECT_FALSE(g);
}

TEST(Fd, CloseReportsAndEmpties) {
    auto f = open_fd("/dev/null", O_RDONLY);
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->close().ok());
    EXPECT_FALSE(*f);
    EXPECT_TRUE(f->close().ok()) << "closing an empty Fd is a no-op";
    Fd bogus(100000);  // never a valid descriptor here: the kernel's EBADF comes back
    auto r = bogus.close();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADF);
}

TEST(Fd, OpenErrorNamesThePath) {
    auto f = open_fd("/nonexistent/inj-core-test", O_RDONLY);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, ENOENT);
    EXPECT_NE(f.error().message().find("/nonexistent/inj-core-test"), std::string::npos);
}

TEST(Fd, PipeCarriesBytes) {
    auto p = make_pipe();
    ASSERT_TRUE(p.ok()) << p.error().message();
    ASSERT_EQ(write(p->write.get(), "hi", 2), 2);
    p->write.reset();
    char buf[4] = {};
    EXPECT_EQ(read(p->read.get(), buf, sizeof buf), 2);
    EXPECT_EQ(std::string(buf, 2), "hi");
    EXPECT_EQ(read(p->read.get(), buf, sizeof buf), 0) << "the write end is closed";
}

TEST(ResultHelpers, AssignOrReturnGivesTheValueOrTheFirstError) {
    EXPECT_EQ(*add("2", "40"), 42);
    int reached = 0;
    auto bad_first = add("x", "1", &reached);
    ASSERT_FALSE(bad_first.ok());
    EXPECT_EQ(bad_first.error().context, "x");
    EXPECT_EQ(reached, 0) << "returned at the first failure";
    auto bad_second = add("1", "y", &reached);
    ASSERT_FALSE(bad_second.ok());
    EXPECT_EQ(bad_second.error().context, "y");
    EXPECT_EQ(reached, 1);
    auto fd = open_null();
    ASSERT_TRUE(fd.ok());
    EXPECT_TRUE(is_open(fd->get()));
}

TEST(ResultHelpers, TryPropagatesIntoVoid) {
    EXPECT_TRUE(check_both("1", "2").ok());
    auto r = check_both("1", "b");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().op, "parse");
    EXPECT_EQ(r.error().context, "b");
}

TEST(ResultHelpers, ErrorOfATemporaryIsACopy) {
    const Error& e = parse_int("z").error();  // bound to a copy whose life is extended
    EXPECT_EQ(e.context, "z");
}

TEST(Ranges, OneCopyOfEachRange) {
    EXPECT_EQ(lab_range_v4().str(), "198.18.0.0/15");
    EXPECT_EQ(lab_range_v6().str(), "2001:2::/48");
    EXPECT_EQ(auto_subnet_range_v4().str(), "198.18.0.0/16");
    EXPECT_EQ(control_net_v4().str(), "198.19.255.0/30");
    EXPECT_EQ(control_net_v6().str(), "2001:2:0:ffff::/64");
    EXPECT_TRUE(lab_range_v4().contains(auto_subnet_range_v4()));
    EXPECT_TRUE(lab_range_v4().contains(control_net_v4()));
    EXPECT_FALSE(auto_subnet_range_v4().overlaps(control_net_v4())) << "assigned subnets never hit control";
    EXPECT_TRUE(lab_range_v6().contains(control_net_v6()));
    ASSERT_EQ(control_prefixes().size(), 2u);
    EXPECT_EQ(control_prefixes()[0], control_net_v4());
    EXPECT_EQ(control_prefixes()[1], control_net_v6());
}

TEST(Clock, MonotonicMatchesSteadyClock) {
    RealClock& c = RealClock::instance();
    uint64_t a = monotonic_ns();
    uint64_t b = c.now_ns();
    uint64_t d = monotonic_ns();
    EXPECT_LE(a, b);
    EXPECT_LE(b, d) << "steady_clock is CLOCK_MONOTONIC, so kernel deadlines and now() agree";
}

TEST(Clock, RealClockWaitsUntilOrForAReadableFd) {
    RealClock c;
    auto t = c.now();
    EXPECT_FALSE(c.wait_until(t + 20ms));
    EXPECT_GE(c.now() - t, 20ms);
    auto p = make_pipe();
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(write(p->write.get(), "x", 1), 1);
    t = c.now();
    EXPECT_TRUE(c.wait_until(t + 10s, p->read.get())) << "a readable fd ends the wait";
    EXPECT_LT(c.now() - t, 5s);
    EXPECT_FALSE(c.wait_until(c.now() - 1s, p->read.get())) << "an instant already past returns at once";
}

TEST(Clock, FakeClockJumpsAndCallsBack) {
    FakeClock c;
    auto t0 = c.now();
    c.advance(1500ms);
    EXPECT_EQ(c.now() - t0, 1500ms);
    std::vector<std::chrono::nanoseconds> seen;
    c.on_wait = [&](Clock::time_point at) { seen.push_back(at - t0); };
    auto real_before = std::chrono::steady_clock::now();
    EXPECT_FALSE(c.wait_until(t0 + 60s));
    EXPECT_FALSE(c.wait_until(t0 + 30s)) << "a wait for the past does not move time back";
    EXPECT_LT(std::chrono::steady_clock::now() - real_before, 1s) << "fake waits do not sleep";
    EXPECT_EQ(c.now() - t0, 60s);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], 60s);
    EXPECT_EQ(seen[1], 60s);
    EXPECT_EQ(c.waits(), 2u);
    auto p = make_pipe();
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(write(p->write.get(), "x", 1), 1);
    EXPECT_TRUE(c.wait_until(t0 + 120s, p->read.get()));
    EXPECT_EQ(c.now() - t0, 60s) << "a readable fd returns before time moves";
    EXPECT_EQ(c.now_ns(), static_cast<uint64_t>(c.now().time_since_epoch().count()));
}

// Two members pacing themselves on a SimClock: time stands still while either works, and each
// wakes exactly at its own instants, interleaved in time order, whatever the scheduler does.
TEST(Clock, SimClockMovesOnlyWhenEveryMemberWaits) {
    SimClock c;
    auto t0 = c.now();
    std::mutex mu;
    std::vector<std::pair<std::chrono::nanoseconds, char>> log;
    // Both join before either starts: a lone member would run ahead on its own.
    Clock::Member ma(c), mb(c);
    auto member = [&](char name, std::chrono::milliseconds every, int n, Clock::Member& joined) {
        return std::thread([&, name, every, n, m = std::move(joined)] {
            auto next = t0;
            for (int i = 0; i < n; ++i) {
                next += every;
                c.wait_until(next);
                EXPECT_EQ(c.now(), next) << "woken at its own instant, not later";
                // Work that takes the machine's time does not move simulated time.
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                EXPECT_EQ(c.now(), next);
                std::lock_guard lk(mu);
                log.emplace_back(c.now() - t0, name);
            }
        });
    };
    std::thread a = member('a', 30ms, 10, ma), b = member('b', 70ms, 4, mb);
    a.join();
    b.join();
    ASSERT_EQ(log.size(), 14u);
    for (size_t i = 1; i < log.size(); ++i) EXPECT_LE(log[i - 1].first, log[i].first) << "in time order";
    EXPECT_EQ(c.now() - t0, 300ms);
    EXPECT_EQ(c.steps(), 13u) << "10 instants of a and 4 of b, one shared (210 ms)";
}

// A member that leaves lets the others go on; a wait on a descriptor is woken by another thread
// without time moving.
TEST(Clock, SimClockLeaveAndDescriptorWake) {
    SimClock c;
    auto t0 = c.now();
    std::optional<Clock::Member> busy(std::in_place, c);  // this thread, working
    std::atomic<bool> woke{false};
    std::thread waiter([&, m = Clock::Member(c)] {
        c.wait_until(t0 + 5s);
        woke = true;
    });
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(woke) << "time stands still while a member works";
    EXPECT_EQ(c.now(), t0);
    busy.reset();  // this thread leaves: the waiter is the only member
    waiter.join();
    EXPECT_EQ(c.now() - t0, 5s);
    auto p = make_pipe();
    ASSERT_TRUE(p.ok());
    Clock::Member again(c);
    std::thread other([&, m = Clock::Member(c)] {
        // Also a member, but stopped by the descriptor before its instant comes.
        EXPECT_TRUE(c.wait_until(t0 + 1h, p->read.get()));
    });
    std::this_thread::sleep_for(20ms);
    ASSERT_EQ(write(p->write.get(), "x", 1), 1);
    other.join();
    EXPECT_EQ(c.now() - t0, 5s) << "the descriptor, not time, ended the wait";
}

TEST(Clock, FakeClockIsSafeAcrossThreads) {
    FakeClock c;
    auto t0 = c.now();
    std::thread a([&] {
        for (int i = 0; i < 1000; ++i) c.advance(1ms);
    });
    std::thread b([&] {
        for (int i = 0; i < 1000; ++i) c.advance(1ms);
    });
    a.join();
    b.join();
    EXPECT_EQ(c.now() - t0, 2s);
}
