// The fault filesystem mounted in place over a temp directory (no lab, no lock needed), driven
// through its control block as the StorageEngine drives it, with real I/O by real programs
// (forked children doing the syscalls, dd, python): each errno, latency distribution, ENOSPC,
// EROFS, the token bucket, volatile writes lost at a power cut (byte for byte), and the owner
// dying.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

#include "common/proc.hpp"
#include "faultfs/control.hpp"
#include "faultfs/faultfs.hpp"
#include "support/faultfs_fixture.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace inj::faultfs::test;

namespace inj::faultfs {
namespace {

using Clock = std::chrono::steady_clock;

TEST_F(FaultfsTest, InPlacePassthroughServesWhatWasThereAndWritesReachTheDirectory) {
    EXPECT_EQ(slurp(p("before.txt")), "was here before the mount");
    std::string data = random_bytes(300000, 1);
    ASSERT_EQ(in_child([&] { return write_file(p("a.bin"), data, 0, true); }), 0);
    fs::create_directories(p("d/e"));
    fs::rename(p("a.bin"), p("d/e/b.bin"));
    EXPECT_EQ(slurp(p("d/e/b.bin")), data);
    auto r = run_shell("cd " + vol_ + " && ls -R . | sort | tr '\\n' ' '", 10s);
    ASSERT_TRUE(r);
    EXPECT_NE(r->output.find("b.bin"), std::string::npos) << r->output;
    // After the unmount the bytes are in the directory itself.
    ASSERT_TRUE(stop(vol_, daemon_));
    daemon_ = 0;
    EXPECT_EQ(slurp(p("d/e/b.bin")), data);
    EXPECT_EQ(slurp(p("before.txt")), "was here before the mount");
}

TEST_F(FaultfsTest, EachErrnoByNameIsWhatTheProgramSees) {
    ASSERT_EQ(write_file(p("f"), "x"), 0);
    for (const char* name : {"EIO", "ENOSPC", "EROFS", "EDQUOT", "EACCES", "EPERM", "ENOMEM", "EFBIG", "ETIMEDOUT"}) {
        int err = errno_by_name(name);
        ASSERT_GT(err, 0) << name;
        Settings s;
        s.errors[0] = rule(err, kOpWrite);
        s.nerrors = 1;
        set(s);
        EXPECT_EQ(in_child([&] {
                      int fd = ::open(p("f").c_str(), O_WRONLY);
                      if (fd < 0) return 100;
                      return ::write(fd, "y", 1) == 1 ? 0 : errno;
                  }),
                  err)
            << name;
        // Reads are not in the filter: they still work.
        EXPECT_EQ(slurp(p("f")), "x");
    }
    // Back to clear: the next write goes through, no remount.
    set(Settings{});
    EXPECT_EQ(in_child([&] { return write_file(p("f"), "z"); }), 0);
    EXPECT_EQ(slurp(p("f")), "z");
}

TEST_F(FaultfsTest, ErrorRulesFilterByOperationAndPathPattern) {
    fs::create_directories(p("wal"));
    Settings s;
    s.errors[0] = rule(EIO, kOpFsync, 1000000, "/wal/*");
    s.errors[1] = rule(ENOENT, kOpOpen | kOpCreate, 1000000, "*.lock");
    s.nerrors = 2;
    set(s);
    // fsync under /wal fails; the write before it did not.
    EXPECT_EQ(in_child([&] { return write_file(p("wal/0.wal"), "entry", 0, true); }), EIO);
    EXPECT_EQ(slurp(p("wal/0.wal")), "entry");
    // fsync elsewhere is fine.
    EXPECT_EQ(in_child([&] { return write_file(p("snap.db"), "snap", 0, true); }), 0);
    EXPECT_EQ(in_child([&] { return write_file(p("x.lock"), "l"); }), ENOENT);
    // Paths follow renames of a directory above the file (etcd builds wal.tmp/ then renames it).
    fs::create_directories(p("wal.tmp"));
    int fd = ::open(p("wal.tmp/1.wal").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    fs::remove_all(p("wal"));
    fs::rename(p("wal.tmp"), p("wal"));
    ASSERT_EQ(::write(fd, "e", 1), 1);
    EXPECT_EQ(::fsync(fd), -1);
    EXPECT_EQ(errno, EIO);
    ::close(fd);
}

TEST_F(FaultfsTest, ProbabilityIsTheShareOfFailures) {
    Settings s;
    s.errors[0] = rule(EIO, kOpWrite, 300000);  // 30%
    s.nerrors = 1;
    set(s);
    int fd = ::open(p("g").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    int failed = 0, n = 1000;
    for (int i = 0; i < n; ++i)
        if (::pwrite(fd, "a", 1, i) != 1) {
            EXPECT_EQ(errno, EIO);
            ++failed;
        }
    ::close(fd);
    EXPECT_GT(failed, 240);
    EXPECT_LT(failed, 360);
    EXPECT_EQ(ctl_->block()->counters.errors_injected.load(), uint64_t(failed));
}

TEST_F(FaultfsTest, LatencyPerClassHasTheConfiguredDistribution) {
    Settings s;
    s.latency[kClassFsync] = {20'000'000, 5'000'000};  // 20 ms +- 5 ms
    set(s);
    int fd = ::open(p("h").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    std::vector<double> ms, wms;
    for (int i = 0; i < 40; ++i) {
        auto t0 = Clock::now();
        ASSERT_EQ(::write(fd, "w", 1), 1);
        auto t1 = Clock::now();
        ASSERT_EQ(::fdatasync(fd), 0);
        auto t2 = Clock::now();
        wms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    ::close(fd);
    std::sort(ms.begin(), ms.end());
    std::sort(wms.begin(), wms.end());
    double median = ms[ms.size() / 2];
    EXPECT_GE(ms.front(), 14.9);              // never below fixed - jitter
    EXPECT_LT(ms[ms.size() * 9 / 10], 35.0);  // p90 within fixed + jitter + scheduling slack
    EXPECT_NEAR(median, 20.0, 4.0);
    // The spread is really there (uniform over 10 ms: the middle half spans ~5 ms).
    EXPECT_GT(ms[ms.size() * 3 / 4] - ms[ms.size() / 4], 2.0);
    // Writes are another class: not delayed.
    EXPECT_LT(wms[wms.size() / 2], 5.0);
}

TEST_F(FaultfsTest, FullDiskShowsNoSpaceAndWritesFailWithEnospc) {
    ASSERT_EQ(write_file(p("old"), "kept"), 0);
    Settings s;
    s.flags = kFlagFull;
    set(s);
    struct statvfs sv;
    ASSERT_EQ(::statvfs(vol_.c_str(), &sv), 0);
    EXPECT_EQ(sv.f_bavail, 0u);
    EXPECT_EQ(sv.f_bfree, 0u);
    auto df = run_shell("df --output=avail " + vol_ + " | tail -1", 10s);
    ASSERT_TRUE(df);
    EXPECT_EQ(std::stoll(df->output), 0) << df->output;
    EXPECT_EQ(in_child([&] { return write_file(p("old"), "more"); }), ENOSPC);
    auto dd = run_shell("dd if=/dev/zero of=" + p("dd.bin") + " bs=4k count=1 2>&1", 10s);
    ASSERT_TRUE(dd);
    EXPECT_NE(dd->exit_code, 0);
    EXPECT_NE(dd->output.find("No space left on device"), std::string::npos) << dd->output;
    EXPECT_EQ(slurp(p("old")), "");  // O_TRUNC went through (metadata), the data did not
    set(Settings{});
    EXPECT_EQ(in_child([&] { return write_file(p("old"), "again"); }), 0);
}

TEST_F(FaultfsTest, ReadOnlyRefusesEveryMutationWithErofs) {
    ASSERT_EQ(write_file(p("r"), "content"), 0);
    fs::create_directories(p("dir"));
    Settings s;
    s.flags = kFlagReadOnly;
    set(s);
    EXPECT_EQ(slurp(p("r")), "content");
    EXPECT_EQ(in_child([&] { return ::open(p("r").c_str(), O_WRONLY) < 0 ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::open(p("new").c_str(), O_WRONLY | O_CREAT, 0644) < 0 ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::unlink(p("r").c_str()) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::mkdir(p("m").c_str(), 0755) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::rmdir(p("dir").c_str()) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::rename(p("r").c_str(), p("s").c_str()) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::chmod(p("r").c_str(), 0600) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::truncate(p("r").c_str(), 0) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::symlink("r", p("l").c_str()) ? errno : 0; }), EROFS);
    EXPECT_EQ(in_child([&] { return ::link(p("r").c_str(), p("hl").c_str()) ? errno : 0; }), EROFS);
    EXPECT_EQ(slurp(p("r")), "content");
    EXPECT_TRUE(fs::exists(p("dir")));
}

// dd with O_DIRECT so every block reaches the filesystem (not the page cache); elapsed time
// against the configured rate.
double dd_seconds(const std::string& args) {
    auto t0 = Clock::now();
    auto r = run_shell("dd " + args + " status=none", 60s);
    EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().message());
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST_F(FaultfsTest, TokenBucketCapsThroughputWithinTenPercent) {
    constexpr double kRate = 16.0 * 1024 * 1024;  // 16 MiB/s
    Settings s;
    s.write_bps = uint64_t(kRate);
    s.read_bps = uint64_t(kRate);
    set(s);
    double w = dd_seconds("if=/dev/zero of=" + p("tb.bin") + " bs=1M count=48 oflag=direct");
    double wrate = 48.0 * 1024 * 1024 / w;
    EXPECT_NEAR(wrate / kRate, 1.0, 0.10) << "write " << wrate / 1048576 << " MiB/s";
    double r = dd_seconds("if=" + p("tb.bin") + " of=/dev/null bs=1M iflag=direct");
    double rrate = 48.0 * 1024 * 1024 / r;
    std::cout << "token bucket at 16 MiB/s: write " << wrate / 1048576 << " MiB/s, read " << rrate / 1048576
              << " MiB/s\n";
    EXPECT_NEAR(rrate / kRate, 1.0, 0.10) << "read " << rrate / 1048576 << " MiB/s";
    // IOPS: 4 KiB direct writes at 200/s.
    s = Settings{};
    s.write_iops = 200;
    set(s);
    double io = dd_seconds("if=/dev/zero of=" + p("io.bin") + " bs=4k count=400 oflag=direct");
    EXPECT_NEAR((400.0 / io) / 200.0, 1.0, 0.10) << 400.0 / io << " IOPS";
    // Lifted: the same write is far faster.
    set(Settings{});
    double free_run = dd_seconds("if=/dev/zero of=" + p("tb.bin") + " bs=1M count=48 oflag=direct");
    EXPECT_LT(free_run, w / 3);
}

TEST_F(FaultfsTest, VolatileWritesNotMadeDurableAreLostAtPowerLossDurableOnesSurvive) {
    // Durable content of `over` before volatile mode.
    const std::string old_over = random_bytes(10000, 2);
    ASSERT_EQ(write_file(p("over"), old_over, 0, true), 0);
    Settings s;
    s.flags = kFlagVolatile;
    set(s);
    const std::string synced = random_bytes(200000, 3), dsync = random_bytes(70001, 4), lost = random_bytes(150000, 5),
                      new_over = random_bytes(5000, 6);
    ASSERT_EQ(in_child([&] { return write_file(p("synced"), synced, 0, true); }), 0);
    ASSERT_EQ(in_child([&] { return write_file(p("dsync"), dsync, O_DSYNC); }), 0);
    ASSERT_EQ(in_child([&] { return write_file(p("lost"), lost); }), 0);
    // Overwrite the middle of `over` without fsync.
    ASSERT_EQ(in_child([&] {
                  int fd = ::open(p("over").c_str(), O_WRONLY);
                  return ::pwrite(fd, new_over.data(), new_over.size(), 3000) == ssize_t(new_over.size()) ? 0 : errno;
              }),
              0);
    // Held writes are served to reads (another process, through the kernel).
    auto py =
        run({"python3", "-c", "import sys; sys.stdout.write(str(len(open(sys.argv[1],'rb').read())))", p("lost")}, 10s);
    ASSERT_TRUE(py);
    EXPECT_EQ(py->output, "150000");
    EXPECT_EQ(slurp(p("lost")), lost);
    std::string expect_over = old_over;
    expect_over.replace(3000, new_over.size(), new_over);
    EXPECT_EQ(slurp(p("over")), expect_over);
    EXPECT_GT(ctl_->block()->counters.dirty_bytes.load(), 150000u);

    // The power cut.
    auto d = ctl_->drop_volatile(2000ms);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(ctl_->block()->counters.dirty_bytes.load(), 0u);
    EXPECT_GT(ctl_->block()->counters.dropped_bytes.load(), 150000u);

    // Byte for byte: durable writes intact, the rest is what the disk held.
    EXPECT_TRUE(slurp(p("synced")) == synced);
    EXPECT_TRUE(slurp(p("dsync")) == dsync);
    EXPECT_EQ(fs::file_size(p("lost")), 0u);  // created (metadata) but its data never made durable
    EXPECT_TRUE(slurp(p("over")) == old_over);
    // And after the unmount the directory itself holds exactly that.
    ctl_.reset();
    ASSERT_TRUE(stop(vol_, daemon_));
    daemon_ = 0;
    EXPECT_TRUE(slurp(p("synced")) == synced);
    EXPECT_TRUE(slurp(p("dsync")) == dsync);
    EXPECT_EQ(fs::file_size(p("lost")), 0u);
    EXPECT_TRUE(slurp(p("over")) == old_over);
}

TEST_F(FaultfsTest, VolatileModeEndingWritesHeldPagesBack) {
    Settings s;
    s.flags = kFlagVolatile;
    set(s);
    const std::string data = random_bytes(50000, 7);
    ASSERT_EQ(in_child([&] { return write_file(p("kept"), data); }), 0);
    EXPECT_GT(ctl_->block()->counters.dirty_bytes.load(), 0u);
    set(Settings{});
    auto until = Clock::now() + 2s;
    while (ctl_->block()->counters.dirty_bytes.load() != 0 && Clock::now() < until) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(ctl_->block()->counters.dirty_bytes.load(), 0u);
    ASSERT_TRUE(stop(vol_, daemon_));
    daemon_ = 0;
    EXPECT_TRUE(slurp(p("kept")) == data);
}

TEST_F(FaultfsTest, OwnerKilledNineClearsEveryFaultAndTheFilesystemKeepsServing) {
    ASSERT_EQ(write_file(p("o"), "before"), 0);
    // The owner: a separate process that sets the faults, then is killed with SIGKILL.
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t owner = ::fork();
    if (owner == 0) {
        auto c = Control::open((base_ / "ctl").string());
        if (!c) ::_exit(1);
        Settings s;
        s.errors[0] = rule(EIO, kOpsAll & ~kOpFlush);
        s.nerrors = 1;
        s.latency[kClassWrite] = {50'000'000, 0};
        c->write(s, uint32_t(::getpid()));
        (void)!::write(ready[1], "r", 1);
        ::pause();
        ::_exit(0);
    }
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    EXPECT_EQ(in_child([&] { return ::open(p("o").c_str(), O_RDONLY) < 0 ? errno : 0; }), EIO);
    ::kill(owner, SIGKILL);
    auto t0 = Clock::now();
    ::waitpid(owner, nullptr, 0);
    while (ctl_->block()->owner_pid.load() != 0 && Clock::now() - t0 < 2s) std::this_thread::sleep_for(1ms);
    auto cleared_after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_EQ(ctl_->block()->owner_pid.load(), 0u);
    EXPECT_LT(cleared_after, 500ms);
    EXPECT_EQ(ctl_->block()->counters.owner_lost.load(), 1u);
    // Plain passthrough again.
    EXPECT_EQ(in_child([&] { return write_file(p("o"), "after"); }), 0);
    EXPECT_EQ(slurp(p("o")), "after");
    EXPECT_EQ(process_alive(daemon_), true);
}

}  // namespace
}  // namespace inj::faultfs

namespace inj::faultfs {
namespace {

uint64_t mono_now_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

TEST_F(FaultfsTest, FaultsPastTheirDeadlineAreVoidWhateverTheRunnerDoes) {
    Settings s;
    s.errors[0] = rule(EIO, kOpWrite);
    s.nerrors = 1;
    s.deadline_ns = mono_now_ns() + 300'000'000ull;  // 300 ms
    set(s);
    EXPECT_EQ(in_child([&] { return write_file(p("d"), "x"); }), EIO);
    std::this_thread::sleep_for(400ms);
    // Nobody healed it: the deadline did. The watcher also clears the block.
    EXPECT_EQ(in_child([&] { return write_file(p("d"), "y"); }), 0);
    auto until = Clock::now() + 1s;
    while (ctl_->read().nerrors != 0 && Clock::now() < until) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(ctl_->read().nerrors, 0u);
    EXPECT_EQ(ctl_->block()->owner_pid.load(), 0u);
}

}  // namespace
}  // namespace inj::faultfs

namespace inj::faultfs {
namespace {

TEST_F(FaultfsTest, ArmingAReadFaultDropsTheCacheSoReadsReachTheDisk) {
    const std::string data = random_bytes(1 << 20, 9);
    ASSERT_EQ(write_file(p("cached"), data, 0, true), 0);
    ASSERT_TRUE(slurp(p("cached")) == data);  // now in the kernel's page cache
    auto timed_read = [&] {
        auto t0 = Clock::now();
        std::string got = slurp(p("cached"));
        EXPECT_TRUE(got == data);
        return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    EXPECT_LT(timed_read(), 20.0);  // served from the cache
    Settings s;
    s.latency[kClassRead] = {30'000'000, 0};
    set(s);
    std::this_thread::sleep_for(150ms);  // the watcher acts on the new settings
    // Buffered reads, no O_DIRECT: they reach the daemon again and wait.
    EXPECT_GE(timed_read(), 30.0);
}

}  // namespace
}  // namespace inj::faultfs

namespace inj::faultfs {
namespace {

TEST_F(FaultfsTest, AWriterKilledInsideTheSeqlockLeavesTheDaemonServingTheLastGoodSettings) {
    Settings s;
    s.errors[0] = rule(EIO, kOpWrite, 1000000, "/bad*");
    s.nerrors = 1;
    set(s);
    EXPECT_EQ(in_child([&] { return write_file(p("bad"), "x"); }), EIO);
    // What a writer killed with SIGKILL inside Control::write leaves behind, by hand: an odd
    // sequence, its (now dead) pid, half-written settings.
    pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ::waitpid(dead, nullptr, 0);
    Block* b = ctl_->block();
    b->seq.fetch_add(1);
    b->writer_pid.store(uint32_t(dead));
    std::memset(static_cast<void*>(&b->settings), 0x5a, sizeof(Settings) / 2);
    // Operations go on at once under the last good settings (before the fix every worker spun
    // on the odd sequence: the alarm ends a child stuck in the filesystem).
    auto bounded = [&](const std::string& name) {
        return in_child([&] {
            ::alarm(5);
            return write_file(p(name), "y");
        });
    };
    EXPECT_EQ(bounded("good"), 0);
    EXPECT_EQ(bounded("bad"), EIO);
    // The watcher takes the sequence over and publishes the last good settings again.
    auto until = Clock::now() + 3s;
    while ((b->seq.load() & 1) && Clock::now() < until) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(b->seq.load() % 2, 0u);
    EXPECT_EQ(b->counters.stuck_writers.load(), 1u);
    Settings now = ctl_->read();
    EXPECT_EQ(std::memcmp(&now, &s, sizeof(s)), 0);
    EXPECT_EQ(b->owner_pid.load(), uint32_t(::getpid()));
    // And the runner's next write goes through at once.
    set(Settings{});
    EXPECT_EQ(bounded("bad"), 0);
    EXPECT_EQ(slurp(p("bad")), "y");
}

}  // namespace
}  // namespace inj::faultfs
