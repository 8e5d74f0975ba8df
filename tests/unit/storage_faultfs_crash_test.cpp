// Crash points' rule and matching (glob, operation, nth per arming) and the runner's side of the
// control block (arm, fired, wait), without a daemon: the daemon's record is written by hand as
// the daemon writes it (crash.cpp), the privileged tests drive the real one.
#include <gtest/gtest.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "faultfs/crash_point.hpp"

using namespace std::chrono_literals;

namespace inj::faultfs {
namespace {

CrashPoint point(const std::string& op, const std::string& path, uint32_t nth = 1, bool after = false) {
    auto c = to_crash_point({op, path, nth, after});
    EXPECT_TRUE(c.ok()) << c.error().message();
    return c.ok() ? *c : CrashPoint{};
}

TEST(CrashPointRule, GlobsMatchPathsInsideTheVolume) {
    CrashPoint c = point("fsync", "/member/wal/*.wal");
    EXPECT_TRUE(crash_matches(c, kOpFsync, "/member/wal/0000.wal"));
    EXPECT_FALSE(crash_matches(c, kOpFsync, "/member/snap/db"));
    EXPECT_FALSE(crash_matches(c, kOpFsync, "/member/wal/0000.tmp"));
    EXPECT_FALSE(crash_matches(c, kOpWrite, "/member/wal/0000.wal"));  // another operation
    // '*' crosses '/' (fnmatch without FNM_PATHNAME), as the error rules' patterns do.
    EXPECT_TRUE(crash_matches(point("rename", "/data/*"), kOpRename, "/data/sub/x"));
    // A glob without a leading '/' is taken from the volume's root.
    CrashPoint rel = point("fsync", "member/wal/*");
    EXPECT_STREQ(rel.pattern, "/member/wal/*");
    EXPECT_TRUE(crash_matches(rel, kOpFsync, "/member/wal/1.wal"));
    EXPECT_STREQ(point("write", "*.log").pattern, "*.log");
    // No glob: every path.
    EXPECT_TRUE(crash_matches(point("write", ""), kOpWrite, "/anything"));
}

TEST(CrashPointRule, ClassesAndSingleOperations) {
    CrashPoint meta = point("metadata", "/d/*");
    for (uint32_t op : {kOpRename, kOpUnlink, kOpCreate, kOpMkdir}) EXPECT_TRUE(crash_matches(meta, op, "/d/x")) << op;
    EXPECT_FALSE(crash_matches(meta, kOpWrite, "/d/x"));
    EXPECT_FALSE(crash_matches(meta, kOpFsync, "/d/x"));
    CrashPoint all = point("all", "");
    EXPECT_TRUE(crash_matches(all, kOpRead, "/x"));
    EXPECT_TRUE(crash_matches(all, kOpFsync, "/x"));
    EXPECT_EQ(point("rename", "").ops, uint32_t(kOpRename));
    EXPECT_STREQ(op_name(kOpRename), "rename");
    EXPECT_STREQ(op_name(kOpFsync), "fsync");
}

TEST(CrashPointRule, BadRulesNameTheirField) {
    auto op = to_crash_point({"fsnyc", "/x", 1, false});
    ASSERT_FALSE(op.ok());
    EXPECT_NE(op.error().message().find("op: unknown operation 'fsnyc'"), std::string::npos) << op.error().message();
    auto nth = to_crash_point({"fsync", "/x", 0, false});
    ASSERT_FALSE(nth.ok());
    EXPECT_NE(nth.error().message().find("nth:"), std::string::npos) << nth.error().message();
    auto path = to_crash_point({"fsync", "/" + std::string(200, 'a'), 1, false});
    ASSERT_FALSE(path.ok());
    EXPECT_NE(path.error().message().find("path: longer than 111 bytes"), std::string::npos) << path.error().message();
    EXPECT_TRUE(to_crash_point({"fsync", "/" + std::string(110, 'a'), 1, false}).ok());
}

TEST(CrashPointNth, FiresExactlyOnceAtTheNthMatchOfAnArming) {
    NthCounter n;
    std::vector<bool> hits;
    for (int i = 0; i < 6; ++i) hits.push_back(n.hit(7, 3));
    EXPECT_EQ(hits, (std::vector<bool>{false, false, true, false, false, false}));
    uint32_t count = 0;
    EXPECT_FALSE(n.hit(7, 3, &count));
    EXPECT_EQ(count, 7u);
    // A new arming counts from zero again.
    EXPECT_TRUE(n.hit(8, 1, &count));
    EXPECT_EQ(count, 1u);
    EXPECT_FALSE(n.hit(8, 1));
}

TEST(CrashPointNth, ConcurrentMatchesFireOnce) {
    NthCounter n;
    std::atomic<int> fired{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 1000; ++i)
                if (n.hit(1, 2500)) fired.fetch_add(1);
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(fired.load(), 1);
}

class CrashControlTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() / ("inj-ctl-crash-" + std::to_string(::getpid()));
        auto c = Control::create(path_);
        ASSERT_TRUE(c.ok()) << c.error().message();
        ctl_.emplace(std::move(*c));
        ctl_->block()->state.store(uint32_t(DaemonState::serving));
    }
    void TearDown() override { ::unlink(path_.c_str()); }
    // What the daemon writes when arming `arm` fires (crash.cpp), the loss applied.
    void daemon_fires(uint32_t arm, const char* path) {
        Fired& f = ctl_->block()->fired;
        f.op = kOpRename;
        f.nth = 2;
        f.after = 1;
        f.monotonic_ns = 1000;
        std::strcpy(f.path, path);
        f.arm.store(arm);
        f.applied_ns = 5000;
        f.applied.store(arm);
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&f.applied), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }
    std::string path_;
    std::optional<Control> ctl_;
};

TEST_F(CrashControlTest, ArmingPublishesTheRuleWithAFreshIdAndKeepsTheOtherSettings) {
    Settings s;
    s.flags = kFlagVolatile | kFlagMetadataVolatile;
    auto id = arm_crash(*ctl_, s, {"rename", "/data/*", 2, true}, 42);
    ASSERT_TRUE(id.ok()) << id.error().message();
    Settings got = ctl_->read();
    EXPECT_EQ(got.flags, s.flags);
    EXPECT_EQ(got.crash.arm, *id);
    EXPECT_EQ(got.crash.ops, uint32_t(kOpRename));
    EXPECT_EQ(got.crash.nth, 2u);
    EXPECT_EQ(got.crash.after, 1u);
    EXPECT_STREQ(got.crash.pattern, "/data/*");
    EXPECT_EQ(ctl_->block()->owner_pid.load(), 42u);
    // Ids never repeat, even past one that fired.
    daemon_fires(*id, "/data/x");
    auto id2 = arm_crash(*ctl_, s, {"fsync", "", 1, false}, 42);
    ASSERT_TRUE(id2.ok());
    EXPECT_GT(*id2, *id);
    EXPECT_FALSE(crash_fired(*ctl_, *id2).has_value());  // the old record does not answer the new arming
    disarm_crash(*ctl_, 42);
    EXPECT_EQ(ctl_->read().crash.ops, 0u);
    EXPECT_EQ(ctl_->read().flags, s.flags);
    // A bad rule publishes nothing.
    EXPECT_FALSE(arm_crash(*ctl_, s, {"nope", "", 1, false}, 42).ok());
    EXPECT_EQ(ctl_->read().crash.ops, 0u);
}

TEST_F(CrashControlTest, WaitReturnsWhatFiredOnceTheLossIsApplied) {
    auto id = arm_crash(*ctl_, Settings{}, {"rename", "/data/*", 2, true}, 42);
    ASSERT_TRUE(id.ok());
    EXPECT_FALSE(crash_fired(*ctl_, *id).has_value());
    auto late = wait_crash(*ctl_, *id, 100ms);
    ASSERT_FALSE(late.ok());
    EXPECT_NE(late.error().message().find("did not fire within 100 ms"), std::string::npos);
    std::thread daemon([&] {
        std::this_thread::sleep_for(100ms);
        daemon_fires(*id, "/data/current");
    });
    auto t0 = std::chrono::steady_clock::now();
    auto f = wait_crash(*ctl_, *id, 5s);
    auto waited = std::chrono::steady_clock::now() - t0;
    daemon.join();
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(f->op, "rename");
    EXPECT_EQ(f->path, "/data/current");
    EXPECT_EQ(f->nth, 2u);
    EXPECT_TRUE(f->after);
    EXPECT_EQ(f->applied_ns - f->monotonic_ns, 4000u);
    EXPECT_LT(waited, 2s);
    // A daemon that stopped serving ends the wait with an error, not a timeout.
    ctl_->block()->state.store(uint32_t(DaemonState::stopped));
    auto gone = wait_crash(*ctl_, *id + 1, 5s);
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.error().message().find("not serving"), std::string::npos);
}

}  // namespace
}  // namespace inj::faultfs
