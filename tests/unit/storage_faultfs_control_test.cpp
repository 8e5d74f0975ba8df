// The control block's seqlock survives a writer killed inside it: the sequence is left odd, and
// readers and the next writer take it over once that writer is gone, instead of spinning forever.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>

#include "faultfs/control.hpp"

using namespace std::chrono_literals;

namespace inj::faultfs {
namespace {

// A pid that is certainly gone: a child that exited and was reaped.
pid_t dead_pid() {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    return pid;
}

class ControlTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() / ("inj-ctl-stuck-" + std::to_string(::getpid()));
        auto c = Control::create(path_);
        ASSERT_TRUE(c.ok()) << c.error().message();
        ctl_.emplace(std::move(*c));
    }
    void TearDown() override { ::unlink(path_.c_str()); }
    // What a writer killed inside write() leaves: an odd sequence, its pid, half the settings.
    void die_inside(uint32_t pid) {
        Block* b = ctl_->block();
        b->seq.fetch_add(1);
        b->writer_pid.store(pid);
        std::memset(static_cast<void*>(&b->settings), 0x5a, sizeof(Settings) / 2);
    }
    std::string path_;
    std::optional<Control> ctl_;
};

TEST_F(ControlTest, TheNextWriterTakesOverASequenceLeftOddByADeadWriter) {
    Settings s;
    s.nerrors = 1;
    s.errors[0].err = 5;
    die_inside(uint32_t(dead_pid()));
    // Bounded: before the fix this write spun forever (the future would never be ready).
    auto w = std::async(std::launch::async, [&] { ctl_->write(s, 77); });
    ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
    uint64_t seq = 1;
    Settings got;
    ASSERT_TRUE(ctl_->try_read(got, &seq));
    EXPECT_EQ(seq % 2, 0u);
    EXPECT_EQ(std::memcmp(&got, &s, sizeof(s)), 0);
    EXPECT_EQ(ctl_->block()->owner_pid.load(), 77u);
    EXPECT_EQ(ctl_->block()->writer_pid.load(), 0u);
    EXPECT_EQ(ctl_->block()->counters.stuck_writers.load(), 1u);
}

TEST_F(ControlTest, AReaderVoidsTheHalfWrittenSettingsOfADeadWriter) {
    die_inside(0);  // killed before it could even name itself
    auto r = std::async(std::launch::async, [&] { return ctl_->read(); });
    ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
    Settings got = r.get();
    Settings none;
    EXPECT_EQ(std::memcmp(&got, &none, sizeof(got)), 0);  // cleared, not the 0x5a garbage
}

TEST_F(ControlTest, ALiveWriterInsideIsWaitedForNotTakenOver) {
    die_inside(uint32_t(::getpid()));  // "inside" and alive: this process
    Settings got;
    EXPECT_FALSE(ctl_->try_read(got));
    auto w = std::async(std::launch::async, [&] { ctl_->write(Settings{}, 1); });
    EXPECT_EQ(w.wait_for(300ms), std::future_status::timeout);  // well past kStuckWriter
    // The live writer finishes: the waiting one goes on.
    ctl_->block()->writer_pid.store(0);
    ctl_->block()->seq.fetch_add(1);
    ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(ctl_->block()->counters.stuck_writers.load(), 0u);
}

}  // namespace
}  // namespace inj::faultfs

namespace inj::faultfs {
namespace {

TEST(LossSettings, EachModelMapsOntoTheControlBlock) {
    Loss l;
    Settings s;
    to_settings(l, s);
    EXPECT_EQ(s.flags, uint32_t(kFlagVolatile));
    EXPECT_EQ(s.loss_model, uint32_t(kLossUnsynced));
    EXPECT_EQ(s.writeback_ns, 0u);

    ASSERT_TRUE(loss_model_by_name("torn", l.model));
    l.torn_sectors = 16;
    l.metadata_volatile = true;
    l.writeback = std::chrono::seconds(30);
    l.seed = 7;
    s = Settings{};
    to_settings(l, s);
    EXPECT_EQ(s.flags, uint32_t(kFlagVolatile | kFlagMetadataVolatile));
    EXPECT_EQ(s.loss_model, uint32_t(kLossTorn));
    EXPECT_EQ(s.torn_sectors, 16u);
    EXPECT_EQ(s.writeback_ns, 30'000'000'000u);
    EXPECT_EQ(s.loss_seed, 7u);
    l.torn_pages = true;
    to_settings(l, s);
    EXPECT_EQ(s.torn_sectors, 0u);  // 0: a random subset of pages

    ASSERT_TRUE(loss_model_by_name("reorder", l.model));
    l.survive = 0.25;
    to_settings(l, s);
    EXPECT_EQ(s.loss_model, uint32_t(kLossReorder));
    EXPECT_EQ(s.survive_ppm, 250000u);
    EXPECT_FALSE(loss_model_by_name("fsync", l.model));
    EXPECT_EQ(lost_path("/run/x/ctl"), "/run/x/ctl.lost.json");
}

}  // namespace
}  // namespace inj::faultfs
