// Loss models of a volatile volume, proved byte for byte on real files after a power cut driven
// through the control block: torn writes (a prefix in sectors, or a subset of pages), reordered
// writes (any subset survives), the kernel's writeback of old dirty data, and the account of
// what each cut threw away (the lost file next to the control file names the file).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/faultfs_fixture.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace inj::faultfs::test;

namespace inj::faultfs {
namespace {

class FaultfsLossTest : public FaultfsTest {
protected:
    // `name` made durable with `old`, then volatile mode with `loss` armed.
    void arm(const std::string& name, const std::string& old, const Loss& loss) {
        ASSERT_EQ(write_file(p(name), old, 0, true), 0);
        Settings s;
        to_settings(loss, s);
        set(s);
    }
    void pwrite_all(const std::string& name, const std::vector<std::pair<size_t, std::string>>& writes) {
        int fd = ::open(p(name).c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        for (auto& [off, data] : writes)
            ASSERT_EQ(::pwrite(fd, data.data(), data.size(), off_t(off)), ssize_t(data.size()));
        ::close(fd);
    }
    void cut() {
        auto d = ctl_->drop_volatile(2000ms);
        ASSERT_TRUE(d) << d.error().message();
    }
    nlohmann::json lost() {
        std::ifstream in(lost_path((base_ / "ctl").string()));
        EXPECT_TRUE(in.good()) << "no lost account";
        return in.good() ? nlohmann::json::parse(in) : nlohmann::json{};
    }
    const nlohmann::json* lost_file(const nlohmann::json& j, const std::string& path) {
        for (auto& f : j["files"])
            if (f["path"] == path) return &f;
        return nullptr;
    }
};

TEST_F(FaultfsLossTest, TornWritesLeaveAPrefixOfAtMostTheBoundInSectors) {
    const std::string old = random_bytes(64 * 1024, 11), neu = random_bytes(64 * 1024, 12);
    Loss loss;
    loss.model = Loss::Model::torn;
    loss.torn_sectors = 8;  // 4 KiB at most of each 16 KiB write
    loss.seed = 42;
    arm("torn.bin", old, loss);
    std::vector<std::pair<size_t, std::string>> w;
    for (size_t i = 0; i < 4; ++i) w.push_back({i * 16384, neu.substr(i * 16384, 16384)});
    pwrite_all("torn.bin", w);
    EXPECT_TRUE(slurp(p("torn.bin")) == neu);  // held writes are served before the cut
    cut();
    std::string got = slurp(p("torn.bin"));
    ASSERT_EQ(got.size(), old.size());
    uint64_t kept = 0;
    for (size_t i = 0; i < 4; ++i) {
        size_t base = i * 16384;
        // The region is neu[0, k) + old[k, 16 KiB) for some k, a multiple of 512 up to 4096.
        bool found = false;
        for (size_t k = 0; k <= 4096 && !found; k += 512)
            if (got.compare(base, k, neu, base, k) == 0 &&
                got.compare(base + k, 16384 - k, old, base + k, 16384 - k) == 0) {
                found = true;
                kept += k;
            }
        EXPECT_TRUE(found) << "write " << i << " is not a sector prefix over the old data";
    }
    EXPECT_GT(kept, 0u);  // seed 42: some prefix reached the disk
    auto j = lost();
    EXPECT_EQ(j["model"], "torn");
    auto* f = lost_file(j, "/torn.bin");
    ASSERT_NE(f, nullptr) << j.dump();
    EXPECT_EQ((*f)["writes"], 4);
    EXPECT_EQ((*f)["bytes_kept"], kept);
    EXPECT_EQ((*f)["bytes_lost"], 65536 - kept);
}

TEST_F(FaultfsLossTest, TornPagesLeaveARandomSubsetOfEachWritesPages) {
    const std::string old = random_bytes(64 * 1024, 13), neu = random_bytes(64 * 1024, 14);
    Loss loss;
    loss.model = Loss::Model::torn;
    loss.torn_pages = true;
    loss.seed = 7;
    arm("pages.bin", old, loss);
    pwrite_all("pages.bin", {{0, neu}});
    cut();
    std::string got = slurp(p("pages.bin"));
    ASSERT_EQ(got.size(), old.size());
    int new_pages = 0;
    for (size_t pg = 0; pg < 16; ++pg) {
        bool is_new = got.compare(pg * 4096, 4096, neu, pg * 4096, 4096) == 0;
        bool is_old = got.compare(pg * 4096, 4096, old, pg * 4096, 4096) == 0;
        EXPECT_TRUE(is_new || is_old) << "page " << pg << " is neither the old nor the new content";
        new_pages += is_new;
    }
    EXPECT_GT(new_pages, 0);
    EXPECT_LT(new_pages, 16);
}

TEST_F(FaultfsLossTest, ReorderKeepsAnArbitrarySubsetOfTheUnsyncedWrites) {
    const std::string old = random_bytes(256 * 1024, 15), neu = random_bytes(256 * 1024, 16);
    auto run_with = [&](double survive, const std::string& name) {
        Loss loss;
        loss.model = Loss::Model::reorder;
        loss.survive = survive;
        loss.seed = 99;
        arm(name, old, loss);
        // 64 writes of one page each, in a shuffled order, none fsynced.
        std::vector<std::pair<size_t, std::string>> w;
        for (size_t i = 0; i < 64; ++i) {
            size_t pg = (i * 37) % 64;
            w.push_back({pg * 4096, neu.substr(pg * 4096, 4096)});
        }
        pwrite_all(name, w);
        cut();
        std::string got = slurp(p(name));
        EXPECT_EQ(got.size(), old.size());
        std::vector<bool> is_new(64);
        int n = 0;
        for (size_t pg = 0; pg < 64; ++pg) {
            is_new[pg] = got.compare(pg * 4096, 4096, neu, pg * 4096, 4096) == 0;
            EXPECT_TRUE(is_new[pg] || got.compare(pg * 4096, 4096, old, pg * 4096, 4096) == 0)
                << name << " page " << pg;
            n += is_new[pg];
        }
        return std::make_pair(n, is_new);
    };
    EXPECT_EQ(run_with(1.0, "all.bin").first, 64);
    EXPECT_EQ(run_with(0.0, "none.bin").first, 0);
    auto [n, pages] = run_with(0.5, "some.bin");
    EXPECT_GT(n, 0);
    EXPECT_LT(n, 64);
    // Not a prefix in time: some page written later survived while an earlier one was lost.
    bool out_of_order = false, lost_earlier = false;
    for (size_t i = 0; i < 64; ++i) {
        size_t pg = (i * 37) % 64;
        if (!pages[pg])
            lost_earlier = true;
        else if (lost_earlier)
            out_of_order = true;
    }
    EXPECT_TRUE(out_of_order);
}

TEST_F(FaultfsLossTest, WritebackMakesDataOlderThanTheAgeDurableWithoutFsync) {
    Loss loss;
    loss.writeback = 300ms;
    arm("seed", "x", loss);
    const std::string early = random_bytes(20000, 17), late = random_bytes(20000, 18);
    ASSERT_EQ(in_child([&] { return write_file(p("early"), early); }), 0);
    std::this_thread::sleep_for(700ms);  // past the age and a watcher tick: written back
    ASSERT_EQ(in_child([&] { return write_file(p("late"), late); }), 0);
    cut();
    EXPECT_TRUE(slurp(p("early")) == early);
    EXPECT_EQ(slurp(p("late")).size(), 0u);  // younger than the age: lost
    auto j = lost();
    EXPECT_EQ(lost_file(j, "/early"), nullptr);
    auto* f = lost_file(j, "/late");
    ASSERT_NE(f, nullptr) << j.dump();
    EXPECT_EQ((*f)["bytes_lost"], 20000);
}

TEST_F(FaultfsLossTest, TheLostAccountNamesEveryFileAndItsLostBytes) {
    arm("kept", "durable", Loss{});
    ASSERT_EQ(in_child([&] { return write_file(p("kept"), "synced", 0, true); }), 0);
    fs::create_directories(p("wal"));
    ASSERT_EQ(in_child([&] { return write_file(p("wal/0001.log"), random_bytes(12345, 19)); }), 0);
    cut();
    auto j = lost();
    EXPECT_EQ(j["model"], "unsynced");
    EXPECT_EQ(j["cut"], 1);
    ASSERT_EQ(j["files"].size(), 1u) << j.dump();
    auto* f = lost_file(j, "/wal/0001.log");
    ASSERT_NE(f, nullptr) << j.dump();
    EXPECT_EQ((*f)["writes"], 1);
    EXPECT_EQ((*f)["bytes_lost"], 12345);
    EXPECT_EQ(slurp(p("kept")), "synced");
    EXPECT_EQ(ctl_->block()->counters.lost_reports.load(), 1u);
}

// With a writeback age, entry operations older than it are durable too (the journal commits them
// in the background): "never fsync the directory" is not "lose every new name".
TEST_F(FaultfsLossTest, WritebackMakesOldEntryOperationsDurableWithVolatileMetadata) {
    Loss loss;
    loss.metadata_volatile = true;
    loss.writeback = 300ms;
    arm("seed", "x", loss);
    ASSERT_EQ(in_child([&] { return write_file(p("early"), "early data"); }), 0);
    std::this_thread::sleep_for(700ms);  // past the age and a watcher tick
    ASSERT_EQ(in_child([&] { return write_file(p("late"), "late data"); }), 0);
    cut();
    EXPECT_EQ(slurp(p("early")), "early data");
    EXPECT_FALSE(fs::exists(p("late")));
    auto entries = lost()["entries"].dump();
    EXPECT_NE(entries.find("/late"), std::string::npos) << entries;
    EXPECT_EQ(entries.find("/early"), std::string::npos) << entries;
}

TEST_F(FaultfsLossTest, VolatileMetadataLosesEntriesNoDirectoryFsyncMadeDurable) {
    fs::create_directories(p("d"));
    ASSERT_EQ(write_file(p("d/old"), "old content", 0, true), 0);
    ASSERT_EQ(write_file(p("d/victim"), "victim content", 0, true), 0);
    ASSERT_EQ(write_file(p("d/target"), "target v1", 0, true), 0);
    ASSERT_EQ(fsync_dir(p("d")), 0);
    Loss loss;
    loss.metadata_volatile = true;
    arm("seed", "x", loss);
    // Made durable: file data and its directory.
    ASSERT_EQ(write_file(p("d/synced"), "synced content", 0, true), 0);
    ASSERT_EQ(fsync_dir(p("d")), 0);
    // Not made durable: each entry change below has no fsync of its directory after it.
    ASSERT_EQ(write_file(p("d/new"), "new content", 0, true), 0);  // the file's fsync is not enough
    fs::rename(p("d/old"), p("d/renamed"));
    fs::remove(p("d/victim"));
    ASSERT_EQ(write_file(p("d/tmp"), "target v2", 0, true), 0);
    fs::rename(p("d/tmp"), p("d/target"));  // replace by rename, the directory never fsynced
    fs::create_directories(p("d/sub"));
    ASSERT_EQ(write_file(p("d/sub/f"), "in sub", 0, true), 0);
    // What the program sees before the cut; the trash never shows.
    EXPECT_EQ(slurp(p("d/target")), "target v2");
    EXPECT_FALSE(fs::exists(p("d/victim")));
    for (auto& e : fs::directory_iterator(vol_))
        EXPECT_EQ(e.path().filename().string().find(".injector"), std::string::npos);
    cut();
    EXPECT_EQ(slurp(p("d/synced")), "synced content");
    EXPECT_FALSE(fs::exists(p("d/new")));
    EXPECT_FALSE(fs::exists(p("d/renamed")));
    EXPECT_EQ(slurp(p("d/old")), "old content");
    EXPECT_EQ(slurp(p("d/victim")), "victim content");
    EXPECT_EQ(slurp(p("d/target")), "target v1");
    EXPECT_FALSE(fs::exists(p("d/tmp")));
    EXPECT_FALSE(fs::exists(p("d/sub")));
    auto j = lost();
    std::string entries = j["entries"].dump();
    for (const char* want :
         {"\"create\"", "/d/new", "/d/old -> /d/renamed", "/d/victim", "/d/tmp -> /d/target", "/d/sub"})
        EXPECT_NE(entries.find(want), std::string::npos) << want << " not in " << entries;
    EXPECT_EQ(entries.find("/d/synced"), std::string::npos) << entries;
    // The directory underneath holds the same after the unmount, and no trash is left behind.
    ASSERT_TRUE(stop(vol_, daemon_));
    daemon_ = 0;
    EXPECT_EQ(slurp(p("d/target")), "target v1");
    EXPECT_EQ(slurp(p("d/victim")), "victim content");
    EXPECT_FALSE(fs::exists(p(".injector-faultfs-trash")));
}

}  // namespace
}  // namespace inj::faultfs
