// Crash points on a real mount: a power loss placed at an operation a program performs, driven as
// the runner drives it (arm, wait until it fired, kill the program, power back on). The bug class
// it exists for: a program that replaces a file by writing a temporary, fsyncing it and renaming
// it over the old one, without fsyncing the directory, loses the new name at a power loss right
// after the rename (metadata: volatile) — and the lost account says which name and which fsync.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "faultfs/crash_point.hpp"
#include "faultfs/lost_report.hpp"
#include "support/faultfs_fixture.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace inj::faultfs::test;

namespace inj::faultfs {
namespace {

class FaultfsCrashTest : public FaultfsTest {
protected:
    void TearDown() override {
        if (child_ > 0) {
            ::kill(child_, SIGKILL);
            ::waitpid(child_, nullptr, 0);
        }
        FaultfsTest::TearDown();
    }
    // Starts `fn` in a child (the program under test); its exit code comes from finish().
    void launch(const std::function<int()>& fn) {
        child_ = ::fork();
        if (child_ == 0) ::_exit(fn());
    }
    // The power cut takes the program: killed if it still runs; its exit code, or -signal.
    int finish() {
        ::kill(child_, SIGKILL);
        int st = 0;
        ::waitpid(child_, &st, 0);
        child_ = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    }
    // Waits for the program to exit by itself (bounded), then as finish().
    int await_exit() {
        for (int i = 0; i < 500; ++i) {
            int st = 0;
            if (::waitpid(child_, &st, WNOHANG) == child_) {
                child_ = 0;
                return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
            }
            std::this_thread::sleep_for(10ms);
        }
        return finish();
    }
    Settings volatile_metadata() {
        Loss loss;
        loss.metadata_volatile = true;
        Settings s;
        to_settings(loss, s);
        return s;
    }
    // The replace-by-rename program: new content to a temporary, fsynced, renamed over `current`;
    // the directory fsynced only when asked. Then one more entry, which must fail once the
    // power is gone. 0: everything as expected; else the step that was not.
    int replace(bool fsync_directory) {
        if (int e = write_file(p("data/current.tmp"), "version 2", 0, true)) return 10 + e % 10;
        if (::rename(p("data/current.tmp").c_str(), p("data/current").c_str()) != 0) return 20;
        if (fsync_directory && fsync_dir(p("data")) != 0) return 30;
        int fd = ::open(p("data/after-the-cut").c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0 || errno != EIO) return 40;  // the disk has no power any more
        return 0;
    }
    void prepare_current() {
        fs::create_directories(p("data"));
        ASSERT_EQ(write_file(p("data/current"), "version 1", 0, true), 0);
        ASSERT_EQ(fsync_dir(p("data")), 0);
        ASSERT_EQ(fsync_dir(vol_), 0);
    }
    std::string control() const { return (base_ / "ctl").string(); }

    pid_t child_ = 0;
};

TEST_F(FaultfsCrashTest, ARenameWithoutADirectoryFsyncLosesTheNewNameAtACrashPointJustAfterIt) {
    prepare_current();
    auto arm = arm_crash(*ctl_, volatile_metadata(), {"rename", "data/current", 1, true}, uint32_t(::getpid()));
    ASSERT_TRUE(arm) << arm.error().message();
    launch([&] { return replace(false); });
    auto fired = wait_crash(*ctl_, *arm, 10s);
    ASSERT_TRUE(fired) << fired.error().message();
    EXPECT_EQ(fired->op, "rename");
    EXPECT_EQ(fired->path, "/data/current");  // matched on the destination
    EXPECT_EQ(fired->nth, 1u);
    EXPECT_TRUE(fired->after);
    EXPECT_GE(fired->applied_ns, fired->monotonic_ns);
    std::printf("  crash point: loss applied %.3f ms after the rename matched\n",
                double(fired->applied_ns - fired->monotonic_ns) / 1e6);
    EXPECT_EQ(await_exit(), 0);  // the rename succeeded, the next operation found no power
    // The runner's own power loss, after the crash point: nothing more to lose, the account stays.
    ASSERT_TRUE(ctl_->drop_volatile(2000ms));
    // Without power every operation fails, from any process.
    struct stat st;
    EXPECT_NE(::stat(p("data/current").c_str(), &st), 0);
    EXPECT_EQ(errno, EIO);
    disarm_crash(*ctl_, uint32_t(::getpid()));
    // The new name is lost: the old file is back under it, the temporary never existed.
    EXPECT_EQ(slurp(p("data/current")), "version 1");
    EXPECT_FALSE(fs::exists(p("data/current.tmp")));
    EXPECT_FALSE(fs::exists(p("data/after-the-cut")));
    // The account says what was lost and which fsync was missing.
    auto lost = read_lost_report(control());
    ASSERT_TRUE(lost) << lost.error().message();
    ASSERT_TRUE(lost->has_value());
    const LostReport& r = **lost;
    EXPECT_EQ(r.trigger.kind, "crash point");
    EXPECT_EQ(r.trigger.operation, "rename");
    EXPECT_EQ(r.trigger.when, "after");
    EXPECT_EQ(r.metadata, "volatile");
    bool rename_named = false, create_named = false;
    for (const LostEntry& e : r.entries) {
        if (e.operation == "rename" && e.path == "/data/current.tmp -> /data/current") {
            rename_named = true;
            EXPECT_EQ(e.missing, "fsync of directory /data");
        }
        if (e.operation == "create" && e.path == "/data/current.tmp") create_named = true;
    }
    EXPECT_TRUE(rename_named && create_named) << to_json(r).dump(2);
    for (auto& line : summarize(r, "vol")) std::printf("  %s\n", line.c_str());
}

TEST_F(FaultfsCrashTest, TheSameReplaceWithTheDirectoryFsyncKeepsTheNewName) {
    prepare_current();
    auto arm = arm_crash(*ctl_, volatile_metadata(), {"fsync", "/data", 1, true}, uint32_t(::getpid()));
    ASSERT_TRUE(arm) << arm.error().message();
    launch([&] { return replace(true); });
    auto fired = wait_crash(*ctl_, *arm, 10s);
    ASSERT_TRUE(fired) << fired.error().message();
    EXPECT_EQ(fired->op, "fsync");
    EXPECT_EQ(fired->path, "/data");
    EXPECT_EQ(await_exit(), 0);
    disarm_crash(*ctl_, uint32_t(::getpid()));
    EXPECT_EQ(slurp(p("data/current")), "version 2");
    EXPECT_FALSE(fs::exists(p("data/current.tmp")));
    auto lost = read_lost_report(control());
    ASSERT_TRUE(lost && lost->has_value());
    EXPECT_TRUE((*lost)->entries.empty()) << to_json(**lost).dump(2);
}

// Durable writes (O_DSYNC) to a log, with writes to another file between them: a crash point
// before the 3rd write to the log loses that write (2 records survive, the program saw 2 succeed);
// after it, the 3rd completes and is durable (3 records) but the program never sees it succeed:
// for O_DSYNC the kernel follows the write with an fsync, which finds the volume without power
// (a write that reached the disk unacknowledged, as a real power loss leaves it).
class FaultfsCrashWhenTest : public FaultfsCrashTest, public ::testing::WithParamInterface<bool> {};

TEST_P(FaultfsCrashWhenTest, BeforeLosesTheOperationAfterKeepsIt) {
    bool after = GetParam();
    ASSERT_EQ(write_file(p("log"), "", 0, true), 0);
    ASSERT_EQ(write_file(p("other"), "", 0, true), 0);
    Settings s;
    to_settings(Loss{}, s);
    auto arm = arm_crash(*ctl_, s, {"write", "/log", 3, after}, uint32_t(::getpid()));
    ASSERT_TRUE(arm) << arm.error().message();
    launch([&] {
        int log = ::open(p("log").c_str(), O_WRONLY | O_DSYNC);
        int other = ::open(p("other").c_str(), O_WRONLY);
        int ok = 0;
        for (int i = 1; i <= 5; ++i) {
            std::string rec = "record " + std::to_string(i) + "\n";
            if (::write(other, "x", 1) != 1) break;  // not the log: never counted
            if (::write(log, rec.data(), rec.size()) != ssize_t(rec.size())) break;
            ++ok;
        }
        return ok;
    });
    auto fired = wait_crash(*ctl_, *arm, 10s);
    ASSERT_TRUE(fired) << fired.error().message();
    EXPECT_EQ(fired->op, "write");
    EXPECT_EQ(fired->nth, 3u);
    EXPECT_EQ(fired->after, after);
    int acknowledged = await_exit();
    disarm_crash(*ctl_, uint32_t(::getpid()));
    std::string want = "record 1\nrecord 2\n";
    if (after) want += "record 3\n";
    EXPECT_EQ(acknowledged, 2);
    EXPECT_EQ(slurp(p("log")), want);
    // The writes to the other file were never synced: lost, and named.
    EXPECT_EQ(slurp(p("other")), "");
    auto lost = read_lost_report(control());
    ASSERT_TRUE(lost && lost->has_value());
    bool other_named = false;
    for (const LostFile& f : (*lost)->files)
        if (f.path == "/other") {
            other_named = true;
            EXPECT_EQ(f.bytes_lost, 3u);  // one byte before each of the first 3 log writes
            EXPECT_EQ(f.missing, "fsync of /other");
            EXPECT_NE(f.reason.find("no fsync of /other after them (its last fsync was "), std::string::npos)
                << f.reason;
        }
    EXPECT_TRUE(other_named) << to_json(**lost).dump(2);
}

INSTANTIATE_TEST_SUITE_P(When, FaultfsCrashWhenTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("after") : std::string("before"); });

TEST_F(FaultfsCrashTest, ReArmingPowersTheVolumeOnAndCountsAgain) {
    ASSERT_EQ(write_file(p("f"), "", 0, true), 0);
    Settings s;
    to_settings(Loss{}, s);
    auto first = arm_crash(*ctl_, s, {"fsync", "/f", 1, false}, uint32_t(::getpid()));
    ASSERT_TRUE(first);
    EXPECT_EQ(in_child([&] { return write_file(p("f"), "a", 0, true); }), EIO);  // fsync refused: fired
    ASSERT_TRUE(wait_crash(*ctl_, *first, 5s));
    EXPECT_EQ(in_child([&] { return write_file(p("g"), "b"); }), EIO);  // no power
    auto second = arm_crash(*ctl_, s, {"fsync", "/f", 2, false}, uint32_t(::getpid()));
    ASSERT_TRUE(second);
    EXPECT_EQ(in_child([&] { return write_file(p("f"), "c", 0, true); }), 0);  // 1st of the new arming
    // 2nd: fires before the fsync. Written in place (O_TRUNC would truncate at once: a
    // truncation is metadata, durable as a journalling filesystem commits it).
    EXPECT_EQ(in_child([&] {
                  int fd = ::open(p("f").c_str(), O_WRONLY);
                  if (fd < 0 || ::write(fd, "d", 1) != 1) return 1;
                  return ::fsync(fd) == 0 ? 0 : errno;
              }),
              EIO);
    auto f2 = wait_crash(*ctl_, *second, 5s);
    ASSERT_TRUE(f2) << f2.error().message();
    EXPECT_EQ(f2->nth, 2u);
    disarm_crash(*ctl_, uint32_t(::getpid()));
    EXPECT_EQ(slurp(p("f")), "c");  // the 2nd arming's first fsync made "c" durable; "d" never was
    EXPECT_GE(ctl_->block()->counters.crash_matches.load(), 3u);
}

}  // namespace
}  // namespace inj::faultfs
