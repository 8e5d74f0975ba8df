// The storage vocabulary without privilege: a degrade_storage fault turned into control
// settings, two faults on one volume merged, the control block's seqlock across two mappings,
// and the errno/operation names the plan uses.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "faultfs/control.hpp"
#include "storage/storage_engine.hpp"

using namespace std::chrono_literals;

namespace inj::storage {
namespace {

plan::StorageDegrade slow_and_failing() {
    plan::StorageDegrade sd;
    sd.volume = "data";
    sd.fsync = {40ms, 20ms};
    sd.write.fixed = 5ms;
    plan::StorageError e;
    e.errno_name = "EIO";
    e.err = EIO;
    e.probability = 0.2;
    e.ops = {"write", "fsync"};
    e.path = "member/wal/*";
    sd.errors.push_back(e);
    sd.write_bps = 1 << 20;
    return sd;
}

TEST(StorageSettings, AFaultBecomesControlSettings) {
    auto s = settings_of(slow_and_failing());
    EXPECT_EQ(s.latency[faultfs::kClassFsync].fixed_ns, 40'000'000u);
    EXPECT_EQ(s.latency[faultfs::kClassFsync].jitter_ns, 20'000'000u);
    EXPECT_EQ(s.latency[faultfs::kClassWrite].fixed_ns, 5'000'000u);
    EXPECT_EQ(s.latency[faultfs::kClassRead].fixed_ns, 0u);
    ASSERT_EQ(s.nerrors, 1u);
    EXPECT_EQ(s.errors[0].err, EIO);
    EXPECT_EQ(s.errors[0].ppm, 200000u);
    EXPECT_EQ(s.errors[0].ops, uint32_t(faultfs::kOpWrite | faultfs::kOpFsync));
    // Matched from the volume root, where the daemon's paths start.
    EXPECT_STREQ(s.errors[0].pattern, "/member/wal/*");
    EXPECT_EQ(s.write_bps, 1u << 20);
    EXPECT_EQ(s.flags, 0u);
}

TEST(StorageSettings, NoOperationsMeansEveryOperation) {
    plan::StorageDegrade sd;
    plan::StorageError e;
    e.err = ENOSPC;
    sd.errors.push_back(e);
    sd.full = true;
    sd.read_only = true;
    auto s = settings_of(sd);
    EXPECT_EQ(s.errors[0].ops, faultfs::kOpsAll);
    EXPECT_EQ(s.errors[0].ppm, 1000000u);
    EXPECT_EQ(s.errors[0].pattern[0], 0);
    EXPECT_EQ(s.flags, uint32_t(faultfs::kFlagFull | faultfs::kFlagReadOnly));
}

TEST(StorageSettings, MergeTakesTheHarsherOfTwoFaults) {
    auto a = settings_of(slow_and_failing());
    plan::StorageDegrade other;
    other.fsync.fixed = 100ms;
    other.read_only = true;
    other.write_bps = 4 << 20;  // milder than 1 MiB/s: the 1 MiB/s stays
    other.read_iops = 50;
    plan::StorageError e;
    e.err = EDQUOT;
    other.errors.push_back(e);
    merge(a, settings_of(other));
    EXPECT_EQ(a.latency[faultfs::kClassFsync].fixed_ns, 100'000'000u);
    EXPECT_EQ(a.latency[faultfs::kClassFsync].jitter_ns, 20'000'000u);
    EXPECT_EQ(a.nerrors, 2u);
    EXPECT_EQ(a.errors[1].err, EDQUOT);
    EXPECT_TRUE(a.flags & faultfs::kFlagReadOnly);
    EXPECT_EQ(a.write_bps, 1u << 20);
    EXPECT_EQ(a.read_iops, 50u);
}

TEST(StorageSettings, MergeNeverOverflowsTheRuleTable) {
    faultfs::Settings a;
    plan::StorageDegrade sd;
    for (int i = 0; i < faultfs::kMaxErrorRules; ++i) sd.errors.push_back({"EIO", EIO, 1.0, {}, "", {}});
    auto full = settings_of(sd);
    merge(a, full);
    merge(a, full);
    EXPECT_EQ(a.nerrors, uint32_t(faultfs::kMaxErrorRules));
}

TEST(StorageSettings, DescribeSaysWhatTheDiskDoes) {
    EXPECT_EQ(describe(slow_and_failing()),
              "latency write 5ms, fsync 40ms +-20ms; EIO p=0.2 on write/fsync at member/wal/*; limit write 1MiB/s");
}

TEST(StorageControl, SettingsWrittenInOneMappingAreReadInAnother) {
    std::string path = std::filesystem::temp_directory_path() / ("inj-ctl-" + std::to_string(::getpid()));
    auto w = faultfs::Control::create(path);
    ASSERT_TRUE(w.ok()) << w.error().message();
    auto r = faultfs::Control::open(path);
    ASSERT_TRUE(r.ok()) << r.error().message();
    uint64_t seq0 = 0;
    auto clear = r->read(&seq0);
    EXPECT_EQ(clear.nerrors, 0u);
    EXPECT_EQ(clear.flags, 0u);
    auto s = settings_of(slow_and_failing());
    w->write(s, 4242);
    uint64_t seq1 = 0;
    auto got = r->read(&seq1);
    EXPECT_EQ(seq1, seq0 + 2);
    EXPECT_EQ(std::memcmp(&got, &s, sizeof(s)), 0);
    EXPECT_EQ(r->block()->owner_pid.load(), 4242u);
    r->clear();
    EXPECT_EQ(w->read().nerrors, 0u);
    EXPECT_EQ(w->block()->owner_pid.load(), 0u);
    ::unlink(path.c_str());
}

TEST(StorageControl, ReadersNeverSeeAHalfWrittenSettings) {
    std::string path = std::filesystem::temp_directory_path() / ("inj-ctl2-" + std::to_string(::getpid()));
    auto w = faultfs::Control::create(path);
    ASSERT_TRUE(w.ok());
    auto r = faultfs::Control::open(path);
    ASSERT_TRUE(r.ok());
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (uint64_t i = 1; !stop.load(); ++i) {
            faultfs::Settings s;
            s.read_bps = s.write_bps = s.read_iops = s.write_iops = i;  // all four equal in every version
            w->write(s, 1);
        }
    });
    int torn = 0;
    for (int i = 0; i < 200000; ++i) {
        auto s = r->read();
        if (s.read_bps != s.write_bps || s.read_bps != s.read_iops || s.read_bps != s.write_iops) ++torn;
    }
    stop = true;
    writer.join();
    EXPECT_EQ(torn, 0);
    ::unlink(path.c_str());
}

TEST(StorageControl, NotAControlFileIsRefused) {
    std::string path = std::filesystem::temp_directory_path() / ("inj-ctl3-" + std::to_string(::getpid()));
    { std::ofstream(path) << std::string(4096, 'x'); }
    auto r = faultfs::Control::open(path);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("not a faultfs control file"), std::string::npos) << r.error().message();
    ::unlink(path.c_str());
}

TEST(StorageNames, ErrnosAndOperations) {
    EXPECT_EQ(faultfs::errno_by_name("EIO"), EIO);
    EXPECT_EQ(faultfs::errno_by_name("EDQUOT"), EDQUOT);
    EXPECT_EQ(faultfs::errno_by_name("eio"), 0);
    EXPECT_EQ(faultfs::errno_by_name("EWHATEVER"), 0);
    EXPECT_EQ(faultfs::errno_name(ENOSPC), "ENOSPC");
    EXPECT_EQ(faultfs::ops_by_name("metadata") & faultfs::kOpRead, 0u);
    EXPECT_NE(faultfs::ops_by_name("metadata") & faultfs::kOpRename, 0u);
    EXPECT_EQ(faultfs::ops_by_name("all"), faultfs::kOpsAll);
    EXPECT_EQ(faultfs::ops_by_name("open"), uint32_t(faultfs::kOpOpen));
    EXPECT_EQ(faultfs::ops_by_name("scribble"), 0u);
    EXPECT_EQ(faultfs::class_of(faultfs::kOpFsync), faultfs::kClassFsync);
    EXPECT_EQ(faultfs::class_of(faultfs::kOpUnlink), faultfs::kClassMetadata);
}

}  // namespace
}  // namespace inj::storage
